"""HTTPS to the central service from the kiosk's side: mutual TLS with the CA pinned.

Every client of the central service on the kiosk (the sync worker, the fleet
heartbeat, the kiosk's own link for status checks, health and the catalog) gets its
session from :func:`mtls_session`, and names a failed request with
:func:`transport_error_kind`, so the pinning is written once.

It lives in ``offline_queue`` because the sync worker needs it and may import only
``contract``, and ``kiosk`` imports ``offline_queue``; ``contract`` is what the kiosk
and the central service share, and the central service makes no client sessions.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import requests
import urllib3

from offline_queue import policy


def mtls_session(
    ca_path: str | Path, client_cert: str | Path, client_key: str | Path
) -> requests.Session:
    """A requests session that trusts only ``ca_path`` and shows this kiosk's certificate.

    ``trust_env`` is off: a ``REQUESTS_CA_BUNDLE`` in the environment would replace the
    pinned CA (and a proxy could sit in the middle). Certificate checks are never turned off.
    """
    if not Path(ca_path).is_file():
        raise FileNotFoundError(f"pinned CA file {ca_path} does not exist")
    session = requests.Session()
    session.verify = str(ca_path)
    session.cert = (str(client_cert), str(client_key))
    session.trust_env = False
    return session


def mtls_context(
    ca_path: str | Path, client_cert: str | Path, client_key: str | Path
) -> ssl.SSLContext:
    """The same pinning as :func:`mtls_session`, as an ``ssl.SSLContext`` for urllib3:
    only ``ca_path`` is trusted (no system store), the host name is checked, TLS 1.2+.

    Raises FileNotFoundError when the CA file is missing, ``OSError`` or ``ssl.SSLError``
    when the client certificate or key cannot be read.
    """
    if not Path(ca_path).is_file():
        raise FileNotFoundError(f"pinned CA file {ca_path} does not exist")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname on
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=str(ca_path))
    context.load_cert_chain(str(client_cert), str(client_key))
    return context


def urllib3_error_kind(error: Exception) -> str:
    """:func:`transport_error_kind` for urllib3's own exceptions (the sync worker's pool)."""
    if isinstance(error, urllib3.exceptions.SSLError):
        return policy.ERROR_TLS
    if isinstance(error, urllib3.exceptions.NewConnectionError):  # subclasses the timeout
        return policy.ERROR_UNREACHABLE
    if isinstance(error, urllib3.exceptions.TimeoutError):
        return policy.ERROR_TIMEOUT
    return policy.ERROR_UNREACHABLE


def transport_error_kind(error: requests.RequestException) -> str:
    """The error kind of a request that got no answer: timeout, TLS, or unreachable."""
    if isinstance(error, requests.exceptions.Timeout):
        return policy.ERROR_TIMEOUT
    if isinstance(error, requests.exceptions.SSLError):
        return policy.ERROR_TLS
    return policy.ERROR_UNREACHABLE
