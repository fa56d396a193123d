"""The payment-service catalog and campaigns: data, validated, refreshed from central."""

from __future__ import annotations

import copy
import datetime as dt
import tomllib

import pytest

from contract import wire
from kiosk.catalog import SERVICES_FILE, Catalog, CatalogInvalid, InputRejected, parse_services

SEED_SERVICES = {
    "Suica",
    "WAON",
    "PayPay",
    "d払い",
    "楽天カード",
    "楽天ペイ",
    "楽天Edy",
    "nanaco",
    "au PAY",
    "Kyash",
    "dカード",
    "イオンカード",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def services_doc() -> dict:
    with SERVICES_FILE.open("rb") as f:
        return tomllib.load(f)


# --- services ---------------------------------------------------------------------------
def test_catalog_names_the_twelve_services_of_the_seed(catalog: Catalog) -> None:
    assert SEED_SERVICES <= {s.name_ja for s in catalog.services()}


def test_catalog_has_the_services_of_the_domain_brief(catalog: Catalog) -> None:
    assert {"icoca", "jcb", "aeon_card"} <= {s.code for s in catalog.services()}


def test_rakuten_card_and_rakuten_pay_are_app_only(catalog: Catalog) -> None:
    assert [s.code for s in catalog.services() if not s.kiosk_allowed] == [
        "rakuten_card",
        "rakuten_pay",
    ]


def test_suica_tells_about_jre_point_before_entry(catalog: Catalog) -> None:
    assert catalog.service("suica").notice_key == "suica_jre_point"


def test_icoca_needs_no_security_code(catalog: Catalog) -> None:
    icoca = catalog.service("icoca")
    assert icoca.code_rules == ()
    icoca.check_entry("JW1234567890ABCDE", [])


def test_jcb_needs_two_security_codes(catalog: Catalog) -> None:
    with pytest.raises(InputRejected) as caught:
        catalog.service("jcb").check_entry("JCB123456789", ["1234"])
    assert (caught.value.kind, caught.value.field) == ("security_code_count", "security_code")


def test_second_code_breaking_its_rule_names_that_field(catalog: Catalog) -> None:
    with pytest.raises(InputRejected) as caught:
        catalog.service("jcb").check_entry("JCB123456789", ["1234", "12"])
    assert caught.value.field == "security_code_2"


def test_input_error_message_never_holds_the_value(catalog: Catalog) -> None:
    with pytest.raises(InputRejected) as caught:
        catalog.service("waon").check_entry("98765X", ["1234"])
    assert "98765" not in str(caught.value)


def test_services_filter_by_category(catalog: Catalog) -> None:
    assert {s.category for s in catalog.services(category="qr")} == {"qr"}
    assert "paypay" in [s.code for s in catalog.services(category="qr")]


def test_services_search_matches_japanese_and_english_names(catalog: Catalog) -> None:
    assert [s.code for s in catalog.services(query="edy")] == ["rakuten_edy"]
    assert "rakuten_pay" in [s.code for s in catalog.services(query="ペイ")]


@pytest.mark.parametrize(
    ("query", "code"),
    [("ペイ", "paypay"), ("ワオン", "waon"), ("わおん", "waon"), ("ｷｬｯｼｭ", "kyash")],
)
def test_services_search_in_kana_finds_latin_names_by_reading(
    catalog: Catalog, query: str, code: str
) -> None:
    assert code in [s.code for s in catalog.services(query=query)]


def test_every_latin_named_service_has_a_kana_reading(catalog: Catalog) -> None:
    latin = [s.code for s in catalog.services() if s.name_ja.isascii()]
    assert latin and all(catalog.service(code).reading for code in latin)


@pytest.mark.parametrize("reading", ["ぺいぺい", "PayPay", "ペイ ペイ", ""])
def test_reading_that_is_not_katakana_is_refused(reading: str) -> None:
    doc = services_doc()
    doc["services"][0]["reading"] = reading
    with pytest.raises(CatalogInvalid, match="reading"):
        parse_services(doc)


def test_services_keep_the_order_of_the_file(catalog: Catalog) -> None:
    assert catalog.services()[0].code == "suica"


def test_numeric_rule_asks_for_a_numeric_keypad(catalog: Catalog) -> None:
    assert catalog.service("waon").id_rule.numeric
    assert not catalog.service("paypay").id_rule.numeric


def test_service_without_a_required_key_names_service_and_key() -> None:
    doc = services_doc()
    del doc["services"][1]["points_on"]
    with pytest.raises(CatalogInvalid, match="service 'waon': missing key 'points_on'"):
        parse_services(doc)


def test_unknown_category_is_refused_with_the_allowed_ones() -> None:
    doc = services_doc()
    doc["services"][0]["category"] = "crypto"
    with pytest.raises(CatalogInvalid, match=r"service 'suica'.category: expected one of"):
        parse_services(doc)


def test_broken_charset_regex_is_refused() -> None:
    doc = services_doc()
    doc["services"][0]["service_id"]["charset"] = "[0-9"
    with pytest.raises(CatalogInvalid, match="charset: not a regular expression"):
        parse_services(doc)


def test_two_services_with_one_code_are_refused() -> None:
    doc = services_doc()
    doc["services"].append(copy.deepcopy(doc["services"][0]))
    with pytest.raises(CatalogInvalid, match="share one code"):
        Catalog(parse_services(doc), ())


def test_missing_data_file_is_a_catalog_error(tmp_path) -> None:
    with pytest.raises(CatalogInvalid, match="cannot read"):
        Catalog.load(services_path=tmp_path / "none.toml")


# --- campaigns ------------------------------------------------------------------------
def test_first_round_is_25_percent_up_to_5000(catalog: Catalog) -> None:
    (first,) = [c for c in catalog.campaigns if c.id == "2020"]
    assert (first.rate_percent, first.cap_points) == (25, 5000)
    assert (first.starts, first.ends) == (dt.date(2020, 9, 1), dt.date(2021, 12, 31))


def test_second_round_has_card_insurance_and_account_parts(catalog: Catalog) -> None:
    parts = {c.id: c for c in catalog.campaigns if c.id.startswith("2022")}
    assert parts["2022-card"].starts == dt.date(2022, 1, 1)
    assert parts["2022-health-insurance"].flat_points == 7500
    assert parts["2022-public-funds"].starts == dt.date(2022, 6, 30)


def test_campaign_is_open_on_its_first_and_last_day(catalog: Catalog) -> None:
    assert [c.id for c in catalog.open_campaigns(dt.date(2020, 9, 1))] == ["2020"]
    assert [c.id for c in catalog.open_campaigns(dt.date(2021, 12, 31))] == ["2020"]


def test_of_the_flat_grants_only_the_health_insurance_link_is_done_at_the_kiosk(
    catalog: Catalog,
) -> None:
    # issue 11: 健康保険証の利用申込み is a kiosk procedure; 公金受取口座 stays on マイナポータル
    assert [c.id for c in catalog.open_campaigns(dt.date(2022, 7, 1))] == [
        "2022-card",
        "2022-health-insurance",
    ]


def test_between_rounds_nothing_is_open(catalog: Catalog) -> None:
    assert catalog.open_campaigns(dt.date(2024, 5, 1)) == []


def test_demo_campaign_is_open_now(catalog: Catalog) -> None:
    assert [c.id for c in catalog.open_campaigns(dt.date(2026, 11, 26))] == [
        "demo-2026",
        "demo-municipal-2026",  # issue 11: a municipal campaign, for 自治体マイナポイント
    ]


def test_campaign_ending_before_it_starts_is_refused() -> None:
    doc = {
        "campaigns": [
            {
                "id": "x",
                "name_ja": "x",
                "name_en": "x",
                "kind": "payment_service",
                "starts": "2026-02-01",
                "ends": "2026-01-01",
                "rate_percent": 25,
                "cap_points": 5000,
                "flat_points": 0,
                "kiosk_enrollment": True,
            }
        ]
    }
    with pytest.raises(CatalogInvalid, match="campaign 'x'.ends: expected a date on or after"):
        Catalog.from_data({"services": services_doc()["services"]}, doc)


# --- refresh from central -------------------------------------------------------------------
def central_answers(campaign_end: str = "2030-12-31") -> dict[str, object]:
    services = services_doc()["services"][:2]
    campaigns = [
        {
            "id": "2030",
            "name_ja": "第3弾",
            "name_en": "Round 3",
            "kind": "payment_service",
            "starts": "2030-01-01",
            "ends": campaign_end,
            "rate_percent": 20,
            "cap_points": 3000,
            "flat_points": 0,
            "kiosk_enrollment": True,
        }
    ]
    return {
        wire.CATALOG_PATH: {"services": services},
        wire.CAMPAIGNS_PATH: {"campaigns": campaigns},
    }


def test_refresh_takes_central_services_and_campaigns() -> None:
    catalog = Catalog.load()
    assert catalog.refresh(central_answers().__getitem__)
    assert [s.code for s in catalog.services()] == ["suica", "waon"]
    assert [c.id for c in catalog.open_campaigns(dt.date(2030, 6, 1))] == ["2030"]


def test_refresh_keeps_the_shipped_data_when_central_is_unreachable() -> None:
    catalog = Catalog.load()

    def unreachable(path: str) -> object:
        raise ConnectionError("central down")

    assert not catalog.refresh(unreachable)
    assert len(catalog.services()) == 14


def test_refresh_keeps_the_shipped_data_when_central_sends_bad_data() -> None:
    catalog = Catalog.load()
    assert not catalog.refresh(central_answers(campaign_end="someday").__getitem__)
    assert len(catalog.services()) == 14 and catalog.open_campaigns(dt.date(2030, 6, 1)) == []
