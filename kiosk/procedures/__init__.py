"""The procedures of the 行政サービス menu: each one entry of data plus, at most, a small module.

``kiosk/data/procedures.toml`` lists them (see its header for the keys). A procedure of
kind ``signed_consent`` walks steps drawn from the flow's shared set (notes, card read,
confirm, PIN, sign, result, receipt); its payload comes from its module
(``kiosk/procedures/<module>.py``, a ``payload(...)`` function and ``WIRE_FIELDS``) or,
without one, from :mod:`kiosk.procedures.signed_consent`. Adding a procedure adds an entry
and its texts; the flow and every other procedure stay as they are.

    >>> registry = Procedures.load()
    >>> [p.id for p in registry.menu()]
    ['mynapoint', 'health_insurance', 'municipal_points', 'public_funds', 'status']
    >>> registry.by_start("apply").id
    'mynapoint'
"""

from __future__ import annotations

import datetime as dt
import importlib
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.errors import KioskError

PROCEDURES_FILE = Path(__file__).resolve().parent.parent / "data" / "procedures.toml"

KIND_PAYMENT_SERVICE = "payment_service"
KIND_SIGNED_CONSENT = "signed_consent"
KIND_INFO = "info"
KIND_STATUS = "status"
KINDS = (KIND_PAYMENT_SERVICE, KIND_SIGNED_CONSENT, KIND_INFO, KIND_STATUS)
#: The shared steps a procedure is drawn from (each is a flow state and its screen).
STEPS = (
    "notes",
    "place_card",
    "reading_card",
    "choose_service",
    "enter_ids",
    "confirm",
    "pin",
    "processing",
    "result",
    "receipt",
)
#: What a signed consent cannot do without: the card read, its PIN, its signature, the answer.
REQUIRED_STEPS = ("place_card", "reading_card", "pin", "processing", "result")
_KEYS = {
    "id",
    "kind",
    "start",
    "steps",
    "module",
    "campaign_kind",
    "opens",
    "closes",
    "url",
    "closed_remedy",
    "needs_campaign",
}


class ProceduresInvalid(KioskError):
    """The procedures data file is missing, not TOML, or breaks its own rules."""

    kind = "procedures_invalid"


@dataclass(frozen=True)
class Procedure:
    id: str
    form: str  # the data's ``kind``: one of KINDS
    start: str  # what Start(menu=...) names
    steps: tuple[str, ...] = ()
    module: str | None = None
    campaign_kind: str | None = None
    opens: dt.date | None = None
    closes: dt.date | None = None
    url: str = ""
    closed_remedy: str = "closed"
    needs_campaign: bool = False  # open only while a campaign of campaign_kind is open

    def open_with(self, today: dt.date | None, catalog: Any) -> bool:
        """Open today: its own dates, and a campaign of its kind when it needs one."""
        if not self.is_open(today):
            return False
        if not self.needs_campaign:
            return True
        return any(
            getattr(c, "kind", None) == self.campaign_kind for c in catalog.open_campaigns(today)
        )

    def is_open(self, today: dt.date | None) -> bool:
        if today is None:
            return True
        return (self.opens is None or self.opens <= today) and (
            self.closes is None or today <= self.closes
        )

    def has_step(self, step: str) -> bool:
        return step in self.steps

    def payload_builder(self) -> Callable[..., dict[str, Any]]:
        """The procedure's ``payload(...)``: its module's, or the generic signed consent's."""
        name = self.module or "signed_consent"
        module = importlib.import_module(f"kiosk.procedures.{name}")
        return module.payload

    def text_key(self, part: str) -> str:
        """The key of one of its texts: ``procedures.<id>.<part>`` (title, summary, consent…)."""
        return f"procedures.{self.id}.{part}"


