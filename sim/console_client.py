"""An operator's HTTP client for the console (tests and bench): pinned CA, cookies, CSRF."""

from __future__ import annotations

import re
from typing import Any

import requests

from sim.central import CentralService

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class OperatorClient:
    def __init__(self, central: CentralService) -> None:
        self.central = central
        self.http = requests.Session()
        self.http.verify = str(central.ca_cert)
        self.http.trust_env = False
        self.last: requests.Response | None = None

    def page(self, path: str, **kwargs: Any) -> requests.Response:
        self.last = self.http.get(self.central.operator_url + path, timeout=20, **kwargs)
        return self.last

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> requests.Response:
        self.last = self.http.post(
            self.central.operator_url + path, data=data, timeout=20, **kwargs
        )
        return self.last

    def csrf(self) -> str:
        assert self.last is not None
        found = _CSRF.search(self.last.text)
        assert found, "no CSRF token on the page"
        return found.group(1)

    def login(self, name: str, password: str) -> requests.Response:
        self.page("/console/login")
        return self.post(
            "/console/login", {"name": name, "password": password, "csrf": self.csrf()}
        )
