"""Attacks on enrollment ids, linked accounts and security codes, against the real
service over HTTPS with mutual TLS (issue 12, findings 3, 4 and 5)."""

from __future__ import annotations

from typing import Any

import pytest

from central.store import MIGRATIONS
from contract import wire
from tests.fixtures.central import CentralService

pytest_plugins = ["tests.fixtures.central"]

OTHER_KIOSK = "K-TEST-0666"


@pytest.fixture(scope="module")
def central(central_on_each_backend: Any) -> Any:
    return central_on_each_backend


def post(svc: CentralService, item: dict, kiosk_id: str | None = None) -> dict:
    with svc.session(kiosk_id) as s:
        r = s.post(svc.base_url + wire.BATCH_PATH, json=wire.batch_body([item]), timeout=30)
    r.raise_for_status()
    (result,) = r.json()["results"]
    return result


def valid_item(svc: CentralService, card: Any = None, **kw: Any) -> tuple[dict, dict]:
    card = card or svc.pki.issue_card()
    code, user_id, codes = svc.new_account("waon")
    return svc.make_item(
        card, service_code=code, service_user_id=user_id, security_codes=codes, **kw
    )


# -- finding 5: enrollment ids are per kiosk; nothing is looked up before the signature --
def test_another_kiosk_cannot_take_a_victims_enrollment_id(central: CentralService) -> None:
    victim_item, victim_payload = valid_item(central)
    eid = victim_payload["enrollment_id"]
    # Another kiosk, with a card and account of its own, sends first under the same id.
    squat, _ = valid_item(central, kiosk_id=OTHER_KIOSK, enrollment_id=eid)
    assert post(central, squat, OTHER_KIOSK)["status"] == "accepted"
    # The genuine enrollment is decided on its own merits, and a resend gets that answer.
    first = post(central, victim_item)
    assert first["status"] == "accepted", first
    assert post(central, victim_item) == first


def test_an_unsigned_payload_learns_nothing_and_stores_nothing(central: CentralService) -> None:
    victim_item, victim_payload = valid_item(central)
    eid = victim_payload["enrollment_id"]
    assert post(central, victim_item)["status"] == "accepted"
    card = central.pki.issue_card()
    for kiosk in (OTHER_KIOSK, central.kiosk_id):
        _, payload = central.make_item(card, kiosk_id=kiosk, enrollment_id=eid)
        forged = central.seal_item(card, payload, signature=b"\x00" * 256)
        # Whether the id exists is not told: a bad signature is only that.
        got = post(central, forged, kiosk)
        assert (got["status"], got.get("reason")) == ("rejected", "bad_signature"), got
    # An unknown id answers the same, and it is not taken either.
    _, payload = central.make_item(card, kiosk_id=OTHER_KIOSK)
    forged = central.seal_item(card, payload, signature=b"\x00" * 256)
    assert post(central, forged, OTHER_KIOSK)["reason"] == "bad_signature"
    genuine = central.make_item(
        card,
        kiosk_id=OTHER_KIOSK,
        enrollment_id=payload["enrollment_id"],
        **_account(central),
    )[0]
    assert post(central, genuine, OTHER_KIOSK)["status"] == "accepted"


def _account(svc: CentralService) -> dict[str, Any]:
    code, user_id, codes = svc.new_account("waon")
    return {"service_code": code, "service_user_id": user_id, "security_codes": codes}


