"""Payment services and campaigns: data files shipped with the kiosk, refreshed from central.

The rules of each service (ID needed, number of security codes, length and characters,
where they are printed, points on charge or purchase, kiosk allowed or app only) and
each campaign (dates, rate, cap) are data, never code: ``kiosk/data/services.toml`` and
``kiosk/data/campaigns.toml``. The central service can send newer versions of both
(``/v1/catalog``, ``/v1/campaigns``, same shape as JSON); a bad or missing answer keeps
what the kiosk has, so the shipped files are always the fallback.

    >>> catalog = Catalog.load()
    >>> catalog.service("waon").check_entry("1234567890123456", ["1234"])
    >>> [c.id for c in catalog.open_campaigns(dt.date(2020, 10, 1))]
    ['2020']
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.errors import KioskError
from kiosk.i18n import JAPANESE_NAMES

DATA_DIR = Path(__file__).with_name("data")
SERVICES_FILE = DATA_DIR / "services.toml"
CAMPAIGNS_FILE = DATA_DIR / "campaigns.toml"

CATEGORIES = ("qr", "emoney", "credit", "debit_prepaid")  # keys services.category.*
POINTS_ON = ("charge", "purchase", "both")  # keys services.points_on.*
CAMPAIGN_KINDS = ("payment_service", "health_insurance_link", "public_funds_account", "municipal")
#: Campaign kinds with one campaign per municipality: the person picks theirs.
PER_MUNICIPALITY = ("municipal",)
#: A service's kana reading: full-width katakana, the long-vowel mark and the middle dot.
READING = re.compile(r"[\u30a1-\u30fa\u30fb\u30fc]{1,64}")


class CatalogInvalid(KioskError):
    """A service or campaign file (or central's answer) breaks the schema."""

    kind = "catalog_invalid"


class InputRejected(KioskError):
    """A 決済サービスID or セキュリティコード does not fit the service's rules.

    Each subclass is one reason (its ``kind``); ``field`` names the entry it is about.
    """

    kind = "input_rejected"

    def __init__(self, field: str) -> None:
        super().__init__(f"{field}: {self.kind}")  # names the field, never the value
        self.field = field


class ServiceIdMissing(InputRejected):
    kind = "service_id_missing"


class ServiceIdLength(InputRejected):
    kind = "service_id_length"


class ServiceIdCharacters(InputRejected):
    kind = "service_id_characters"


class SecurityCodeCount(InputRejected):
    """The service needs another number of security codes than were entered."""

    kind = "security_code_count"


class SecurityCodeMissing(InputRejected):
    kind = "security_code_missing"


class SecurityCodeLength(InputRejected):
    kind = "security_code_length"


class SecurityCodeCharacters(InputRejected):
    kind = "security_code_characters"


@dataclass(frozen=True)
class FieldRejections:
    """What a field is refused with: empty, wrong length, a character outside its set."""

    missing: type[InputRejected]
    length: type[InputRejected]
    characters: type[InputRejected]


SERVICE_ID_REJECTIONS = FieldRejections(ServiceIdMissing, ServiceIdLength, ServiceIdCharacters)
SECURITY_CODE_REJECTIONS = FieldRejections(
    SecurityCodeMissing, SecurityCodeLength, SecurityCodeCharacters
)


# --- services -------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldRule:
    """Length and characters of one typed-in field (an ID or one security code)."""

    min_length: int
    max_length: int
    charset: re.Pattern[str]
    label: str  # keys services.field.*: what the field is called on screen

    def check(self, value: str, field: str, rejections: FieldRejections) -> None:
        if not value:
            raise rejections.missing(field)
        if not self.min_length <= len(value) <= self.max_length:
            raise rejections.length(field)
        if not self.charset.fullmatch(value):
            raise rejections.characters(field)

    @property
    def numeric(self) -> bool:
        """True when only digits fit (the UI shows a numeric keypad)."""
        return self.charset.fullmatch("0123456789") is not None and not self.charset.fullmatch("A")


@dataclass(frozen=True)
class Service:
    code: str
    name_ja: str
    name_en: str
    category: str
    points_on: str
    kiosk_allowed: bool
    id_rule: FieldRule
    code_rules: tuple[FieldRule, ...]
    hint_key: str  # where ID and codes are printed (services.hint.*)
    notice_key: str | None  # before choosing (prerequisite, app only) (services.notice.*)
    order: int
    reading: str = ""  # katakana, so a kana search finds Latin names ("ペイ" -> PayPay)

    def name(self, lang: str) -> str:
        return self.name_ja if lang in JAPANESE_NAMES else self.name_en

    def matches(self, query: str) -> bool:
        """True when the search text is part of the Japanese or English name or the reading."""
        needle = fold_for_search(query.strip())
        names = (self.name_ja, self.name_en, self.reading)
        return not needle or any(needle in fold_for_search(name) for name in names)

    def check_entry(self, service_user_id: str, security_codes: list[str]) -> None:
        """Raise an InputRejected (kind, field) for the first entry that breaks the rules."""
        self.id_rule.check(service_user_id, "service_user_id", SERVICE_ID_REJECTIONS)
        if len(security_codes) != len(self.code_rules):
            raise SecurityCodeCount("security_code")
        for number, (rule, code) in enumerate(zip(self.code_rules, security_codes, strict=True), 1):
            rule.check(code, f"security_code_{number}", SECURITY_CODE_REJECTIONS)


def fold_for_search(text: str) -> str:
    """Width, case and hiragana folded: "ぺい", "ﾍﾟｲ" and "ペイ" are one search text."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in folded)


def _reading(table: Mapping[str, Any], where: str) -> str:
    """The optional ``reading``: katakana only, so the kana keyboard can type it."""
    if "reading" not in table:
        return ""
    reading = _require(table, "reading", str, where)
    if not READING.fullmatch(reading):
        raise CatalogInvalid(f"{where}.reading: expected 1-64 katakana, got {reading!r}")
    return reading


def _require(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in table:
        raise CatalogInvalid(f"{where}: missing key {key!r}")
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CatalogInvalid(f"{where}.{key}: expected {_type_name(kind)}, got {value!r}")
    return value


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


def _one_of(table: Mapping[str, Any], key: str, allowed: Iterable[str], where: str) -> str:
    value = _require(table, key, str, where)
    if value not in allowed:
        raise CatalogInvalid(f"{where}.{key}: expected one of {tuple(allowed)}, got {value!r}")
    return value


def _field_rule(table: Any, where: str) -> FieldRule:
    if not isinstance(table, Mapping):
        raise CatalogInvalid(f"{where}: expected a table")
    low = _require(table, "min_length", int, where)
    high = _require(table, "max_length", int, where)
    if not 1 <= low <= high <= 64:
        raise CatalogInvalid(f"{where}: expected 1 <= min_length <= max_length <= 64")
    pattern = _require(table, "charset", str, where)
    try:
        charset = re.compile(pattern)
    except re.error as error:
        raise CatalogInvalid(f"{where}.charset: not a regular expression ({error})") from None
    return FieldRule(low, high, charset, str(table.get("label", "service_id")))


def _kiosk_allowed(table: Mapping[str, Any], where: str) -> bool:
    """``app_only = true`` (what central reads too), or ``kiosk_allowed = false``."""
    if "kiosk_allowed" in table:
        return _require(table, "kiosk_allowed", bool, where)
    return not _require(table, "app_only", bool, where)


def _service(table: Any, order: int) -> Service:
    where = f"services[{order}]"
    if not isinstance(table, Mapping):
        raise CatalogInvalid(f"{where}: expected a table")
    code = _require(table, "code", str, where)
    where = f"service {code!r}"
    if not re.fullmatch(r"[a-z0-9_]{2,32}", code):
        raise CatalogInvalid(f"{where}.code: expected 2-32 of a-z 0-9 _")
    codes = table.get("security_codes", [])
    if not isinstance(codes, list) or len(codes) > 3:
        raise CatalogInvalid(f"{where}.security_codes: expected a list of at most 3 rules")
    return Service(
        code=code,
        name_ja=_require(table, "name_ja", str, where),
        name_en=_require(table, "name_en", str, where),
        category=_one_of(table, "category", CATEGORIES, where),
        points_on=_one_of(table, "points_on", POINTS_ON, where),
        kiosk_allowed=_kiosk_allowed(table, where),
        id_rule=_field_rule(table.get("service_id"), f"{where}.service_id"),
        code_rules=tuple(
            _field_rule(rule, f"{where}.security_codes[{n}]") for n, rule in enumerate(codes)
        ),
        hint_key=_require(table, "hint", str, where),
        notice_key=table.get("notice"),
        order=order,
        reading=_reading(table, where),
    )


# --- campaigns ------------------------------------------------------------------------
@dataclass(frozen=True)
class Campaign:
    id: str
    name_ja: str
    name_en: str
    kind: str
    starts: dt.date
    ends: dt.date  # inclusive
    rate_percent: int  # of charges or purchases; 0 for a flat grant
    cap_points: int  # per person
    flat_points: int  # granted once (健康保険証 link, 公金受取口座)
    kiosk_enrollment: bool  # the kiosk can enroll a payment service for it
    municipality: str = ""  # 自治体マイナポイント: the municipality code it belongs to

    def name(self, lang: str) -> str:
        return self.name_ja if lang in JAPANESE_NAMES else self.name_en

    def is_open(self, today: dt.date) -> bool:
        return self.starts <= today <= self.ends


def _date(table: Mapping[str, Any], key: str, where: str) -> dt.date:
    value = _require(table, key, (dt.date, str), where)
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CatalogInvalid(f"{where}.{key}: expected a date YYYY-MM-DD, got {value!r}") from None


def _campaign(table: Any, index: int) -> Campaign:
    where = f"campaigns[{index}]"
    if not isinstance(table, Mapping):
        raise CatalogInvalid(f"{where}: expected a table")
    ident = _require(table, "id", str, where)
    where = f"campaign {ident!r}"
    campaign = Campaign(
        id=ident,
        name_ja=_require(table, "name_ja", str, where),
        name_en=_require(table, "name_en", str, where),
        kind=_one_of(table, "kind", CAMPAIGN_KINDS, where),
        starts=_date(table, "starts", where),
        ends=_date(table, "ends", where),
        rate_percent=_require(table, "rate_percent", int, where),
        cap_points=_require(table, "cap_points", int, where),
        flat_points=_require(table, "flat_points", int, where),
        kiosk_enrollment=_require(table, "kiosk_enrollment", bool, where),
        municipality=str(table.get("municipality", "")),
    )
    if campaign.ends < campaign.starts:
        raise CatalogInvalid(f"{where}.ends: expected a date on or after starts")
    if not 0 <= campaign.rate_percent <= 100:
        raise CatalogInvalid(f"{where}.rate_percent: expected 0..100")
    return campaign


# --- the catalog -----------------------------------------------------------------------
class Catalog:
    """Services and campaigns; swap in a newer version atomically with ``refresh``."""

    def __init__(self, services: Iterable[Service], campaigns: Iterable[Campaign]) -> None:
        self._lock = threading.Lock()
        self._set(tuple(services), tuple(campaigns))

    def _set(self, services: tuple[Service, ...], campaigns: tuple[Campaign, ...]) -> None:
        by_code = {s.code: s for s in services}
        if len(by_code) != len(services):
            raise CatalogInvalid("services: two services share one code")
        if len({c.id for c in campaigns}) != len(campaigns):
            raise CatalogInvalid("campaigns: two campaigns share one id")
        if not services:
            raise CatalogInvalid("services: expected at least one service")
        with self._lock:
            self._services = by_code
            self._campaigns = campaigns

    @classmethod
    def from_data(
        cls, services_doc: Mapping[str, Any], campaigns_doc: Mapping[str, Any]
    ) -> Catalog:
        return cls(parse_services(services_doc), parse_campaigns(campaigns_doc))

    @classmethod
    def load(
        cls, services_path: Path = SERVICES_FILE, campaigns_path: Path = CAMPAIGNS_FILE
    ) -> Catalog:
        return cls.from_data(_read_toml(services_path), _read_toml(campaigns_path))

    # services
    def service(self, code: str) -> Service:
        """The service with this code; KeyError when the catalog has none."""
        return self._services[code]

    def services(self, category: str | None = None, query: str = "") -> list[Service]:
        """Services in display order, of one category and matching a search text (or reading)."""
        return [
            s
            for s in sorted(self._services.values(), key=lambda s: s.order)
            if category in (None, s.category) and s.matches(query)
        ]

    # campaigns
    @property
    def campaigns(self) -> tuple[Campaign, ...]:
        return self._campaigns

    def open_campaigns(self, today: dt.date | None = None) -> list[Campaign]:
        """Campaigns a person can enroll in at the kiosk today."""
        today = today or dt.date.today()
        return [c for c in self._campaigns if c.kiosk_enrollment and c.is_open(today)]

    def last_campaign(self) -> Campaign | None:
        """The kiosk campaign that ended (or starts) nearest: named on the closed screen."""
        kiosk = [c for c in self._campaigns if c.kiosk_enrollment]
        return max(kiosk, key=lambda c: c.ends, default=None)

    def refresh(self, fetch_json: Callable[[str], Any]) -> bool:
        """Replace services and campaigns with central's; keep the current ones on any error.

        ``fetch_json(path)`` GETs a path of the central service and returns parsed JSON.
        """
        from contract import wire

        try:
            services = parse_services(fetch_json(wire.CATALOG_PATH))
            campaigns = parse_campaigns(fetch_json(wire.CAMPAIGNS_PATH))
            self._set(services, campaigns)
        except (KioskError, OSError, ValueError, TypeError):  # requests' errors are OSErrors
            return False  # the shipped or last good data stays
        return True


def parse_services(doc: Any) -> tuple[Service, ...]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("services"), list):
        raise CatalogInvalid("services: expected a list under key 'services'")
    return tuple(_service(table, n) for n, table in enumerate(doc["services"]))


def parse_campaigns(doc: Any) -> tuple[Campaign, ...]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("campaigns"), list):
        raise CatalogInvalid("campaigns: expected a list under key 'campaigns'")
    return tuple(_campaign(table, n) for n, table in enumerate(doc["campaigns"]))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with Path(path).open("rb") as f:
            return tomllib.load(f)
    except OSError as error:
        raise CatalogInvalid(f"{path}: cannot read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise CatalogInvalid(f"{path}: not valid TOML ({error})") from None
