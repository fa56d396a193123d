"""What the central service decides for one enrollment, independent of HTTP.

For each outer item: the kiosk named in it must be the client certificate's; open the
HPKE seal; verify the card's signature over ``wire.payload_digest(payload)``; check the
certificate chain, dates and revocation; apply the programme rules (campaign open,
service allowed at kiosks, one service per person per campaign, one person per account);
ask the payment provider; store and answer. An answer, once stored, is the answer
forever for that enrollment id and payload; another payload under the same id is a
conflict.

Answers are stored only once the payload is known to come from the certificate it
carries (the signature verified), so nobody can take an enrollment id with garbage.
Only the person's own data earns a stored, final refusal (issue 12, finding 8): when the
service lacks what it needs to judge (the sealing key the item names, the CA generation
its card names) the answer is ``retry`` and nothing is stored; and a refusal whose reason
is in ``wire.SERVER_SIDE_REASONS`` is never stored either, so once the operator has fixed
the set-up, the kiosk's resend (staff can ask for it) is judged afresh.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography import x509

from central import insurer as insurer_module
from central import municipal as municipal_module
from central.catalog import Catalog
from central.errors import CannotJudge, ChallengeInvalid, ProviderUnavailable, Rejection
from central.freshness import one_look
from central.provider import PaymentProvider
from central.sealing import SealingKeyring
from central.store import NewEnrollment, RecordAnswer, Store, StoreUnavailable, Write
from central.trust import JpkiVerifier, RevocationUnknown, VerifiedCard
from contract import wire

log = logging.getLogger("central.enrollment")

RETRY_AFTER_SECONDS = 30
# Wrong security codes (issue 12, finding 3): the 5th wrong code within 30 minutes for one
# account (決済サービスID), or from one card, locks that account / card for 30 minutes.
# While locked every enrollment naming it is rejected `too_many_attempts` without asking
# the provider, even with the right code; the remedy shown is to check the code with the
# payment service. The numbers are our choice (card and e-money services lock after a
# few wrong codes too, each with its own rule); a real provider's adapter would add its own.
CODE_MAX_FAILURES = 5
CODE_WINDOW_SECONDS = 30 * 60
CODE_LOCK_SECONDS = 30 * 60
MAX_SEALED = 64 * 1024  # base64 characters; a real item is about 3 KB


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200


def _valid_payload(payload: Any, kiosk_id: str) -> bool:
    if not isinstance(payload, dict) or payload.get("v") != wire.WIRE_VERSION:
        return False
    codes = payload.get("security_codes")
    return (
        all(
            _text(payload.get(k))
            for k in ("campaign_id", "service_code", "service_user_id", "created_at")
        )
        and isinstance(codes, list)
        and len(codes) <= 3
        and all(isinstance(c, str) and len(c) <= 64 for c in codes)
        and payload.get("kiosk_id") == kiosk_id
    )


#: The stages of ingest whose CPU time is counted (``EnrollmentService.stage_seconds``):
#: opening the seal; the signature and certificate checks; the rules, the provider and
#: the rest of the Python around them; the database calls; the answers and their log
#: lines. The app adds ``parse`` (the body) and ``encode`` (the response); what the
#: process spends beyond all of them is HTTP, TLS and the framework.
STAGES = ("parse", "hpke", "checks", "rules", "db", "answer", "encode")


class NoStageClock:
    """What :class:`StageClock` is when the stage CPU is not counted: nothing."""

    def lap(self, stage: str) -> None:
        pass


class StageClock(NoStageClock):
    """CPU time of the calling thread (``time.thread_time``), added to a stage per lap.
    A lap costs a system call (about 2 µs here): only with ``stage_cpu = true``."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self._at = time.thread_time()

    def lap(self, stage: str) -> None:
        """The time since the last lap was spent in ``stage``."""
        now = time.thread_time()
        self.seconds[stage] += now - self._at
        self._at = now


@dataclass(frozen=True)
class _Signed:
    """An item whose seal opened and whose payload's signature verified."""

    enrollment_id: str
    item: dict[str, Any]
    payload: dict[str, Any]
    certificate_der: bytes
    certificate: x509.Certificate
    digest_hex: str


