"""Message catalogs: Japanese first, English second, then eleven more (issue 10).

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
#: Every language the kiosk speaks, in the order of the picker (BCP 47 codes).
LANGUAGES = (
    "ja",
    "ja-x-easy",
    "en",
    "zh-Hans",
    "zh-Hant",
    "ko",
    "vi",
    "pt-BR",
    "es",
    "fil",
    "ne",
    "id",
    "th",
)
DEFAULT_LANGUAGE = "ja"
#: Languages whose catalog carries ``receipt.*``: the printed receipt is for the service
#: desk, so a session in any other language prints it in Japanese (see ``receipt_language``).
RECEIPT_LANGUAGES = ("ja", "en")
#: Languages that show the payment services' Japanese brand names (the rest show the
#: names the services use abroad, ``name_en``).
JAPANESE_NAMES = ("ja", "ja-x-easy")


def receipt_language(lang: str) -> str:
    """The language the printed receipt of a session in ``lang`` is printed in."""
    return lang if lang in RECEIPT_LANGUAGES else DEFAULT_LANGUAGE


def language_name(lang: str) -> str:
    """The language's own name in its own script (the picker's button)."""
    return t("screens.common.language_name", lang)


def number(value: int, lang: str) -> str:
    """``value`` as ``lang`` writes it: its digit grouping and digits (7,500 / 7.500 / ७,५००).

    Both come from the catalog (``screens.common.thousands_separator``, ``.digits``)."""
    grouped = f"{value:,}".replace(",", t("screens.common.thousands_separator", lang))
    digits = t("screens.common.digits", lang)
    return grouped.translate(str.maketrans("0123456789", digits)) if len(digits) == 10 else grouped


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
