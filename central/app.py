"""The reference central service: FastAPI over HTTPS that requires a kiosk certificate.

    $ mynapoint-central init var/central --jpki-ca path/to/ca-2023.pem --kiosk K-0001
    $ mynapoint-central --config var/central/central.toml

TLS is served by uvicorn with ``ssl.CERT_REQUIRED``: a client without a certificate from
the configured client CA never reaches the application. The certificate's CN is the
kiosk id; every enrollment item must name that kiosk. OpenAPI is at ``/openapi.json`` (and
``/docs``, ``/redoc``) only when the config says ``openapi = true``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.to_thread
import uvicorn
from fastapi import Body, Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from central import insurer, municipal
from central.catalog import Catalog
from central.config import CentralConfig
from central.console.web import create_operator_app, operator_uvicorn_options
from central.errors import CannotJudge, CentralError, ChallengeInvalid, Rejection
from central.metrics import CentralMetrics
from central.provider import FileAccountsProvider
from central.sealing import SealingKeyring, write_new_sealing_key
from central.service import RETRY_AFTER_SECONDS, EnrollmentService, kiosk_health
from central.serving import CentralServer, MutualTlsH11Protocol
from central.store import StoreUnavailable, open_store
from central.trust import JpkiVerifier, RevocationUnknown
from contract import wire

log = logging.getLogger("central")


# -- the client certificate's CN, handed from the TLS layer (central/serving.py) --------
def kiosk_id(request: Request) -> str:
    """The calling kiosk: the CN of its TLS client certificate."""
    cn = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_cn")
    if not cn:
        raise HTTPException(status_code=401, detail="client certificate required")
    return cn


# -- request bodies ------------------------------------------------------------------------
def body_limits(path: str) -> tuple[int, int]:
    """(bytes, separators) a request body to ``path`` may hold; see ``wire.MAX_BATCH_BYTES``."""
    if path == wire.BATCH_PATH:
        return wire.MAX_BATCH_BYTES, wire.MAX_BATCH_ITEMS * wire.MAX_ITEM_SEPARATORS
    if path == wire.HEARTBEAT_PATH:
        return wire.MAX_ITEM_BYTES, wire.MAX_HEARTBEAT_SEPARATORS
    return wire.MAX_ITEM_BYTES, wire.MAX_ITEM_SEPARATORS


class BodyLimit:
    """ASGI middleware: a body over its limit is refused with 413 while it is read, before
    anything parses it; one declared longer by Content-Length is refused unread.

    A body within its limits goes to ``fast`` first (:class:`IngestFastPath`), which
    answers a well-formed enrollment request itself and returns True; anything else goes
    on to the FastAPI app, which answers it (and every refusal) as before."""

    def __init__(self, app: Any, fast: Callable[..., Any] | None = None) -> None:
        self.app = app
        self.fast = fast

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes, max_separators = body_limits(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
            await _refuse_body(send, "body_too_large", max_bytes)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await _refuse_body(send, "body_too_large", max_bytes)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        del chunks
        if sum(body.count(c) for c in (b",", b"[", b"{")) > max_separators:
            await _refuse_body(send, "body_too_many_values", max_bytes)
            return
        if self.fast is not None and await self.fast(scope, body, send):
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _refuse_body(send: Any, reason: str, max_bytes: int) -> None:
    """413 with a typed JSON answer; the connection is closed (the rest stays unread)."""
    content = json.dumps({"detail": {"reason": reason, "max_bytes": max_bytes}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


class IngestFastPath:
    """The two enrollment endpoints without FastAPI's per-request machinery (issue 13).

    For a batch of one, FastAPI's dependency solving, pydantic and response encoding
    cost more CPU than the enrollment's own checks. This answers exactly the requests
    the routes below would accept, the same way (status, headers, JSON): ``POST
    BATCH_PATH`` with ``{"items": [object, ...]}`` or ``[object, ...]`` of at most
    ``MAX_BATCH_ITEMS``, and ``PUT ITEM_PATH`` with an object naming the path's id, from
    a kiosk certificate, with a JSON content type. Any other request (a refusal, a
    malformed body) returns False and is answered by the routes: the schema, the 4xx
    answers and their shape stay FastAPI's. The service runs on a worker thread, as a
    sync route would.
    """

    def __init__(
        self, service: EnrollmentService, metrics: CentralMetrics, threads: int = 1
    ) -> None:
        self.service = service
        self.metrics = metrics
        #: batches judged at once (config ``ingest_threads``; 0: the shared pool). One:
        #: the OpenSSL checks of concurrent batches in one process cost 1.5-2× their CPU
        #: (decisions.md, "One ingest thread per process"); made on first use, in the loop.
        self.threads = threads
        self._limiter: anyio.CapacityLimiter | None = None

    async def __call__(self, scope: Any, body: bytes, send: Any) -> bool:
        method, path = scope.get("method"), scope["path"]
        if method == "POST" and path == wire.BATCH_PATH:
            enrollment_id = None
        elif (
            method == "PUT"
            and path.startswith(_ITEM_PREFIX)
            and len(path) > _ITEM_CUT  # "/v1/enrollments/" is no route: FastAPI's 404
            and "/" not in path[_ITEM_CUT:]
        ):
            enrollment_id = path[_ITEM_CUT:]
        else:
            return False
        kiosk = scope.get("extensions", {}).get("tls", {}).get("client_cert_cn")
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"application/json").split(b";")[0]
        if not kiosk or content_type.strip().lower() != b"application/json":
            return False
        timing = self.service.stage_cpu
        started = time.thread_time() if timing else 0.0
        items = _well_formed(body, enrollment_id)
        if timing:
            self.service.add_stage_seconds("parse", time.thread_time() - started)
        if items is None:
            return False
        path_name = "batch" if enrollment_id is None else "item"
        with self.metrics.timed(path_name):
            if self.threads:
                if self._limiter is None:
                    self._limiter = anyio.CapacityLimiter(self.threads)
                results = await anyio.to_thread.run_sync(
                    self.service.process_batch, items, kiosk, limiter=self._limiter
                )
            else:
                results = await run_in_threadpool(self.service.process_batch, items, kiosk)
        self.metrics.decided(results)
        started = time.thread_time() if timing else 0.0
        status, extra = 200, []
        if enrollment_id is None:
            content = json.dumps({"results": results}, separators=(",", ":")).encode()
            if results and all(r["status"] == wire.RETRY for r in results):
                extra = [(b"retry-after", str(results[0]["retry_after"]).encode())]
        else:
            result = results[0]
            content = json.dumps(result, separators=(",", ":")).encode()
            if result["status"] == wire.CONFLICT:
                status = 422
            elif result["status"] == wire.RETRY:
                status = 503
                extra = [(b"retry-after", str(result["retry_after"]).encode())]
        head = [
            (b"content-length", str(len(content)).encode()),
            (b"content-type", b"application/json"),
            *extra,
        ]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": content})
        if timing:
            self.service.add_stage_seconds("encode", time.thread_time() - started)
        return True


_ITEM_PREFIX = wire.ITEM_PATH.split("{")[0]
_ITEM_CUT = len(_ITEM_PREFIX)


def _well_formed(body: bytes, enrollment_id: str | None) -> list[dict[str, Any]] | None:
    """The items of a body the route would accept as they are; None for anything else."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if enrollment_id is not None:
        if isinstance(doc, dict) and doc.get("enrollment_id") == enrollment_id:
            return [doc]
        return None
    items = doc.get("items") if isinstance(doc, dict) else doc
    if not isinstance(items, list) or len(items) > wire.MAX_BATCH_ITEMS:
        return None
    if not all(isinstance(item, dict) for item in items):
        return None
    return items