def _date(value: Any, where: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ProceduresInvalid(f"{where}: expected a date YYYY-MM-DD, got {value!r}") from None


def parse_procedure(table: Any, index: int) -> Procedure:
    where = f"procedures[{index}]"
    if not isinstance(table, Mapping):
        raise ProceduresInvalid(f"{where}: expected a table")
    unknown = set(table) - _KEYS
    if unknown:
        raise ProceduresInvalid(f"{where}: unknown key(s) {sorted(unknown)}")
    ident = table.get("id")
    if not isinstance(ident, str) or not ident.isidentifier():
        raise ProceduresInvalid(f"{where}.id: expected a name like health_insurance")
    where = f"procedure {ident!r}"
    kind = table.get("kind")
    if kind not in KINDS:
        raise ProceduresInvalid(f"{where}.kind: expected one of {KINDS}, got {kind!r}")
    steps = tuple(table.get("steps", ()))
    bad = [s for s in steps if s not in STEPS]
    if bad:
        raise ProceduresInvalid(f"{where}.steps: unknown step(s) {bad}; steps are {STEPS}")
    if kind == KIND_SIGNED_CONSENT:
        missing = [s for s in REQUIRED_STEPS if s not in steps]
        if missing:
            raise ProceduresInvalid(f"{where}.steps: a signed consent needs {missing}")
        if [s for s in STEPS if s in steps] != list(steps):
            raise ProceduresInvalid(f"{where}.steps: expected the order {STEPS}")
        if "choose_service" in steps or "enter_ids" in steps:
            raise ProceduresInvalid(
                f"{where}.steps: choose_service and enter_ids are the"
                " payment-service application's own"
            )
    elif steps:
        raise ProceduresInvalid(f"{where}.steps: only a signed_consent has steps")
    module = table.get("module")
    if module is not None and (not isinstance(module, str) or not module.isidentifier()):
        raise ProceduresInvalid(f"{where}.module: expected a module name of kiosk/procedures/")
    url = table.get("url", "")
    if kind == KIND_INFO and not (isinstance(url, str) and url.startswith("https://")):
        raise ProceduresInvalid(f"{where}.url: an info procedure needs an https:// page")
    procedure = Procedure(
        id=ident,
        form=kind,
        start=str(table.get("start", ident)),
        steps=steps,
        module=module,
        campaign_kind=table.get("campaign_kind"),
        opens=_date(table.get("opens"), f"{where}.opens"),
        closes=_date(table.get("closes"), f"{where}.closes"),
        url=url,
        closed_remedy=str(table.get("closed_remedy", "closed")),
        needs_campaign=bool(table.get("needs_campaign", False)),
    )
    if procedure.needs_campaign and not procedure.campaign_kind:
        raise ProceduresInvalid(f"{where}.needs_campaign: name its campaign_kind")
    if procedure.opens and procedure.closes and procedure.closes < procedure.opens:
        raise ProceduresInvalid(f"{where}.closes: expected a date on or after opens")
    return procedure


class Procedures:
    """The procedures in menu order, by id and by the Start menu that names them."""

    def __init__(self, procedures: Iterable[Procedure]) -> None:
        self._list = tuple(procedures)
        self._by_start = {p.start: p for p in self._list}
        if len({p.id for p in self._list}) != len(self._list) or len(self._by_start) != len(
            self._list
        ):
            raise ProceduresInvalid("procedures: two procedures share an id or a start")

    @classmethod
    def from_data(cls, doc: Any) -> Procedures:
        if not isinstance(doc, Mapping) or not isinstance(doc.get("procedures"), list):
            raise ProceduresInvalid("procedures: expected a list under key 'procedures'")
        return cls(parse_procedure(t, n) for n, t in enumerate(doc["procedures"]))

    @classmethod
    def load(cls, path: Path = PROCEDURES_FILE) -> Procedures:
        try:
            with Path(path).open("rb") as f:
                return cls.from_data(tomllib.load(f))
        except OSError as error:
            raise ProceduresInvalid(f"{path}: cannot read ({error.strerror})") from None
        except tomllib.TOMLDecodeError as error:
            raise ProceduresInvalid(f"{path}: not valid TOML ({error})") from None

    def menu(self) -> list[Procedure]:
        return list(self._list)

    def by_start(self, start: str | None) -> Procedure | None:
        return self._by_start.get(start or "")

    def get(self, ident: str) -> Procedure:
        for p in self._list:
            if p.id == ident:
                return p
        raise KeyError(ident)

    def signed(self) -> list[Procedure]:
        """The procedures that send something (their answers are listed by the status check)."""
        return [p for p in self._list if p.form in (KIND_PAYMENT_SERVICE, KIND_SIGNED_CONSENT)]


_default: Procedures | None = None


def default() -> Procedures:
    """The shipped procedures, read once."""
    global _default
    if _default is None:
        _default = Procedures.load()
    return _default
