"""Configuration of the reference central service: one TOML file.

Paths in the file are relative to the file's own directory. Example::

    host = "127.0.0.1"
    port = 8443
    database = "central.sqlite3"          # SQLite file (default backend)
    # dsn = "host=/run/postgresql dbname=central"   # PostgreSQL wins when given
    hash_key_file = "hash.key"            # 32+ random bytes: keys the stored hashes
    stale_minutes = 10                    # a kiosk without heartbeat this long is stale
    status_challenge_seconds = 120
    shutdown_grace_seconds = 2            # in-flight requests get this long on SIGTERM
    openapi = false                       # true serves /openapi.json, /docs and /redoc
    stage_cpu = false                     # true counts ingest CPU by stage for /metrics
                                          # (mynapoint_ingest_cpu_seconds_total): about
                                          # 2 µs per stage and item, so off by default
    ingest_threads = 1                    # enrollment batches judged at once per process
                                          # (others wait their turn); 0: the shared pool
                                          # of 40. Scale with processes (docs/central.md)
    # unix_socket = "/run/mynapoint-central/worker-1.sock"  # behind nginx only (docs/central.md)

    [limits]                              # one process's limits (central/serving.py)
    max_connections = 2048                # open at once, TLS handshakes included; lowered
                                          # to fit the file-descriptor limit (less 64)
    max_connections_per_ip = 256          # from one address (0: no such cap)
    tls_handshake_timeout = 5             # seconds from accept to a finished handshake
    header_timeout = 10                   # seconds from a request's first byte to its head
    body_timeout = 60                     # seconds from the head to the body's last byte
    keepalive_timeout = 10                # seconds a connection may sit with no request

    [operator]                            # the console and /metrics (central/console/web.py)
    host = "127.0.0.1"                    # loopback: operators come over SSH or a VPN
    port = 8444                           # absent: no operator listener

    [tls]
    cert = "tls/server.pem"
    key = "tls/server.key.pem"
    client_ca = "tls/ca.pem"              # kiosk client certificates must chain here

    [sealing]
    keys_dir = "sealing"                  # *.key.pem X25519 private keys, old ones kept

    [trust]
    jpki_ca = ["jpki/ca-2015.pem", "jpki/ca-2023.pem"]   # files or directories of PEM
    crl_dir = "crl"                       # *.crl / *.pem / *.der revocation lists

    [provider]
    accounts = "accounts.json"            # the reference payment-provider adapter's file

    [insurer]
    file = "insurer.json"                 # the reference insurer adapter's file (健康保険証)

    [municipal]
    file = "municipal.json"               # 自治体マイナポイント eligibility (central/municipal.py)

    [data]
    services = "../kiosk/data/services.toml"
    campaigns = "../kiosk/data/campaigns.toml"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from central.errors import CentralConfigError
from central.serving import Limits

_REPO_DATA = Path(__file__).resolve().parent.parent / "kiosk" / "data"


@dataclass(frozen=True)
class CentralConfig:
    tls_cert: Path
    tls_key: Path
    client_ca: Path
    sealing_keys_dir: Path
    jpki_ca: tuple[Path, ...]
    crl_dir: Path | None
    hash_key_file: Path
    accounts_file: Path | None
    services_file: Path = _REPO_DATA / "services.toml"
    campaigns_file: Path = _REPO_DATA / "campaigns.toml"
    database: Path | None = None
    dsn: str | None = None
    host: str = "127.0.0.1"
    port: int = 8443
    stale_minutes: float = 10.0
    status_challenge_seconds: float = 120.0
    shutdown_grace_seconds: float = 2.0
    openapi: bool = False
    stage_cpu: bool = False
    ingest_threads: int = 1
    limits: Limits = Limits()
    unix_socket: Path | None = None
    insurer_file: Path | None = None  # central/insurer.py's file; None: every item retries
    municipal_file: Path | None = None  # central/municipal.py's file; None: every item retries
    operator_host: str = "127.0.0.1"
    operator_port: int | None = None

    @classmethod
    def load(cls, path: Path) -> CentralConfig:
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CentralConfigError(f"cannot read config {path}: {exc}") from exc
        return cls.from_dict(doc, base=path.parent)

    @classmethod
    def from_dict(cls, doc: dict[str, Any], base: Path) -> CentralConfig:
        def path_of(section: str, key: str, required: bool = True) -> Path | None:
            value = doc.get(section, {}).get(key) if section else doc.get(key)
            if value in (None, ""):
                if required:
                    where = f"[{section}] {key}" if section else key
                    raise CentralConfigError(f"config is missing {where}")
                return None
            return (base / str(value)).resolve()

        jpki = doc.get("trust", {}).get("jpki_ca", [])
        if isinstance(jpki, str):
            jpki = [jpki]
        if not jpki:
            raise CentralConfigError("config is missing [trust] jpki_ca")
        data = doc.get("data", {})
        database = path_of("", "database", required=False)
        dsn = doc.get("dsn") or None
        if database is None and dsn is None:
            database = (base / "central.sqlite3").resolve()
        return cls(
            tls_cert=path_of("tls", "cert"),  # type: ignore[arg-type]
            tls_key=path_of("tls", "key"),  # type: ignore[arg-type]
            client_ca=path_of("tls", "client_ca"),  # type: ignore[arg-type]
            sealing_keys_dir=path_of("sealing", "keys_dir"),  # type: ignore[arg-type]
            jpki_ca=tuple((base / str(p)).resolve() for p in jpki),
            crl_dir=path_of("trust", "crl_dir", required=False),
            hash_key_file=path_of("", "hash_key_file"),  # type: ignore[arg-type]
            accounts_file=path_of("provider", "accounts", required=False),
            insurer_file=path_of("insurer", "file", required=False),
            municipal_file=path_of("municipal", "file", required=False),
            services_file=(base / data["services"]).resolve()
            if data.get("services")
            else _REPO_DATA / "services.toml",
            campaigns_file=(base / data["campaigns"]).resolve()
            if data.get("campaigns")
            else _REPO_DATA / "campaigns.toml",
            database=database,
            dsn=dsn,
            host=str(doc.get("host", "127.0.0.1")),
            port=int(doc.get("port", 8443)),
            stale_minutes=float(doc.get("stale_minutes", 10.0)),
            status_challenge_seconds=float(doc.get("status_challenge_seconds", 120.0)),
            shutdown_grace_seconds=float(doc.get("shutdown_grace_seconds", 2.0)),
            openapi=_boolean(doc, "openapi"),
            stage_cpu=_boolean(doc, "stage_cpu"),
            ingest_threads=_count(doc, "ingest_threads", default=1),
            limits=_limits(doc.get("limits", {})),
            unix_socket=path_of("", "unix_socket", required=False),
            operator_host=str(doc.get("operator", {}).get("host", "127.0.0.1")),
            operator_port=_port_or_none(doc.get("operator", {}).get("port")),
        )

    def check_files(self) -> None:
        """Every configured file the service cannot start without exists."""
        for what, path in (
            ("[tls] cert", self.tls_cert),
            ("[tls] key", self.tls_key),
            ("[tls] client_ca", self.client_ca),
            ("hash_key_file", self.hash_key_file),
        ):
            if not path.is_file():
                raise CentralConfigError(f"{what} not found: {path}")
        if not self.sealing_keys_dir.is_dir():
            raise CentralConfigError(f"[sealing] keys_dir not found: {self.sealing_keys_dir}")
        for path in self.jpki_ca:
            if not path.exists():
                raise CentralConfigError(f"[trust] jpki_ca not found: {path}")

    def hash_key(self) -> bytes:
        try:
            key = self.hash_key_file.read_bytes()
        except OSError as exc:
            raise CentralConfigError(f"cannot read hash key: {exc}") from exc
        if len(key) < 32:
            raise CentralConfigError("the hash key must hold at least 32 random bytes")
        return key


def _limits(section: dict[str, Any]) -> Limits:
    fields = Limits.__dataclass_fields__
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise CentralConfigError(f"config [limits] has unknown keys: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in section.items():
        kind = int if key.startswith("max_") else float
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CentralConfigError(f"config [limits] {key} must be a number")
        values[key] = kind(value)
    limits = Limits(**values)
    limits.check()
    return limits


def _boolean(doc: dict[str, Any], key: str) -> bool:
    value = doc.get(key, False)
    if not isinstance(value, bool):
        raise CentralConfigError(f"config {key} must be true or false")
    return value


def _count(doc: dict[str, Any], key: str, default: int) -> int:
    value = doc.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 256:
        raise CentralConfigError(f"config {key} must be a whole number from 0 to 256")
    return value


def _port_or_none(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
        raise CentralConfigError("config [operator] port must be a port number")
    return value
