"""Many central workers on one PostgreSQL give exactly the decisions one gives (issue 13).

The same signed items, in the same order, go through nginx to one worker on one database
and through nginx to two workers on another: nginx hands each request to the next worker
in turn, so the items that interact (one person twice, one account for two people, a
resend, another payload under a used id, wrong codes until the account locks) are
decided by different processes. Every answer must be the same, and the same people
must get the same MyKey IDs (the IDs themselves are random per database).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from central.service import CODE_MAX_FAILURES
from contract import wire
from sim.central import CentralService, prepare_central
from sim.nginx import NginxCentral
from sim.pki import TestPKI
from sim.postgres import PostgresCluster

pytest_plugins = ["tests.fixtures.central"]

pytestmark = pytest.mark.slow


def scenario(svc: CentralService) -> list[list[dict[str, Any]]]:
    """Batches of signed items whose answers depend on each other and on their order."""
    key = svc.pki.issue_card().key
    alice, bob, carol, dave = (svc.pki.issue_card(key=key) for _ in range(4))
    expired = svc.pki.issue_card(
        key=key,
        not_before=dt.datetime.now(dt.UTC) - dt.timedelta(days=30),
        not_after=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
    )
    code, alice_id, alice_codes = svc.new_account("waon")
    _, bob_id, bob_codes = svc.new_account("waon")
    _, dave_id, dave_codes = svc.new_account("waon")
    wrong = ["0000" if dave_codes != ["0000"] else "1111"]

    def item(card: Any, user_id: str, codes: list[str], **kw: Any) -> dict[str, Any]:
        return svc.make_item(
            card, service_code=code, service_user_id=user_id, security_codes=codes, **kw
        )[0]

    first = item(alice, alice_id, alice_codes)
    other_payload = item(alice, alice_id, alice_codes, enrollment_id=first["enrollment_id"])
    return [
        [first],
        [item(alice, bob_id, bob_codes)],  # Alice again, another account: already applied
        [item(bob, alice_id, alice_codes)],  # Alice's account for Bob: linked already
        [first, item(bob, bob_id, bob_codes)],  # a resend, and Bob on his own account
        [other_payload],  # another payload under Alice's id: conflict
        [item(alice, alice_id, alice_codes, campaign_id="2023-health")],  # another campaign
        [item(expired, bob_id, bob_codes)],
        # wrong codes for Dave's account, one request each (so both workers count them),
        # then the right one: locked out
        *[[item(carol, dave_id, wrong)] for _ in range(CODE_MAX_FAILURES)],
        [item(dave, dave_id, dave_codes)],
        # a batch whose items are independent of each other (written set-wise)
        [item(svc.pki.issue_card(key=key), *svc.new_account("waon")[1:]) for _ in range(5)],
    ]


def normalised(answers: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Each answer with its MyKey ID replaced by the order in which that ID first appears."""
    seen: dict[str, int] = {}
    out = []
    for a in answers:
        person = seen.setdefault(a["mykey_id"], len(seen)) if a.get("mykey_id") else None
        out.append(
            (a["enrollment_id"], a["status"], a.get("reason"), a.get("service_code"), person)
        )
    return out


@pytest.fixture
def two_setups(
    tmp_path: Path, postgres_server: PostgresCluster
) -> Iterator[tuple[NginxCentral, NginxCentral]]:
    if not NginxCentral.available():
        pytest.skip("nginx not installed (scripts/setup.sh installs it)")
    pki = TestPKI.create(tmp_path / "jpki")
    one = prepare_central(tmp_path / "one", dsn=postgres_server.new_database(), pki=pki)
    two = prepare_central(tmp_path / "two", dsn=postgres_server.new_database(), shared_with=one)
    fronts = (
        NginxCentral(one, tmp_path / "front-1", 1),
        NginxCentral(two, tmp_path / "front-2", 2, operators=True),
    )
    try:
        for front in fronts:
            front.start()
        yield fronts
    finally:
        for front in fronts:
            front.stop()


def send(front: NginxCentral, batches: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    svc = front.service
    answers = []
    with svc.session() as kiosk:
        for batch in batches:
            r = kiosk.post(svc.base_url + wire.BATCH_PATH, json=wire.batch_body(batch), timeout=60)
            assert r.status_code == 200, r.text
            answers += r.json()["results"]
    return answers


def test_two_workers_decide_exactly_as_one(two_setups: tuple[NginxCentral, NginxCentral]) -> None:
    one, two = two_setups
    batches = scenario(one.service)
    alone, shared = send(one, batches), send(two, batches)
    assert normalised(shared) == normalised(alone)
    reasons = [a.get("reason", a["status"]) for a in alone]
    for expected in (
        "already_applied",
        "account_already_linked",
        wire.CONFLICT,
        "certificate_expired",
        "account_not_confirmed",
        "too_many_attempts",
    ):
        assert expected in reasons, (expected, reasons)
    assert decided_by_each_worker(two) == [True, True]  # nginx used both


def decided_by_each_worker(front: NginxCentral) -> list[bool]:
    """Whether each worker's own /metrics counts decisions."""
    answered = []
    for url in front.operator_urls:
        with requests.Session() as s:
            s.trust_env = False
            text = s.get(url + "/metrics", verify=str(front.service.ca_cert), timeout=30).text
        counts = re.findall(r"^mynapoint_decisions_total\{[^}]*\} (\S+)$", text, re.M)
        answered.append(sum(map(float, counts)) > 0)
    return answered