class BatchRequest(BaseModel):
    items: list[dict[str, Any]] = Field(
        description="wire.outer_item dicts: enrollment_id, kiosk_id, receipt_no, created_at,"
        " key_id, sealed (base64 HPKE)",
    )


class StatusRequest(BaseModel):
    nonce: str = Field(max_length=200)
    certificate: str = Field(
        description="base64 DER user-authentication certificate", max_length=16000
    )
    signature: str = Field(
        description="base64 PKCS#1 v1.5 signature over"
        " wire.status_challenge_digest(nonce, kiosk_id)",
        max_length=2000,
    )


class Heartbeat(BaseModel):
    """What ``kiosk/heartbeat.py`` sends: counts, ages, times and status codes, no text."""

    kiosk_version: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9.+!_-]*$")
    queue_depth: int = Field(default=0, ge=0)
    oldest_pending_age_s: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    printer: str = Field(default="unknown", pattern=f"^{wire.STATUS_CODE_PATTERN}$")
    reader: str = Field(default="unknown", pattern=f"^{wire.STATUS_CODE_PATTERN}$")
    last_sync: str | None = Field(default=None, max_length=64, pattern=r"^[0-9T:.Z+-]+$")
    staff_locked: bool = Field(default=False, strict=True)  # the staff PIN is locked now
    staff_lockouts: int = Field(default=0, ge=0, le=wire.MAX_STAFF_LOCKOUTS, strict=True)
    speech: str = Field(default="unknown", pattern=f"^{wire.STATUS_CODE_PATTERN}$")
    #: the queue's storage: ok, storage_full, or why the queue did not open (data_missing...)
    storage: str = Field(default="unknown", pattern=f"^{wire.STATUS_CODE_PATTERN}$")
    #: ok, or why the kiosk's clock is known wrong (it then takes no application)
    clock: str = Field(default="unknown", pattern=f"^{wire.STATUS_CODE_PATTERN}$")
    #: per procedure (issue 11): its name -> items waiting in the kiosk's queue
    procedures: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")],
        Annotated[int, Field(ge=0)],
    ] = Field(default_factory=dict, max_length=32)
    # the outbox's dead items and the sync worker's counters (wire.HEARTBEAT_COUNTERS)
    dead_items: int = Field(default=0, ge=0, le=wire.MAX_HEARTBEAT_COUNT, strict=True)
    sync_accepted: int = Field(default=0, ge=0, le=wire.MAX_HEARTBEAT_COUNT, strict=True)
    sync_rejected: int = Field(default=0, ge=0, le=wire.MAX_HEARTBEAT_COUNT, strict=True)
    sync_failures: int = Field(default=0, ge=0, le=wire.MAX_HEARTBEAT_COUNT, strict=True)
    sync_failures_by_kind: dict[
        Annotated[str, StringConstraints(pattern=f"^{wire.STATUS_CODE_PATTERN}$")],
        Annotated[int, Field(ge=0, le=wire.MAX_HEARTBEAT_COUNT, strict=True)],
    ] = Field(default_factory=dict, max_length=wire.MAX_FAILURE_KINDS)