# -- the schema change keeps an existing database working ---------------------------------
def _v1_database(store: Any) -> None:
    """A database as the previous release left it: schema v1, one accepted enrollment."""
    from central.store import MIGRATIONS

    with store.transaction() as tx:
        tx.all("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for sql in MIGRATIONS[0]:
            tx.all(sql)
        tx.all("INSERT INTO schema_version (version) VALUES (1)")
        tx.all("INSERT INTO persons VALUES ('ref', 'MYKEY001', '2026-01-01T00:00:00Z')")
        tx.all(
            "INSERT INTO applications VALUES ('c1', 'MYKEY001', 'waon', 'e-1',"
            " '2026-01-01T00:00:00Z')"
        )
        tx.all(
            "INSERT INTO enrollments VALUES ('e-1', 'digest', 'K-OLD', 'R-1', 'accepted',"
            " '{\"status\": \"accepted\"}', '2026-01-01T00:00:00Z')"
        )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_v1_database_is_migrated_and_keeps_its_answers(
    backend: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    from central.store import PostgresStore, SqliteStore, open_store

    if backend == "sqlite":
        dsn, old = None, SqliteStore(tmp_path / "central.sqlite3")
    else:
        dsn = request.getfixturevalue("postgres_server").new_database()
        old = PostgresStore(dsn)
    _v1_database(old)
    old.close()
    store = open_store(tmp_path / "central.sqlite3", dsn)
    try:
        assert store.stored_answer("K-OLD", "e-1") == ("digest", {"status": "accepted"})
        assert store.stored_answer("K-OTHER", "e-1") is None
        assert store.person_status("ref")["applications"][0]["receipt_no"] == "R-1"
        store.migrate()  # idempotent
        with store.transaction(write=False) as tx:
            assert tx.one("SELECT max(version) FROM schema_version") == (len(MIGRATIONS),)
    finally:
        store.close()


# -- finding 4: "already linked" only once the code is confirmed ---------------------------
def test_a_linked_account_is_not_told_without_its_code(central: CentralService) -> None:
    account = _account(central)
    owner, _ = central.make_item(central.pki.issue_card(), **account)
    assert post(central, owner)["status"] == "accepted"
    prober = central.pki.issue_card()
    wrong = {
        **account,
        "security_codes": ["0000" if account["security_codes"] != ["0000"] else "1111"],
    }
    got = post(central, central.make_item(prober, **wrong)[0])
    assert (got["status"], got.get("reason")) == ("rejected", "account_not_confirmed"), got
    got = post(central, central.make_item(prober, **account)[0])
    assert (got["status"], got.get("reason")) == ("rejected", "account_already_linked"), got


# -- finding 3: security codes cannot be guessed without limit -----------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def central_with_clock(request: pytest.FixtureRequest, tmp_path: Any, jpki: Any) -> Any:
    """The service in this process (same app, HTTPS, mutual TLS) with a clock to skip."""
    from sim.central import prepare_central
    from sim.clock import SkipAheadClock

    dsn = None
    if request.param == "postgresql":
        dsn = request.getfixturevalue("postgres_server").new_database()
    clock = SkipAheadClock()
    svc = prepare_central(tmp_path / "central", dsn=dsn, pki=jpki).start_here(clock)
    try:
        yield svc, clock
    finally:
        svc.stop()


def _reasons(svc: CentralService, items: list[dict], kiosk_id: str | None = None) -> list[str]:
    with svc.session(kiosk_id) as s:
        r = s.post(svc.base_url + wire.BATCH_PATH, json=wire.batch_body(items), timeout=60)
    r.raise_for_status()
    return [x.get("reason", x["status"]) for x in r.json()["results"]]


def _wrong(account: dict[str, Any], n: int) -> dict[str, Any]:
    right = account["security_codes"][0]
    return {**account, "security_codes": [f"{(int(right) + 1 + n) % 10000:04d}"]}


def test_guessing_a_victims_code_locks_the_account(central_with_clock: Any) -> None:
    from central.service import CODE_LOCK_SECONDS, CODE_MAX_FAILURES

    svc, clock = central_with_clock
    victim = _account(svc)
    attacker = svc.pki.issue_card()
    guesses = [svc.make_item(attacker, **_wrong(victim, n))[0] for n in range(20)]
    right = svc.make_item(attacker, **victim)[0]
    reasons = _reasons(svc, [*guesses, right])
    assert reasons[:CODE_MAX_FAILURES] == ["account_not_confirmed"] * CODE_MAX_FAILURES
    # Locked: the right code is refused too, and the provider is no longer asked.
    assert set(reasons[CODE_MAX_FAILURES:]) == {"too_many_attempts"}, reasons
    # The account holder, with their own card, is locked out of it as well until it ends.
    holder = svc.pki.issue_card()
    assert _reasons(svc, [svc.make_item(holder, **victim)[0]]) == ["too_many_attempts"]
    clock.skip(CODE_LOCK_SECONDS + 1)
    assert _reasons(svc, [svc.make_item(holder, **victim)[0]]) == ["accepted"]


def test_a_card_guessing_many_accounts_is_locked(central_with_clock: Any) -> None:
    from central.service import CODE_LOCK_SECONDS, CODE_MAX_FAILURES

    svc, clock = central_with_clock
    card = svc.pki.issue_card()
    guesses = [svc.make_item(card, **_wrong(_account(svc), 0))[0] for _ in range(CODE_MAX_FAILURES)]
    assert _reasons(svc, guesses) == ["account_not_confirmed"] * CODE_MAX_FAILURES
    own = _account(svc)
    assert _reasons(svc, [svc.make_item(card, **own)[0]]) == ["too_many_attempts"]
    # Another card on the same kiosk is not held up; the locked card is, until the end.
    assert _reasons(svc, [svc.make_item(svc.pki.issue_card(), **_account(svc))[0]]) == ["accepted"]
    clock.skip(CODE_LOCK_SECONDS + 1)
    assert _reasons(svc, [svc.make_item(card, **own)[0]]) == ["accepted"]


def test_a_few_typos_do_not_lock(central_with_clock: Any) -> None:
    from central.service import CODE_MAX_FAILURES, CODE_WINDOW_SECONDS

    svc, clock = central_with_clock
    card, account = svc.pki.issue_card(), _account(svc)
    for n in range(2):  # two windows of one failure short of the lock
        typos = [
            svc.make_item(card, **_wrong(account, n * 10 + k))[0]
            for k in range(CODE_MAX_FAILURES - 1)
        ]
        assert set(_reasons(svc, typos)) == {"account_not_confirmed"}
        clock.skip(CODE_WINDOW_SECONDS + 1)
    assert _reasons(svc, [svc.make_item(card, **account)[0]]) == ["accepted"]