@dataclass(frozen=True)
class _Asking:
    """An enrollment past its checks and rules: what the store and the provider say
    decides it (``EnrollmentService._confirm``)."""

    record: RecordAnswer
    payload: dict[str, Any]
    cert_ref: str
    account_ref: str
    subjects: list[str]


def _refusal(rejection: Rejection) -> dict[str, Any]:
    answer = {"status": wire.REJECTED, "reason": rejection.reason}
    if rejection.service_code:
        answer["service_code"] = rejection.service_code
    return answer


@dataclass
class EnrollmentService:
    keyring: SealingKeyring
    verifier: JpkiVerifier
    provider: PaymentProvider
    store: Store
    catalog: Catalog
    hash_key: bytes
    status_challenge_seconds: float = 120.0
    clock: Callable[[], float] = field(default=time.time)  # the code lockout's time
    #: procedures beside enrollments (payload ``procedure``): name -> judge (central/insurer.py)
    procedures: dict[str, Any] = field(
        default_factory=lambda: insurer_module.judges(None) | municipal_module.judges(None)
    )
    #: CPU seconds of ingest by stage (``STAGES``), summed over this process's batches
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    stage_cpu: bool = False  # count stage_seconds (config ``stage_cpu``)
    _stage_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- keyed hashes: what the database holds instead of certificates and IDs ---------
    def cert_ref(self, card: VerifiedCard) -> str:
        """Keyed hash of the issuing CA key and the serial: the person's identity."""
        data = b"cert\x00" + card.issuer_key_id + b"\x00" + str(card.serial_number).encode()
        return hmac.new(self.hash_key, data, hashlib.sha256).hexdigest()

    def account_ref(self, service_code: str, service_user_id: str) -> str:
        """Keyed hash of a payment account (service + 決済サービスID)."""
        data = b"account\x00" + service_code.encode() + b"\x00" + service_user_id.encode()
        return hmac.new(self.hash_key, data, hashlib.sha256).hexdigest()

    def add_stage_seconds(self, stage: str, seconds: float) -> None:
        with self._stage_lock:
            self.stage_seconds[stage] += seconds

    def stage_seconds_snapshot(self) -> dict[str, float]:
        with self._stage_lock:
            return dict(self.stage_seconds)

    # -- enrollments ---------------------------------------------------------------------
    def process(self, item: Any, client_kiosk_id: str) -> dict[str, Any]:
        """The answer for one outer item: accepted, rejected, retry or conflict."""
        return self.process_batch([item], client_kiosk_id)[0]

    def process_batch(self, items: list[Any], client_kiosk_id: str) -> list[dict[str, Any]]:
        """One answer per item, in order.

        First each item is opened and its signature checked; then one statement reads
        the stored answers of every signed id; then each is judged in order (a wrong
        code is counted at once, so a later item of the batch sees it); every decision
        to store is written in one transaction (one durable commit for the batch), and
        no answer leaves before that commit. Watched files are looked at once for the
        batch (``central.freshness``). The CPU time of each stage is added to
        :attr:`stage_seconds`.
        """
        clock = StageClock() if self.stage_cpu else NoStageClock()
        with one_look():
            results = self._process_batch(items, client_kiosk_id, clock)
        if not isinstance(clock, StageClock):
            return results
        clock.lap("answer")
        with self._stage_lock:
            for stage, seconds in clock.seconds.items():
                self.stage_seconds[stage] += seconds
        return results

    def _process_batch(
        self, items: list[Any], client_kiosk_id: str, clock: NoStageClock
    ) -> list[dict[str, Any]]:
        ids = [item.get("enrollment_id") if isinstance(item, dict) else None for item in items]
        now = wire.utc_now_text()
        opened = [
            self._guarded(eid, self._open, item, eid, client_kiosk_id, clock)
            for item, eid in zip(items, ids, strict=True)
        ]
        signed = [o for o in opened if isinstance(o, _Signed)]
        stored: dict[str, tuple[str, dict[str, Any]]] | StoreUnavailable = {}
        if signed:
            try:
                stored = self.store.stored_answers(
                    client_kiosk_id, [o.enrollment_id for o in signed]
                )
            except StoreUnavailable as exc:
                stored = exc
            clock.lap("db")
        judged = [
            self._guarded(o.enrollment_id, self._decide, o, stored, now, clock)
            if isinstance(o, _Signed)
            else o
            for o in opened
        ]
        outcomes = self._confirm_all(judged, clock)
        answers: list[dict[str, Any]] = [o if isinstance(o, dict) else {} for o in outcomes]
        pending = [(i, o) for i, o in enumerate(outcomes) if not isinstance(o, dict)]
        if pending:
            try:
                written = self.store.write_many([w for _, w in pending])
                for (i, write), got in zip(pending, written, strict=True):
                    answers[i] = self._same_payload_or_conflict(got, write.payload_digest)
            except StoreUnavailable as exc:
                log.warning("batch_retry items=%d kind=%s", len(pending), exc.kind)
                for i, _ in pending:
                    answers[i] = {"status": wire.RETRY, "retry_after": RETRY_AFTER_SECONDS}
            clock.lap("db")
        results = []
        for eid, answer in zip(ids, answers, strict=True):
            log.info(
                "enrollment_answered id=%s kiosk=%s status=%s reason=%s",
                eid if isinstance(eid, str) else "-",
                client_kiosk_id,
                answer["status"],
                answer.get("reason", "-"),
            )
            results.append({"enrollment_id": eid if isinstance(eid, str) else None, **answer})
        return results

    @staticmethod
    def _guarded(enrollment_id: Any, step: Callable[..., Any], *args: Any) -> Any:
        """``step(*args)``, or the answer its exception means."""
        try:
            return step(*args)
        except Rejection as rejection:
            return _refusal(rejection)
        except (ProviderUnavailable, StoreUnavailable, RevocationUnknown, CannotJudge) as exc:
            log.warning("enrollment_retry id=%s kind=%s", enrollment_id, exc.kind)
            return {"status": wire.RETRY, "retry_after": RETRY_AFTER_SECONDS}
        except ValueError:  # a malformed outer item (bad base64, wrong types)
            return {"status": wire.REJECTED, "reason": "malformed"}

    def _open(
        self, item: Any, enrollment_id: Any, client_kiosk_id: str, clock: NoStageClock
    ) -> _Signed:
        """The item opened and its payload's signature verified; else Rejection (nothing
        about stored answers is looked at before this: issue 12, finding 5)."""
        if not isinstance(enrollment_id, str) or str(uuid.UUID(enrollment_id)) != enrollment_id:
            raise Rejection("malformed")
        if item.get("kiosk_id") != client_kiosk_id:
            raise Rejection("kiosk_mismatch")
        sealed = item.get("sealed")
        if not _text(item.get("key_id")) or not isinstance(sealed, str) or len(sealed) > MAX_SEALED:
            raise Rejection("malformed")
        clock.lap("rules")
        payload, certificate_der, signature = self.keyring.open(
            item["key_id"], enrollment_id, wire.b64d(sealed)
        )
        clock.lap("hpke")
        if not isinstance(payload, dict):
            raise Rejection("malformed")
        if payload.get("kiosk_id") != client_kiosk_id:
            raise Rejection("kiosk_mismatch")
        # the canonical bytes of wire.payload_digest, by the C encoder (central has no
        # buffer to wipe: the payload is in memory as a dict anyway)
        digest = hashlib.sha256(wire.canonical_bytes(payload)).digest()
        clock.lap("rules")
        try:
            cert = x509.load_der_x509_certificate(certificate_der)
        except ValueError as exc:
            raise Rejection("malformed") from exc
        JpkiVerifier.check_signature(cert, digest, signature)
        clock.lap("checks")
        return _Signed(enrollment_id, item, payload, certificate_der, cert, digest.hex())

    def _decide(
        self,
        signed: _Signed,
        stored_answers: dict[str, tuple[str, dict[str, Any]]] | StoreUnavailable,
        now: str,
        clock: NoStageClock,
    ) -> dict[str, Any] | Write:
        """A final answer now, or the write that will decide it."""
        if isinstance(stored_answers, StoreUnavailable):
            raise stored_answers
        enrollment_id, kiosk_id = signed.enrollment_id, signed.payload["kiosk_id"]
        stored = stored_answers.get(enrollment_id)
        if stored is not None and self._server_side_refusal(stored, signed.digest_hex):
            # stored by an older version: judged afresh now the set-up may be fixed
            self.store.forget_answer(kiosk_id, enrollment_id, signed.digest_hex)
            clock.lap("db")
            log.info("stored_refusal_forgotten id=%s reason=%s", enrollment_id, stored[1]["reason"])
            stored = None
        if stored is not None:
            return self._same_payload_or_conflict(stored, signed.digest_hex)
        # From here the payload is the card holder's own: answers are stored forever.
        record = RecordAnswer(
            enrollment_id=enrollment_id,
            payload_digest=signed.digest_hex,
            kiosk_id=kiosk_id,
            receipt_no=str(signed.item.get("receipt_no", ""))[:64],
            now=now,
            answer={},
        )
        try:
            return self._judge(signed, record, clock)
        except Rejection as rejection:
            return self._stored_or_final(record, rejection)

    @staticmethod
    def _stored_or_final(record: RecordAnswer, rejection: Rejection) -> dict[str, Any] | Write:
        """A refusal of the holder's own payload is stored forever (a RecordAnswer); one
        for a server-side reason is answered and never stored (a resend after the
        operator's fix is judged anew)."""
        answer = _refusal(rejection)
        if rejection.reason in wire.SERVER_SIDE_REASONS:
            return answer
        return replace(record, answer=answer)

    def _confirm_all(self, judged: list[Any], clock: NoStageClock) -> list[Any]:
        """Each :class:`_Asking` judged to its end: one statement reads what the store
        knows of all of them; then, in order, the lockout, the provider and the count
        of a wrong code (an item after a wrong code of its account or card reads the
        store again, so the fifth wrong code within a batch locks the rest)."""
        asking = [j for j in judged if isinstance(j, _Asking)]
        if not asking:
            return judged
        try:
            known = self.store.prechecks(
                [(a.payload["campaign_id"], a.cert_ref, a.account_ref, a.subjects) for a in asking],
                self.clock(),
            )
        except StoreUnavailable as exc:
            log.warning("batch_retry items=%d kind=%s", len(asking), exc.kind)
            known = None
        clock.lap("db")
        looked_up = dict(zip(map(id, asking), known or [], strict=False))
        failed: set[str] = set()
        outcomes = []
        for j in judged:
            if not isinstance(j, _Asking):
                outcomes.append(j)
                continue
            if known is None:
                outcomes.append({"status": wire.RETRY, "retry_after": RETRY_AFTER_SECONDS})
                continue
            outcomes.append(
                self._guarded(
                    j.record.enrollment_id, self._confirm, j, looked_up[id(j)], failed, clock
                )
            )
        return outcomes

    def _confirm(
        self,
        asking: _Asking,
        known: tuple[dict[str, Any] | None, bool],
        failed: set[str],
        clock: NoStageClock,
    ) -> dict[str, Any] | Write:
        try:
            return self._confirm_one(asking, known, failed, clock)
        except Rejection as rejection:
            return self._stored_or_final(asking.record, rejection)

    def _confirm_one(
        self,
        asking: _Asking,
        known: tuple[dict[str, Any] | None, bool],
        failed: set[str],
        clock: NoStageClock,
    ) -> Write:
        payload, record, subjects = asking.payload, asking.record, asking.subjects
        if failed.intersection(subjects):  # a wrong code in this batch: read it again
            known = self.store.precheck(
                payload["campaign_id"], asking.cert_ref, asking.account_ref, subjects, self.clock()
            )
            clock.lap("db")
        answer, locked = known
        if answer is not None and answer["reason"] == "already_applied":
            return replace(record, answer=answer)  # about this card's own holder
        if locked:
            raise Rejection("too_many_attempts")
        # Whether an account is linked is told only to whoever has its code (finding 4).
        if not self.provider.confirm(
            payload["service_code"], payload["service_user_id"], payload["security_codes"]
        ):
            clock.lap("rules")
            failed.update(subjects)
            self.store.code_failed(
                subjects, self.clock(), CODE_WINDOW_SECONDS, CODE_MAX_FAILURES, CODE_LOCK_SECONDS
            )
            clock.lap("db")
            raise Rejection("account_not_confirmed")
        clock.lap("rules")
        if answer is not None:
            return replace(record, answer=answer)
        return NewEnrollment(
            enrollment_id=record.enrollment_id,
            payload_digest=record.payload_digest,
            kiosk_id=record.kiosk_id,
            receipt_no=record.receipt_no,
            now=record.now,
            campaign_id=payload["campaign_id"],
            service_code=payload["service_code"],
            cert_ref=asking.cert_ref,
            account_ref=asking.account_ref,
        )

    def _judge(self, signed: _Signed, record: RecordAnswer, clock: NoStageClock) -> Write | _Asking:
        payload = signed.payload
        card = self.verifier.check_certificate(signed.certificate_der, parsed=signed.certificate)
        clock.lap("checks")
        if wire.PROCEDURE_KEY in payload:  # another procedure: its own judge (issue 11)
            judge = self.procedures.get(payload[wire.PROCEDURE_KEY])
            if judge is None or payload.get("kiosk_id") != record.kiosk_id:
                raise Rejection("procedure_unknown" if judge is None else "malformed")
            if not _text(payload.get("created_at")):
                raise Rejection("malformed")
            return judge.judge(self, payload, card, record)
        if not _valid_payload(payload, record.kiosk_id):
            raise Rejection("malformed")
        if not self.catalog.campaign_open(payload["campaign_id"], payload["created_at"]):
            raise Rejection("campaign_closed")
        if not self.catalog.campaign_kind_is(payload["campaign_id"], "payment_service"):
            raise Rejection("campaign_closed")  # e.g. the 健康保険証 campaign: not for services
        if not self.catalog.service_allowed_at_kiosk(payload["service_code"]):
            raise Rejection("service_not_allowed")
        cert_ref = self.cert_ref(card)
        account_ref = self.account_ref(payload["service_code"], payload["service_user_id"])
        # Guessing is bounded per account and per card (finding 3).
        subjects = ["account:" + account_ref, "card:" + cert_ref]
        clock.lap("rules")
        return _Asking(record, payload, cert_ref, account_ref, subjects)

    @staticmethod
    def _server_side_refusal(stored: tuple[str, dict[str, Any]], digest_hex: str) -> bool:
        stored_digest, answer = stored
        return (
            hmac.compare_digest(stored_digest, digest_hex)
            and answer.get("status") == wire.REJECTED
            and answer.get("reason") in wire.SERVER_SIDE_REASONS
        )

    @staticmethod
    def _same_payload_or_conflict(stored: tuple[str, dict[str, Any]], digest_hex: str) -> dict:
        stored_digest, answer = stored
        if hmac.compare_digest(stored_digest, digest_hex):
            return answer
        return {"status": wire.CONFLICT}

    # -- 申込状況の確認 ------------------------------------------------------------------
    def new_challenge(self, kiosk_id: str) -> dict[str, Any]:
        nonce = secrets.token_urlsafe(32)
        self.store.add_challenge(nonce, kiosk_id, time.time() + self.status_challenge_seconds)
        return {"nonce": nonce, "expires_in": self.status_challenge_seconds}

    def person_status(
        self, kiosk_id: str, nonce: str, certificate_der: bytes, signature: bytes
    ) -> dict[str, Any]:
        """What the card's holder chose; ChallengeInvalid or Rejection when not authentic."""
        if not self.store.take_challenge(nonce, kiosk_id, time.time()):
            raise ChallengeInvalid("unknown, used or expired challenge")
        try:
            cert = x509.load_der_x509_certificate(certificate_der)
        except ValueError as exc:
            raise Rejection("malformed") from exc
        JpkiVerifier.check_signature(cert, wire.status_challenge_digest(nonce, kiosk_id), signature)
        card = self.verifier.check_certificate(certificate_der)
        return self.store.person_status(self.cert_ref(card))


def kiosk_health(
    rows: list[tuple[str, float, dict[str, Any]]], stale_minutes: float, now: float
) -> list[dict[str, Any]]:
    """Each kiosk's last heartbeat with a ``stale`` flag for the staff screen."""
    out = []
    for kiosk_id, last_seen, health in rows:
        out.append(
            {
                "kiosk_id": kiosk_id,
                **health,
                "last_heartbeat": dt.datetime.fromtimestamp(last_seen, dt.UTC)
                .replace(microsecond=0)
                .isoformat()
                .replace("+00:00", "Z"),
                "seconds_since_heartbeat": round(now - last_seen, 1),
                "stale": now - last_seen > stale_minutes * 60,
            }
        )
    return out
