"""Message catalogs: Japanese first, English second.

Every user-facing string lives in ``kiosk/locales/<lang>/*.toml`` (one file per
area: ``receipt.toml``, ``screens.toml``, ``errors.toml``, ...); the files of one
language are merged. A key missing in English falls back to Japanese; a key missing
everywhere raises, so a typo fails a test instead of showing a blank button.

    >>> t("common.app_title", "ja")  # doctest: +SKIP
    'マイナポイント申込'
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).with_name("locales")
LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"


def _flatten(prefix: str, table: dict[str, Any], out: dict[str, str]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(name, value, out)
        else:
            out[name] = str(value)


@cache
def catalog(lang: str) -> dict[str, str]:
    """All messages of one language, keyed ``file.section.key``."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose one of {LANGUAGES}")
    messages: dict[str, str] = {}
    for path in sorted((LOCALES_DIR / lang).glob("*.toml")):
        with path.open("rb") as f:
            _flatten(path.stem, tomllib.load(f), messages)
    return messages


def t(key: str, lang: str = DEFAULT_LANGUAGE, **values: Any) -> str:
    """The message for ``key`` in ``lang``, with ``{name}`` fields filled from ``values``."""
    text = catalog(lang).get(key)
    if text is None:
        text = catalog(DEFAULT_LANGUAGE).get(key)
    if text is None:
        raise KeyError(f"no message {key!r} in any catalog under {LOCALES_DIR}")
    return text.format(**values) if values else text
