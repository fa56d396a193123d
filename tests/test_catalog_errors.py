"""The one error table and the service texts: what a person is told (every kind having
its words is checked in test_error_kinds.py, from the sources)."""

from __future__ import annotations

import pytest

from kiosk import errors_table
from kiosk.catalog import Catalog
from kiosk.i18n import catalog as messages


def test_unknown_kind_falls_back_to_the_unexpected_error() -> None:
    assert errors_table.describe("no_such_kind", "en").kind == "unexpected"


def test_pin_blocked_remedy_sends_to_the_municipal_office() -> None:
    assert "市区町村" in errors_table.describe("pin_blocked", "ja").remedy


def test_card_not_read_remedy_gives_the_free_dial() -> None:
    assert "0120-95-0178" in errors_table.describe("card_timeout", "ja").remedy


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_service_hint_notice_and_field_label_has_text(lang: str) -> None:
    texts = messages(lang)
    for service in Catalog.load().services():
        keys = [f"services.hint.{service.hint_key}", f"services.category.{service.category}"]
        keys.append(f"services.points_on.{service.points_on}")
        keys += [f"services.field.{rule.label}" for rule in (service.id_rule, *service.code_rules)]
        if service.notice_key:
            keys.append(f"services.notice.{service.notice_key}")
        missing = [key for key in keys if key not in texts]
        assert not missing, f"{service.code}: {missing}"
