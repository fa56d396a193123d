"""The kiosk's own link to the central service, for what cannot wait for the sync worker.

申込状況の確認 (the status challenge, then the card-signed status query), the health
probe behind the online badge, and the catalog refresh. Mutual TLS with the pinned CA
(``offline_queue.transport.mtls_session``); the environment's proxies and CA bundle are
ignored. Calls block for at most ``timeout``: the controller makes them on its
``central`` worker, never on the UI thread. Errors are the controller's
(``CentralUnreachable``, ``StatusChallengeExpired``, ``CentralRefused``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from contract import wire
from kiosk.controller import CentralRefused, CentralUnreachable, StatusChallengeExpired
from offline_queue.transport import mtls_session


class CentralLink:
    """The kiosk's own HTTPS client for what cannot wait for the sync worker (status, health)."""

    def __init__(
        self,
        base_url: str,
        ca_cert: str | Path,
        client_cert: str | Path,
        client_key: str | Path,
        timeout: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = mtls_session(ca_cert, client_cert, client_key)

    def healthy(self) -> bool:
        try:
            return self._session.get(self.base_url + wire.HEALTH_PATH, timeout=self.timeout).ok
        except requests.RequestException:
            return False

    def get_json(self, path: str) -> Any:
        """GET a path of the central service (the catalog refresh); raises CentralUnreachable."""
        try:
            response = self._session.get(self.base_url + path, timeout=self.timeout)
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as error:
            raise CentralUnreachable(type(error).__name__) from None

    def status_challenge(self) -> str:
        answer = self._post(wire.STATUS_CHALLENGE_PATH, {})
        return str(answer["nonce"])

    def person_status(self, nonce: str, certificate_der: bytes, signature: bytes) -> dict:
        body = {
            "nonce": nonce,
            "certificate": wire.b64e(certificate_der),
            "signature": wire.b64e(signature),
        }
        return self._post(wire.STATUS_PATH, body)

    def _post(self, path: str, body: dict) -> dict:
        try:
            response = self._session.post(self.base_url + path, json=body, timeout=self.timeout)
        except requests.RequestException as error:
            raise CentralUnreachable(type(error).__name__) from None
        if response.status_code == 409:
            raise StatusChallengeExpired("status challenge unknown, used or expired")
        if response.status_code == 403:
            raise CentralRefused(_reason_of(response))
        if not response.ok:
            raise CentralUnreachable(f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise CentralUnreachable("answer is not JSON") from None

    def close(self) -> None:
        self._session.close()


def _reason_of(response: requests.Response) -> str:
    try:
        reason = response.json()["detail"]["reason"]
    except (ValueError, KeyError, TypeError):
        return "malformed"
    return reason if reason in wire.REJECTION_REASONS else "malformed"
