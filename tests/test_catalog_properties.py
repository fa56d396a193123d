"""Properties of the per-service entry rules: accepted exactly when they fit."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.catalog import Catalog, InputRejected

CATALOG = Catalog.load()
SERVICES = CATALOG.services()
TYPED = st.text(alphabet=string.digits + string.ascii_uppercase + "a-! 全", max_size=20)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(SERVICES), TYPED, st.lists(TYPED, max_size=3))
def test_an_entry_is_accepted_exactly_when_every_field_fits(service, user_id, codes) -> None:
    def fits(rule, value: str) -> bool:
        in_range = rule.min_length <= len(value) <= rule.max_length
        return bool(value) and in_range and rule.charset.fullmatch(value) is not None

    expected = (
        fits(service.id_rule, user_id)
        and len(codes) == len(service.code_rules)
        and all(fits(rule, code) for rule, code in zip(service.code_rules, codes, strict=False))
    )
    try:
        service.check_entry(user_id, codes)
    except InputRejected as error:
        assert not expected
        assert error.kind.startswith(("service_id_", "security_code_"))
        assert str(error) == f"{error.field}: {error.kind}"  # never the value typed
    else:
        assert expected
