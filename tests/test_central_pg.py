"""Two central processes on one PostgreSQL database, as behind a load balancer: the rules
hold across processes because they are database constraints."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contract import wire
from sim.pki import TestPKI
from tests.fixtures.central import CentralService, PostgresCluster, prepare_central

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow  # each test here takes half a second or more

ROUNDS = 12


@pytest.fixture
def two_centrals(tmp_path: Path, postgres_server: PostgresCluster) -> Any:
    """(process A serving K-TEST-0001, process B serving K-TEST-0002) on one database."""
    dsn = postgres_server.new_database()
    pki = TestPKI.create(tmp_path / "jpki")
    a = prepare_central(tmp_path / "a", dsn=dsn, pki=pki)
    b = prepare_central(tmp_path / "b", dsn=dsn, shared_with=a, kiosk_id="K-TEST-0002")
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


def _at_once(calls: list[Callable[[], dict]]) -> list[dict]:
    """Run the calls in threads released together; their answers in call order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _sender(svc: CentralService, item: dict, kiosk_id: str | None = None) -> Callable[[], dict]:
    session = svc.session(kiosk_id)
    session.get(svc.base_url + "/v1/health", timeout=10)  # connect before the race

    def send() -> dict:
        with session:
            r = session.post(
                svc.base_url + wire.BATCH_PATH, json=wire.batch_body([item]), timeout=60
            )
        return r.json()["results"][0]

    return send


def test_same_person_at_two_kiosks_on_two_processes_is_accepted_once(two_centrals: Any) -> None:
    a, b = two_centrals
    for _ in range(ROUNDS):
        card = a.pki.issue_card()
        code_a, user_a, codes_a = a.new_account("waon")
        code_b, user_b, codes_b = a.new_account("paypay")
        item_a, _ = a.make_item(
            card, service_code=code_a, service_user_id=user_a, security_codes=codes_a
        )
        item_b, _ = b.make_item(
            card, service_code=code_b, service_user_id=user_b, security_codes=codes_b
        )
        results = _at_once([_sender(a, item_a), _sender(b, item_b)])
        statuses = sorted(r["status"] for r in results)
        assert statuses == ["accepted", "rejected"], results
        accepted = next(r for r in results if r["status"] == "accepted")
        rejected = next(r for r in results if r["status"] == "rejected")
        assert rejected["reason"] == "already_applied"
        assert rejected["service_code"] == accepted["service_code"]
        assert rejected["mykey_id"] == accepted["mykey_id"]


def test_one_account_from_two_people_on_two_processes_is_linked_once(two_centrals: Any) -> None:
    a, b = two_centrals
    for _ in range(ROUNDS):
        code, user_id, codes = a.new_account("waon")
        item_a, _ = a.make_item(
            a.pki.issue_card(), service_code=code, service_user_id=user_id, security_codes=codes
        )
        item_b, _ = b.make_item(
            a.pki.issue_card(), service_code=code, service_user_id=user_id, security_codes=codes
        )
        results = _at_once([_sender(a, item_a), _sender(b, item_b)])
        outcomes = sorted(r.get("reason", r["status"]) for r in results)
        assert outcomes == ["accepted", "account_already_linked"], results


def test_the_same_enrollment_sent_to_both_processes_gets_one_answer(two_centrals: Any) -> None:
    a, b = two_centrals
    for _ in range(ROUNDS):
        code, user_id, codes = a.new_account("waon")
        item, _ = a.make_item(
            a.pki.issue_card(), service_code=code, service_user_id=user_id, security_codes=codes
        )
        results = _at_once([_sender(a, item), _sender(b, item, kiosk_id=a.kiosk_id)])
        assert results[0] == results[1]
        assert results[0]["status"] == "accepted"


def test_a_person_accepted_on_one_process_is_already_applied_on_the_other(
    two_centrals: Any,
) -> None:
    a, b = two_centrals
    card = a.pki.issue_card()
    code, user_id, codes = a.new_account("waon")
    first, _ = a.make_item(card, service_code=code, service_user_id=user_id, security_codes=codes)
    assert _sender(a, first)()["status"] == "accepted"
    code, user_id, codes = a.new_account("nanaco")
    second, _ = b.make_item(card, service_code=code, service_user_id=user_id, security_codes=codes)
    result = _sender(b, second)()
    assert (result["reason"], result["service_code"]) == ("already_applied", "waon")


def test_a_new_person_linking_one_account_in_two_campaigns_at_once_gets_both(
    two_centrals: Any,
) -> None:
    """Their own account is not 'linked to another person', even mid-race."""
    a, b = two_centrals
    for _ in range(2 * ROUNDS):  # the window is narrow
        card = a.pki.issue_card()
        code, user_id, codes = a.new_account("waon")
        item_a, _ = a.make_item(
            card,
            service_code=code,
            service_user_id=user_id,
            security_codes=codes,
            campaign_id="2020-card",
        )
        item_b, _ = b.make_item(
            card,
            service_code=code,
            service_user_id=user_id,
            security_codes=codes,
            campaign_id="2022-card",
        )
        results = _at_once([_sender(a, item_a), _sender(b, item_b)])
        assert [r["status"] for r in results] == ["accepted", "accepted"], results
        assert results[0]["mykey_id"] == results[1]["mykey_id"]


def test_database_outage_answers_retry_and_loses_nothing(tmp_path: Path) -> None:
    """PostgreSQL goes away under a running central: items get 'retry' (not an error,
    not a rejection); once it is back, the same items are accepted."""
    if not PostgresCluster.available():
        pytest.skip("PostgreSQL binaries not found")
    cluster = PostgresCluster()
    svc = None
    try:
        svc = prepare_central(tmp_path / "c", dsn=cluster.start().new_database()).start()
        first, _ = svc.make_item(svc.pki.issue_card(), **_account(svc))
        second, _ = svc.make_item(svc.pki.issue_card(), **_account(svc))
        assert _sender(svc, first)()["status"] == "accepted"
        cluster.halt()
        during = _sender(svc, second)()
        assert during["status"] == "retry" and during["retry_after"] > 0
        cluster.start()
        assert _sender(svc, second)()["status"] == "accepted"
        assert _sender(svc, first)()["status"] == "accepted"
    finally:
        if svc:
            svc.stop()
        cluster.stop()


def _account(svc: CentralService) -> dict[str, Any]:
    code, user_id, codes = svc.new_account()
    return {"service_code": code, "service_user_id": user_id, "security_codes": codes}


def test_an_answer_given_by_one_process_is_given_again_by_the_other(
    central_service_pg: CentralService, central_factory: Callable[..., CentralService]
) -> None:
    """The public fixtures: ``central_service_pg`` and a second process made with
    ``central_factory(shared_with=...)``, as behind a load balancer."""
    a = central_service_pg
    b = central_factory(dsn=a.dsn, shared_with=a)
    item, _ = a.make_item(a.pki.issue_card(), **_account(a))
    first = _sender(a, item)()
    assert first["status"] == "accepted"
    assert _sender(b, item)() == first
