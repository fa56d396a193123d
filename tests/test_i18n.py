import pytest

from kiosk.i18n import LANGUAGES, catalog, t


def test_japanese_is_the_default_language():
    assert t("common.app_title") == "マイナポイント申込"


def test_english_catalog_has_every_japanese_key():
    missing = set(catalog("ja")) - set(catalog("en"))
    assert not missing, f"English lacks: {sorted(missing)}"


def test_unknown_key_raises_instead_of_showing_blank():
    with pytest.raises(KeyError):
        t("common.no_such_message", "en")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_message_is_empty(lang):
    assert all(text.strip() for text in catalog(lang).values())
