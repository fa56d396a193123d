"""A throwaway PostgreSQL cluster: initdb + pg_ctl in a temporary directory, unix socket only.

``PostgresCluster().start()`` makes a private one; ``.new_database()`` returns a DSN;
``.halt()`` / ``.start()`` take it down (as a crash) and up on the same data,
``.stop()`` deletes it. Used by the central tests and ``bench/bench_central.py``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from sim.central import free_port

PG_BIN = Path(os.environ.get("MYNAPOINT_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresCluster:
    """initdb + pg_ctl in a temporary directory; unix socket only, no TCP."""

    def __init__(self, bindir: Path = PG_BIN, fsync: bool = False) -> None:
        self.bindir = bindir
        self.fsync = fsync
        self.directory = Path(tempfile.mkdtemp(prefix="mynapoint-pg-"))
        self.port = free_port()
        self._user = self._run_as()

    @staticmethod
    def available(bindir: Path = PG_BIN) -> bool:
        return (bindir / "initdb").exists() and (bindir / "pg_ctl").exists()

    @staticmethod
    def _run_as() -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        user = pwd.getpwnam("postgres")  # PostgreSQL refuses to run as root
        return {"user": user.pw_uid, "group": user.pw_gid}

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            args, check=True, timeout=timeout, capture_output=True, cwd=self.directory, **self._user
        )

    def start(self) -> PostgresCluster:
        """Create the cluster on first start; start (again) on the same data."""
        if self._user:
            os.chown(self.directory, self._user["user"], self._user["group"])
        data = self.directory / "data"
        if not (data / "PG_VERSION").exists():
            self._run(
                str(self.bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
        options = (
            f"-c listen_addresses='' -k {self.directory} -p {self.port} -c max_connections=300"
        )
        # Throwaway test data: no fsync (the OS keeps what a killed server wrote), but
        # synchronous_commit stays on, so a commit survives halt() (a server crash).
        if not self.fsync:
            options += " -c fsync=off -c full_page_writes=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(self.directory / "postgres.log"),
            "start",
            timeout=90,
        )
        return self

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.directory} port={self.port} user=postgres dbname={dbname}"

    def new_database(self) -> str:
        """A fresh empty database; returns its DSN."""
        import psycopg

        name = f"central_{secrets.token_hex(4)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def halt(self) -> None:
        """Stop the server (an outage, as clients see it), keeping the data."""
        with contextlib.suppress(Exception):
            self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.directory / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
                timeout=30,
            )

    def stop(self) -> None:
        """Stop the server and delete the cluster."""
        self.halt()
        shutil.rmtree(self.directory, ignore_errors=True)