def build_service(
    config: CentralConfig, clock: Callable[[], float] = time.time
) -> EnrollmentService:
    return EnrollmentService(
        keyring=SealingKeyring.load(config.sealing_keys_dir),
        verifier=JpkiVerifier.from_paths(config.jpki_ca, config.crl_dir),
        provider=FileAccountsProvider(config.accounts_file),
        store=open_store(config.database, config.dsn),
        catalog=Catalog(config.services_file, config.campaigns_file),
        hash_key=config.hash_key(),
        status_challenge_seconds=config.status_challenge_seconds,
        clock=clock,
        procedures=insurer.judges(config.insurer_file) | municipal.judges(config.municipal_file),
        stage_cpu=config.stage_cpu,
    )


def create_app(
    config: CentralConfig,
    service: EnrollmentService | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The service's HTTP API; ``clock`` stamps heartbeats and judges a kiosk stale."""
    service = service or build_service(config, clock)
    app = FastAPI(
        title="Mynapoint reference central service",
        version="1",
        description="Enrollment ingest for Mynapoint kiosks. Mutual TLS: the client"
        " certificate's CN is the kiosk id.",
        openapi_url="/openapi.json" if config.openapi else None,
        docs_url="/docs" if config.openapi else None,
        redoc_url="/redoc" if config.openapi else None,
        # Starlette would answer "/v1/health/" (or "/v1/health%2F") with a redirect to
        # an absolute URL built from the Host header; an unknown path is a plain 404.
        redirect_slashes=False,
    )
    app.state.service = service
    # metrics and the operator console (issue 13), served on the operator listener
    metrics = CentralMetrics()
    metrics.watch_stages(service.stage_seconds_snapshot, lambda: service.store.races)
    app.add_middleware(BodyLimit, fast=IngestFastPath(service, metrics, config.ingest_threads))
    app.state.operator_app = create_operator_app(config, service.store, metrics, clock)
    console_data = app.state.operator_app.state.data
    metrics.watch_fleet(service.store.kiosks, console_data.out_of_service, clock)

    @app.post(wire.BATCH_PATH)
    def enroll_batch(
        response: Response,
        body: BatchRequest | list[dict[str, Any]] = Body(...),  # noqa: B008
        kiosk: str = Depends(kiosk_id),
    ) -> dict[str, Any]:
        """One answer per item, same order, keyed by enrollment_id."""
        items = body.items if isinstance(body, BatchRequest) else body
        if len(items) > wire.MAX_BATCH_ITEMS:
            raise HTTPException(status_code=413, detail="too many items in one batch")
        with metrics.timed("batch"):
            results = service.process_batch(items, kiosk)
        metrics.decided(results)
        if results and all(r["status"] == wire.RETRY for r in results):
            response.headers["Retry-After"] = str(results[0]["retry_after"])
        return {"results": results}

    @app.put(wire.ITEM_PATH)
    def enroll_one(
        enrollment_id: str,
        response: Response,
        item: dict[str, Any] = Body(...),  # noqa: B008
        kiosk: str = Depends(kiosk_id),
    ) -> dict[str, Any]:
        """One enrollment: 200 accepted/rejected, 422 conflict, 503 retry."""
        if item.get("enrollment_id") != enrollment_id:
            raise HTTPException(status_code=400, detail="enrollment id differs from the path")
        with metrics.timed("item"):
            result = service.process(item, kiosk)
        metrics.decided([result])
        if result["status"] == wire.CONFLICT:
            response.status_code = 422
        elif result["status"] == wire.RETRY:
            response.status_code = 503
            response.headers["Retry-After"] = str(result["retry_after"])
        return result

    @app.post(wire.STATUS_CHALLENGE_PATH)
    def status_challenge(kiosk: str = Depends(kiosk_id)) -> dict[str, Any]:
        """A fresh single-use nonce for the card to sign (申込状況の確認)."""
        return service.new_challenge(kiosk)

    @app.post(wire.STATUS_PATH)
    def status(body: StatusRequest, kiosk: str = Depends(kiosk_id)) -> dict[str, Any]:
        """What the card's holder chose and whether it is done."""
        try:
            return service.person_status(
                kiosk, body.nonce, wire.b64d(body.certificate), wire.b64d(body.signature)
            )
        except ChallengeInvalid as exc:
            raise HTTPException(status_code=409, detail={"reason": "challenge_invalid"}) from exc
        except Rejection as exc:
            raise HTTPException(status_code=403, detail={"reason": exc.reason}) from exc
        except ValueError as exc:
            raise HTTPException(status_code=400, detail={"reason": "malformed"}) from exc

    @app.get(wire.CATALOG_PATH)
    def catalog(kiosk: str = Depends(kiosk_id)) -> dict[str, Any]:
        return service.catalog.services_document()

    @app.get(wire.CAMPAIGNS_PATH)
    def campaigns(kiosk: str = Depends(kiosk_id)) -> dict[str, Any]:
        return service.catalog.campaigns_document()

    @app.get(wire.SEALING_KEY_PATH)
    def sealing_key(kiosk: str = Depends(kiosk_id)) -> dict[str, Any]:
        """The key kiosks should seal new enrollments to."""
        key_id = service.keyring.current_key_id
        return {"key_id": key_id, "public_key_pem": service.keyring.public_pem(key_id).decode()}

    @app.post(wire.HEARTBEAT_PATH)
    def heartbeat(body: Heartbeat, kiosk: str = Depends(kiosk_id)) -> dict[str, Any]:
        service.store.heartbeat(kiosk, body.model_dump(), clock())
        out = console_data.is_out_of_service(kiosk)
        return {"kiosk_id": kiosk, "ok": True, wire.OUT_OF_SERVICE: out}

    @app.api_route("/metrics", methods=["GET", "POST"])
    @app.api_route("/console{rest:path}", methods=["GET", "POST"])
    def operator_only(kiosk: str = Depends(kiosk_id)) -> Response:
        """A kiosk never sees the fleet: the console and metrics are on the operator listener."""
        return JSONResponse(status_code=403, content={"detail": {"reason": "operator_only"}})

    @app.get(wire.KIOSKS_PATH)
    def kiosks(kiosk: str = Depends(kiosk_id)) -> dict[str, Any]:
        """Every kiosk's health; stale when no heartbeat for ``stale_minutes``."""
        return {"kiosks": kiosk_health(service.store.kiosks(), config.stale_minutes, clock())}

    @app.get(wire.HEALTH_PATH)
    def health(kiosk: str = Depends(kiosk_id)) -> dict[str, Any]:
        return {"ok": True, "backend": service.store.backend}

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """422 naming what is wrong and where, never echoing the value sent: it may be a
        security code, or NaN, which JSON cannot carry back."""
        errors = [
            {
                "type": str(e.get("type")),
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg")),
            }
            for e in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": errors})

    @app.exception_handler(StoreUnavailable)
    def store_unavailable(request: Request, exc: StoreUnavailable) -> Response:
        return Response(status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(CannotJudge)  # status check for a CA the trust store lacks
    @app.exception_handler(RevocationUnknown)  # status check while the CRLs are stale
    def revocation_unknown(request: Request, exc: CentralError) -> Response:
        return Response(status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    return app


def uvicorn_options(config: CentralConfig) -> dict[str, Any]:
    """How uvicorn serves the app: HTTPS, a client certificate required, its CN to the app."""
    return {
        "host": config.host,
        "port": config.port,
        "ssl_certfile": str(config.tls_cert),
        "ssl_keyfile": str(config.tls_key),
        "ssl_ca_certs": str(config.client_ca),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "http": MutualTlsH11Protocol,
        "log_level": "info",
        "access_log": False,
        "timeout_graceful_shutdown": config.shutdown_grace_seconds,
        "timeout_keep_alive": config.limits.keepalive_timeout,
    }


def make_server(config: CentralConfig, app: FastAPI, **uvicorn_config: Any) -> CentralServer:
    """The server for ``app``: capped connections and deadlines (central/serving.py), on
    HTTPS or, with ``config.unix_socket``, on the unix socket behind nginx."""
    options = {**uvicorn_options(config), **uvicorn_config}
    return CentralServer(uvicorn.Config(app, **options), config.limits, config.unix_socket)


def serve(config: CentralConfig, app: FastAPI | None = None) -> None:
    app = app or create_app(config)
    operator = start_operator_listener(config, app)
    try:
        make_server(config, app).run()
    finally:
        if operator is not None:
            operator.should_exit = True


def start_operator_listener(config: CentralConfig, app: FastAPI) -> uvicorn.Server | None:
    """The console and /metrics on their own port, on a thread (None when not configured)."""
    if not config.operator_port:
        return None
    import threading

    server = CentralServer(  # the same connection cap and deadlines as the kiosk listener
        uvicorn.Config(
            app.state.operator_app,
            log_config=None,
            **operator_uvicorn_options(config, MutualTlsH11Protocol),
        ),
        config.limits,
    )
    threading.Thread(target=server.run, name="operator-listener", daemon=True).start()
    return server


def init_directory(
    directory: Path, jpki_ca: list[Path], kiosks: list[str], port: int = 8443
) -> Path:
    """A ready-to-run development setup: TLS PKI, sealing key, hash key, config."""
    from central.devcerts import DevTLS

    directory.mkdir(parents=True, exist_ok=True)
    tls = DevTLS.load_or_create(directory / "tls")
    for kiosk in kiosks:
        tls.issue_kiosk(kiosk)
    if not any((directory / "sealing").glob("*.key.pem")):
        write_new_sealing_key(directory / "sealing")
    hash_key = directory / "hash.key"
    if not hash_key.exists():  # created 0600: never readable by others, not even briefly
        fd = os.open(hash_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_bytes(32))
    (directory / "crl").mkdir(exist_ok=True)
    accounts = directory / "accounts.json"
    if not accounts.exists():
        accounts.write_text('{"accounts": []}\n', encoding="utf-8")
    insurer_file = directory / "insurer.json"
    if not insurer_file.exists():  # every insurer covered, nobody registered yet
        insurer_file.write_text('{"default": "covered"}\n', encoding="utf-8")
    municipal_file = directory / "municipal.json"
    if not municipal_file.exists():  # nobody eligible for any municipal campaign yet
        municipal_file.write_text('{"eligible": {}, "municipality_of": {}}\n', encoding="utf-8")
    config = directory / "central.toml"
    ca_list = ", ".join(f'"{p.resolve()}"' for p in jpki_ca)
    config.write_text(
        f'port = {port}\ndatabase = "central.sqlite3"\nhash_key_file = "hash.key"\n'
        f'[tls]\ncert = "tls/server.pem"\nkey = "tls/server.key.pem"\nclient_ca = "tls/ca.pem"\n'
        f'[sealing]\nkeys_dir = "sealing"\n[trust]\njpki_ca = [{ca_list}]\ncrl_dir = "crl"\n'
        f'[provider]\naccounts = "accounts.json"\n[insurer]\nfile = "insurer.json"\n'
        f'[municipal]\nfile = "municipal.json"\n',
        encoding="utf-8",
    )
    return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mynapoint-central", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    init = sub.add_parser("init", help="make a development setup in a directory")
    init.add_argument("directory", type=Path)
    init.add_argument("--jpki-ca", type=Path, action="append", default=[], required=True)
    init.add_argument("--kiosk", action="append", default=[])
    init.add_argument("--port", type=int, default=8443)
    operator = sub.add_parser(
        "operator", help="operator accounts of the console (password read from stdin)"
    )
    operator.add_argument("action", choices=["add"])
    operator.add_argument("name")
    operator.add_argument("--role", choices=["viewer", "admin"], default="viewer")
    operator.add_argument("--config", type=Path, required=True, dest="operator_config")
    parser.add_argument("--config", type=Path, help="central.toml")
    parser.add_argument("--port", type=int, help="override the configured port")
    parser.add_argument("--dsn", help="PostgreSQL DSN (overrides the configured database)")
    parser.add_argument(
        "--unix-socket",
        type=Path,
        help="listen on this unix socket behind nginx (docs/central.md), not on HTTPS",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command == "init":
        print(init_directory(args.directory, args.jpki_ca, args.kiosk, args.port))
        return
    if args.command == "operator":
        raise SystemExit(operator_command(args))
    if args.config is None:
        parser.error("--config is required")
    try:
        config = CentralConfig.load(args.config)
        overrides: dict[str, Any] = {}
        if args.port:
            overrides["port"] = args.port
        if args.dsn:
            overrides["dsn"] = args.dsn
        if args.unix_socket:
            overrides["unix_socket"] = args.unix_socket.resolve()
        config = replace(config, **overrides)
        config.check_files()
        app = create_app(config)
    except CentralError as exc:
        print(f"mynapoint-central: {exc.kind}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    serve(config, app)


def operator_command(args: argparse.Namespace) -> int:
    """``mynapoint-central operator add NAME --role admin --config central.toml``: the
    password is the first line of stdin (never an argument: argv is visible to others)."""
    from central.console.auth import Operators

    password = sys.stdin.readline().rstrip("\r\n")
    try:
        config = CentralConfig.load(args.operator_config)
        store = open_store(config.database, config.dsn)
        Operators(store, time.time).add(args.name, password, args.role)
    except CentralError as exc:
        print(f"mynapoint-central: {exc.kind}: {exc}", file=sys.stderr)
        return 2
    print(f"operator {args.name} added ({args.role})")
    return 0


if __name__ == "__main__":
    main()
