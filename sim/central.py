"""A local reference central service in a subprocess, over HTTPS with mutual TLS.

Used by ``./demo`` (the quick start runs the kiosk against it) and by the tests'
fixtures in ``tests/fixtures/central.py``, whose docstring lists everything a
:class:`CentralService` offers. It makes its own dev TLS PKI, sealing key and
accounts file under one directory; nothing here is for production.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization

from central.devcerts import DevTLS
from central.sealing import write_new_sealing_key
from contract import wire
from offline_queue.transport import mtls_session
from sim.pki import CardIdentity, TestPKI
from sim.waiting import eventually

KIOSK_ID = "K-TEST-0001"
CAMPAIGN_ID = "2022-card"
_START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def card_sign(card: CardIdentity, digest: bytes) -> bytes:
    """What the card returns for SIGN: PKCS#1 v1.5 over DigestInfo(SHA-256, digest)."""
    return card.sign_digest(digest)


def _central_command() -> list[str]:
    script = Path(sys.executable).parent / "mynapoint-central"
    return [str(script)] if script.exists() else [sys.executable, "-m", "central.app"]


@dataclass
class CentralService:
    directory: Path
    port: int
    pki: TestPKI
    tls: DevTLS
    key_id: str
    sealing_public_pem: bytes
    accounts_file: Path
    crl_dir: Path
    dsn: str | None = None
    kiosk_id: str = KIOSK_ID
    #: RLIMIT_NOFILE (soft and hard) the process starts with; None: this process's own
    fd_limit: int | None = None
    operator_port: int | None = None  # the console and /metrics listener, when configured
    process: subprocess.Popen | None = field(default=None, repr=False)
    server: Any = field(default=None, repr=False)  # uvicorn.Server, when served in this process
    _thread: threading.Thread | None = field(default=None, repr=False)
    operator_server: Any = field(default=None, repr=False)

    # -- where things are ------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def operator_url(self) -> str:
        """``https://127.0.0.1:<operator port>``: the console and /metrics."""
        return f"https://127.0.0.1:{self.operator_port}"

    def add_operator(self, name: str, password: str, role: str = "viewer") -> None:
        """An operator account, made as an operator would: the CLI, password on stdin."""
        command = [
            *_central_command(),
            "operator",
            "add",
            name,
            "--role",
            role,
            "--config",
            str(self.config_file),
        ]
        done = subprocess.run(
            command,
            input=password + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.directory,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"operator add failed: {done.stderr.strip()}")

    @property
    def ca_cert(self) -> Path:
        return self.tls.ca_cert

    @property
    def client_cert(self) -> Path:
        return self.tls.kiosk_cert(self.kiosk_id)

    @property
    def client_key(self) -> Path:
        return self.tls.kiosk_key(self.kiosk_id)

    @property
    def config_file(self) -> Path:
        return self.directory / "central.toml"

    @property
    def database_file(self) -> Path:
        return self.directory / "central.sqlite3"

    @property
    def log_file(self) -> Path:
        return self.directory / "central.log"

    @property
    def sealing_key(self) -> wire.SealingKey:
        return wire.SealingKey.from_pem(self.sealing_public_pem)

    def kiosk_cert(self, kiosk_id: str) -> tuple[Path, Path]:
        """(cert, key) for a kiosk; made on first use."""
        if not self.tls.kiosk_cert(kiosk_id).exists():
            self.tls.issue_kiosk(kiosk_id)
        return self.tls.kiosk_cert(kiosk_id), self.tls.kiosk_key(kiosk_id)

    def session(self, kiosk_id: str | None = None) -> requests.Session:
        """A requests session pinned to the dev CA, presenting that kiosk's certificate."""
        return mtls_session(self.ca_cert, *self.kiosk_cert(kiosk_id or self.kiosk_id))

    # -- the payment provider and the revocation list ----------------------------------
    def _accounts(self) -> dict[str, Any]:
        return json.loads(self.accounts_file.read_text(encoding="utf-8"))

    def _write_accounts(self, doc: dict[str, Any]) -> None:
        tmp = self.accounts_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, self.accounts_file)

    def add_account(
        self, service_code: str, service_user_id: str, security_codes: list[str]
    ) -> None:
        doc = self._accounts()
        doc["accounts"].append(
            {
                "service_code": service_code,
                "service_user_id": service_user_id,
                "security_codes": list(security_codes),
            }
        )
        self._write_accounts(doc)

    def new_account(self, service_code: str = "waon") -> tuple[str, str, list[str]]:
        """A fresh valid account: (service_code, service_user_id, security_codes)."""
        user_id = "".join(secrets.choice("0123456789") for _ in range(16))
        codes = ["".join(secrets.choice("0123456789") for _ in range(4))]
        self.add_account(service_code, user_id, codes)
        return service_code, user_id, codes

    def set_provider_unavailable(self, unavailable: bool = True) -> None:
        doc = self._accounts()
        doc["unavailable"] = unavailable
        self._write_accounts(doc)

    def revoke(self, card_or_serial: CardIdentity | int, generation: str | None = None) -> None:
        """Add a serial to that CA generation's CRL in the service's CRL directory."""
        if isinstance(card_or_serial, CardIdentity):
            serial = card_or_serial.certificate.serial_number
            generation = generation or next(
                g
                for g, c in self.pki.ca_certificates.items()
                if c.subject == card_or_serial.certificate.issuer
            )
        else:
            serial = card_or_serial
        generation = generation or "2023"
        listed = self.crl_dir.parent / f"revoked-{generation}.json"
        serials = json.loads(listed.read_text()) if listed.exists() else []
        serials.append(serial)
        listed.write_text(json.dumps(serials))
        crl = self.pki.revocation_list(generation, serials)
        tmp = self.crl_dir / f".{generation}.tmp"
        tmp.write_bytes(crl.public_bytes(serialization.Encoding.DER))
        os.replace(tmp, self.crl_dir / f"jpki-{generation}.crl")

    # -- the reference insurer (健康保険証の利用申込み, central/insurer.py) ----------------
    @property
    def insurer_file(self) -> Path:
        return self.accounts_file.with_name("insurer.json")

    def set_insurer(self, card: CardIdentity, state: str) -> None:
        """List ``card`` as "not_covered" or "registered" (elsewhere); "covered" unlists it."""
        doc = json.loads(self.insurer_file.read_text(encoding="utf-8"))
        key = format(card.certificate.serial_number, "x")
        for name in ("not_covered", "registered"):
            doc[name] = [s for s in doc.get(name, []) if s != key] + (
                [key] if name == state else []
            )
        tmp = self.insurer_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, self.insurer_file)

    def set_municipal(self, doc: dict[str, Any]) -> None:
        """Write the reference 自治体マイナポイント eligibility file (central/municipal.py)."""
        path = self.accounts_file.with_name("municipal.json")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, path)

    def set_insurer_unavailable(self, unavailable: bool = True) -> None:
        doc = json.loads(self.insurer_file.read_text(encoding="utf-8"))
        doc["unavailable"] = unavailable
        tmp = self.insurer_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        os.replace(tmp, self.insurer_file)

    def make_procedure_item(
        self,
        card: CardIdentity,
        *,
        procedure: str = "health_insurance",
        campaign_id: str = "",
        enrollment_id: str | None = None,
        receipt_no: str = "R-0002",
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A signed, sealed 健康保険証 registration (or another procedure) as the kiosk makes it."""
        from kiosk import procedures

        build = procedures.default().get(procedure).payload_builder()
        payload = build(
            procedure=procedure, kiosk_id=self.kiosk_id, campaign_id=campaign_id
        )
        if enrollment_id:
            payload["enrollment_id"] = enrollment_id
        return self.seal_item(card, payload, receipt_no=receipt_no), payload

    # -- signed, sealed enrollments as the kiosk makes them ----------------------------
    def make_item(
        self,
        card: CardIdentity,
        *,
        service_code: str = "waon",
        service_user_id: str = "1234567890123456",
        security_codes: list[str] | None = None,
        campaign_id: str = CAMPAIGN_ID,
        kiosk_id: str | None = None,
        enrollment_id: str | None = None,
        receipt_no: str = "R-0001",
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        payload = wire.new_payload(
            kiosk_id=kiosk_id or self.kiosk_id,
            campaign_id=campaign_id,
            service_code=service_code,
            service_user_id=service_user_id,
            security_codes=security_codes if security_codes is not None else ["1234"],
            enrollment_id=enrollment_id,
        )
        return self.seal_item(card, payload, receipt_no=receipt_no), payload

    def seal_item(
        self,
        card: CardIdentity,
        payload: dict[str, Any],
        *,
        signature: bytes | None = None,
        receipt_no: str = "R-0001",
    ) -> dict[str, Any]:
        """Seal ``payload`` with the card's signature (or the one given) into an outer item."""
        signature = signature or card_sign(card, wire.payload_digest(payload))
        sealed = wire.seal_for_central(self.sealing_key, payload, card.certificate_der, signature)
        return wire.outer_item(
            enrollment_id=payload["enrollment_id"],
            kiosk_id=payload["kiosk_id"],
            receipt_no=receipt_no,
            created_at=payload["created_at"],
            key_id=self.key_id,
            sealed=sealed,
        )

    # -- process control ---------------------------------------------------------------
    def start(self, timeout: float = _START_TIMEOUT) -> CentralService:
        """Start (again) on the same port and data; returns when it answers over mTLS."""
        if self.process and self.process.poll() is None:
            return self
        command = [*_central_command(), "--config", str(self.config_file)]
        if self.dsn:
            command += ["--dsn", self.dsn]
        fd_limit = self.fd_limit

        def limit_fds() -> None:
            if fd_limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.directory,
                preexec_fn=limit_fds if fd_limit is not None else None,
            )
        self._wait_ready(timeout)
        return self

    def start_here(
        self, clock: Callable[[], float] = time.time, timeout: float = _START_TIMEOUT
    ) -> CentralService:
        """Serve the same setup in this process, on a thread, with its time from ``clock``.

        The same app over the same HTTPS and mutual TLS; a test moves ``clock`` forward
        (``sim.clock.SkipAheadClock``) instead of sleeping until a kiosk turns stale.
        """
        from central.app import create_app, make_server, start_operator_listener
        from central.config import CentralConfig

        config = CentralConfig.load(self.config_file)
        if self.dsn:
            config = replace(config, dsn=self.dsn)
        config.check_files()
        app = create_app(config, clock=clock)
        self.operator_server = start_operator_listener(config, app)
        self.server = make_server(config, app, log_config=None)
        self._thread = threading.Thread(target=self.server.run, name="central", daemon=True)
        self._thread.start()
        self._wait_ready(timeout)
        return self

    def _serving(self) -> bool:
        if self._thread is not None:
            return self._thread.is_alive()
        return self.process is not None and self.process.poll() is None

    def _wait_ready(self, timeout: float) -> None:
        with self.session() as s:

            def healthy() -> bool:
                if not self._serving():
                    raise RuntimeError(f"mynapoint-central exited:\n{self.log_tail()}")
                try:
                    return s.get(self.base_url + wire.HEALTH_PATH, timeout=2).ok
                except requests.RequestException:
                    return False

            try:
                eventually(healthy, timeout, "a healthy central service", interval=0.1)
            except TimeoutError:
                self.kill()
                raise RuntimeError(
                    f"mynapoint-central not ready in {timeout}s:\n{self.log_tail()}"
                ) from None

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM), SIGKILL if it does not exit in ``timeout``."""
        if self._thread is not None:  # served here: the server's own graceful exit
            if self.operator_server is not None:
                self.operator_server.should_exit = True
            self.server.should_exit = True
            self._thread.join(timeout)
            self._thread = None
            return
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL, as a crash or power loss looks to the service."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def prepare_central(
    directory: Path,
    *,
    dsn: str | None = None,
    pki: TestPKI | None = None,
    port: int | None = None,
    kiosk_id: str = KIOSK_ID,
    stale_minutes: float = 10.0,
    services_file: Path | None = None,
    campaigns_file: Path | None = None,
    shared_with: CentralService | None = None,
    openapi: bool = False,
    limits: dict[str, float] | None = None,
    fd_limit: int | None = None,
    operator_port: int | None = None,
) -> CentralService:
    """Write a complete central setup in ``directory`` (not started).

    ``openapi`` serves ``/openapi.json``, ``/docs`` and ``/redoc`` (off, as in production).
    ``limits`` is the config's ``[limits]`` section (central/serving.py); ``fd_limit``
    the RLIMIT_NOFILE the process is started with (a small file-descriptor budget).

    ``shared_with`` reuses another service's TLS PKI, sealing key, hash key, JPKI trust,
    accounts file and CRLs: a second process behind the same load balancer.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if shared_with is not None:
        base = shared_with.directory
        tls, pki = shared_with.tls, shared_with.pki
        sealing_dir, hash_key = base / "sealing", base / "hash.key"
        accounts, crl_dir = base / "accounts.json", base / "crl"
    else:
        tls = DevTLS.create(directory / "tls")
        pki = pki or TestPKI.create(directory / "jpki")
        sealing_dir, hash_key = directory / "sealing", directory / "hash.key"
        write_new_sealing_key(sealing_dir)
        hash_key.write_bytes(secrets.token_bytes(32))
        accounts, crl_dir = directory / "accounts.json", directory / "crl"
        accounts.write_text('{"accounts": []}', encoding="utf-8")
        accounts.with_name("insurer.json").write_text('{"default": "covered"}', encoding="utf-8")
        accounts.with_name("municipal.json").write_text("{}", encoding="utf-8")
        crl_dir.mkdir()
    if not tls.kiosk_cert(kiosk_id).exists():
        tls.issue_kiosk(kiosk_id)
    jpki_ca = directory / "jpki-trust.pem"
    jpki_ca.write_bytes(pki.trusted_ca_pem())
    empty = directory / "no-such-file.toml"
    lines = [
        f"port = {port or free_port()}",
        f'database = "{directory / "central.sqlite3"}"',
        f'hash_key_file = "{hash_key}"',
        f"stale_minutes = {stale_minutes}",
        "shutdown_grace_seconds = 0.3",
        f"openapi = {'true' if openapi else 'false'}",
        "[tls]",
        f'cert = "{tls.server_cert}"',
        f'key = "{tls.server_key}"',
        f'client_ca = "{tls.ca_cert}"',
        "[sealing]",
        f'keys_dir = "{sealing_dir}"',
        "[trust]",
        f'jpki_ca = ["{jpki_ca}"]',
        f'crl_dir = "{crl_dir}"',
        "[provider]",
        f'accounts = "{accounts}"',
        "[insurer]",
        f'file = "{accounts.with_name("insurer.json")}"',
        "[municipal]",
        f'file = "{accounts.with_name("municipal.json")}"',
        "[data]",
        f'services = "{services_file or empty}"',
        f'campaigns = "{campaigns_file or empty}"',
    ]
    if limits:
        lines += ["[limits]", *(f"{key} = {value}" for key, value in limits.items())]
    if operator_port:
        lines += ["[operator]", f"port = {operator_port}"]
    if dsn:
        lines.insert(1, f'dsn = "{dsn}"')
    (directory / "central.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    public_pem = next(sealing_dir.glob("*.pub.pem")).read_bytes()
    service = CentralService(
        directory=directory,
        port=int(lines[0].split("=")[1]),
        pki=pki,
        tls=tls,
        key_id=wire.SealingKey.from_pem(public_pem).key_id,
        sealing_public_pem=public_pem,
        accounts_file=accounts,
        crl_dir=crl_dir,
        dsn=dsn,
        kiosk_id=kiosk_id,
        fd_limit=fd_limit,
        operator_port=operator_port,
    )
    return service


def start_central(tmp_path: Path, dsn: str | None = None, **options: Any) -> CentralService:
    """Prepare and start a central service under ``tmp_path/central``; caller stops it."""
    directory = tmp_path / f"central-{secrets.token_hex(3)}"
    return prepare_central(directory, dsn=dsn, **options).start()
