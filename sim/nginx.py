"""Debian's nginx in front of N central workers on unix sockets, on loopback: the
production set-up of docs/central.md with the shipped ``central/deploy/nginx.conf``.

:class:`NginxCentral` starts the workers (``mynapoint-central --unix-socket``) and nginx
and stops them; its ``service`` is a :class:`~sim.central.CentralService` whose
``base_url`` and ``port`` are nginx's, so ``session()``, ``make_item()`` and the rest
work as with the embedded service. The shipped file is used as it is, with only its
production paths (TLS files, ``/run/mynapoint-central``), its port and its upstream's
worker lines rewritten; it is included from a minimal main config of our own (prefix
directory, pid and temp paths in our directory, no daemon). As root nginx's workers run
as root too (our directories are root's); in production they are www-data. Used by
``tests/fixtures/nginx.py`` and ``bench/bench_central.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import requests

from central.app import __file__ as _central_app
from contract import wire
from sim.central import CentralService, _central_command, free_port
from sim.waiting import eventually

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SHIPPED_CONF = Path(_central_app).parent / "deploy" / "nginx.conf"
_WORKER_LINE = re.compile(r"^ *server unix:/run/mynapoint-central/worker-\d+\.sock[^\n]*\n", re.M)


def render_nginx_conf(
    prefix: Path, service: CentralService, run_dir: Path, port: int, workers: int = 2
) -> Path:
    """The shipped file with our paths, port and ``workers`` upstream lines; and a main
    config including it."""
    text = SHIPPED_CONF.read_text()
    lines = _WORKER_LINE.findall(text)
    assert lines, f"no worker lines in the upstream of {SHIPPED_CONF}"
    upstream = "".join(
        re.sub(r"worker-\d+\.sock", f"worker-{n}.sock", lines[0]) for n in range(1, workers + 1)
    )
    text = text.replace("".join(lines), upstream)
    for production, ours in (
        ("/etc/mynapoint-central/tls/server.pem", service.tls.server_cert),
        ("/etc/mynapoint-central/tls/server.key.pem", service.tls.server_key),
        ("/etc/mynapoint-central/tls/kiosk-ca.pem", service.tls.ca_cert),
        ("/run/mynapoint-central/", f"{run_dir}/"),
        ("listen 8443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
    ):
        assert production in text, f"{production} is no longer in {SHIPPED_CONF}"
        text = text.replace(production, str(ours))
    site = prefix / "mynapoint-central.conf"
    site.write_text(text)
    temp = prefix / "temp"
    temp.mkdir(exist_ok=True)
    user = "user root root;\n" if os.geteuid() == 0 else ""
    main = prefix / "nginx.conf"
    main.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log info;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {temp}/body;\n"
        f"  proxy_temp_path {temp}/proxy;\n  fastcgi_temp_path {temp}/fastcgi;\n"
        f"  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n"
        f"  include {site};\n}}\n"
    )
    return main


class NginxCentral:
    """nginx and ``workers`` central processes for the prepared (not started) ``service``,
    in ``base`` (a directory of its own)."""

    def __init__(
        self, service: CentralService, base: Path, workers: int = 2, operators: bool = False
    ) -> None:
        """``operators``: each worker gets an operator listener (``/metrics``) of its own,
        at ``operator_urls[n]`` (a copy of the config per worker)."""
        self.base = base
        self.operator_ports = [free_port() for _ in range(workers)] if operators else []
        self.workers_wanted = workers
        self.run_dir = base / "run"
        self.prefix = base / "nginx"
        self.port = free_port()
        self.service = replace(service, port=self.port)
        self.workers: list[subprocess.Popen] = []
        self.nginx: subprocess.Popen | None = None
        self.nginx_log = self.prefix / "error.log"
        self.log_file = base / "workers.log"

    @staticmethod
    def available() -> bool:
        return Path(NGINX).exists()

    def start(self, timeout: float = 60) -> NginxCentral:
        self.run_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
        self.run_dir.chmod(0o750)
        self.prefix.mkdir(parents=True, exist_ok=True)
        conf = render_nginx_conf(
            self.prefix, self.service, self.run_dir, self.port, self.workers_wanted
        )
        with self.log_file.open("ab") as log:
            for n in range(1, self.workers_wanted + 1):
                command = [*_central_command(), "--config", str(self._worker_config(n))]
                command += ["--unix-socket", str(self.run_dir / f"worker-{n}.sock")]
                if self.service.dsn:
                    command += ["--dsn", self.service.dsn]
                self.workers.append(
                    subprocess.Popen(
                        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
            self.nginx = subprocess.Popen(
                [NGINX, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.nginx_log)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            eventually(self._ready, timeout, "nginx and the central workers answering", 0.2)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def operator_urls(self) -> list[str]:
        return [f"https://127.0.0.1:{port}" for port in self.operator_ports]

    def _worker_config(self, n: int) -> Path:
        if not self.operator_ports:
            return self.service.config_file
        text = self.service.config_file.read_text(encoding="utf-8")
        assert "[operator]" not in text, "the service already has an operator listener"
        config = self.service.config_file.with_name(f"central-worker-{n}.toml")
        port = self.operator_ports[n - 1]
        config.write_text(f"{text}[operator]\nport = {port}\n", encoding="utf-8")
        return config

    def _ready(self) -> bool:
        for process in [*self.workers, self.nginx]:
            assert process is not None
            if process.poll() is not None:
                raise RuntimeError(
                    f"exited: {process.args}\n" + self.log_file.read_text(errors="replace")
                )
        sockets = [self.run_dir / f"worker-{n}.sock" for n in range(1, len(self.workers) + 1)]
        if not all(s.exists() for s in sockets):
            return False
        try:
            with self.service.session() as s:
                return s.get(self.service.base_url + wire.HEALTH_PATH, timeout=5).ok
        except requests.RequestException:
            return False

    def stop(self) -> None:
        processes = [*self.workers, *([self.nginx] if self.nginx else [])]
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
