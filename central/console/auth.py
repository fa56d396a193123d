"""Operator accounts and sessions of the console: argon2 hashes, lockout, roles.

Operators are people, not kiosks: they log in with a name and password on the operator
listener; kiosk certificates are refused there. Passwords are hashed with argon2id
(``argon2-cffi``, its default parameters). After ``MAX_FAILURES`` wrong passwords in a
row an account is locked for ``LOCK_SECONDS`` (even the right password is refused
meanwhile). A session is a random token in a cookie; the database keeps its SHA-256,
its CSRF token and its expiry (``SESSION_SECONDS`` after login).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from central.errors import CentralError

ROLES = ("viewer", "admin")
MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60
SESSION_SECONDS = 8 * 3600
MIN_PASSWORD = 12
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
_hasher = PasswordHasher()
# Verified when the name is unknown, so a wrong name costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class OperatorError(CentralError):
    kind = "operator_invalid"


@dataclass(frozen=True)
class Session:
    name: str
    role: str
    csrf: str
    expires_at: float


class LoginRefused(Exception):
    """Wrong name or password (``reason="wrong"``) or a locked account (``"locked"``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Operators:
    """Accounts and sessions in the central store (tables in ``console/schema.py``)."""

    def __init__(self, store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    def add(self, name: str, password: str, role: str) -> None:
        if not name or len(name) > 64 or not set(name) <= _NAME_CHARS:
            raise OperatorError("an operator name is 1-64 of a-z 0-9 . _ -")
        if role not in ROLES:
            raise OperatorError(f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise OperatorError(f"a password has at least {MIN_PASSWORD} characters")
        with self.store.transaction() as tx:
            row = tx.one(
                "INSERT INTO operators (name, password_hash, role, failures, locked_until,"
                " created_at) VALUES (?, ?, ?, 0, 0, ?) ON CONFLICT (name) DO NOTHING"
                " RETURNING name",
                (name, _hasher.hash(password), role, self.clock()),
            )
        if row is None:
            raise OperatorError(f"operator {name} exists already")

    def login(self, name: str, password: str) -> tuple[str, Session]:
        """(cookie token, session) for the right password; LoginRefused otherwise."""
        now = self.clock()
        with self.store.transaction(write=False) as tx:
            row = tx.one(
                "SELECT password_hash, role, failures, locked_until FROM operators WHERE name = ?",
                (name,),
            )
        if row is None:
            try:
                _hasher.verify(_DUMMY_HASH, password)
            except VerificationError:
                pass
            raise LoginRefused("wrong")
        password_hash, role, _failures, locked_until = row
        if locked_until > now:
            raise LoginRefused("locked")
        try:
            _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            with self.store.transaction() as tx:
                tx.all("UPDATE operators SET failures = failures + 1 WHERE name = ?", (name,))
                tx.all(
                    "UPDATE operators SET locked_until = ?, failures = 0"
                    " WHERE name = ? AND failures >= ?",
                    (now + LOCK_SECONDS, name, MAX_FAILURES),
                )
                locked = tx.one("SELECT locked_until FROM operators WHERE name = ?", (name,))
            raise LoginRefused("locked" if locked and locked[0] > now else "wrong") from None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        session = Session(name, role, csrf, now + SESSION_SECONDS)
        with self.store.transaction() as tx:
            tx.all("UPDATE operators SET failures = 0 WHERE name = ?", (name,))
            tx.all("DELETE FROM operator_sessions WHERE expires_at < ?", (now,))
            tx.all(
                "INSERT INTO operator_sessions (token_hash, name, csrf, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (_token_hash(token), name, csrf, session.expires_at),
            )
        return token, session

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie token, None when absent, unknown or expired."""
        if not token or len(token) > 100:
            return None
        with self.store.transaction(write=False) as tx:
            row = tx.one(
                "SELECT s.name, o.role, s.csrf, s.expires_at FROM operator_sessions s"
                " JOIN operators o ON o.name = s.name WHERE s.token_hash = ?",
                (_token_hash(token),),
            )
        if row is None or row[3] <= self.clock():
            return None
        return Session(row[0], row[1], row[2], float(row[3]))

    def logout(self, token: str | None) -> None:
        if token:
            with self.store.transaction() as tx:
                tx.all("DELETE FROM operator_sessions WHERE token_hash = ?", (_token_hash(token),))

    @staticmethod
    def csrf_ok(session: Session, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(session.csrf, sent or "")
