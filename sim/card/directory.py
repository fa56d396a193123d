"""A virtual card on disk: made once from the test PKI, run by any process.

A card directory holds the card's key and certificates (``auth_key.pem``,
``auth_cert.der``, ``ca_cert.der``), the signing side's in ``signing/`` (the same
three names), its profile ``card.json`` (the test PIN in the
clear: a made-up card, never a person's) and, once a PIN was tried, its counters in
``state.json``, written before the card answers (like EEPROM), so a blocked card
stays blocked across restarts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from dataclasses import fields
from pathlib import Path

from drivers import jpki
from sim.card.model import JPKI_TOKEN, CardModel, CardProfile, PinCounters
from sim.pki import CardIdentity, TestPKI

PIN_STATE_FILE = "state.json"
PROFILE_FILE = "card.json"
SIGNING_DIR = "signing"
_signing_key = None  # one stand-in signing key per process: a key takes ~0.1 s to make


class PinStateFile(PinCounters):
    """PIN counters in the card directory's ``state.json``, read and written each time
    (two processes on one card directory see one counter)."""

    def __init__(self, card_dir: Path) -> None:
        self.path = Path(card_dir) / PIN_STATE_FILE

    def _load(self) -> dict[str, int]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, key: str, full: int = jpki.PIN_MAX_TRIES) -> int:
        return self._load().get(key, full)

    def set(self, key: str, tries: int) -> None:
        state = self._load()
        state[key] = tries
        tmp = self.path.with_name(PIN_STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.path)


def load_profile(card_dir: Path) -> CardProfile:
    card_dir = Path(card_dir)
    saved = json.loads((card_dir / PROFILE_FILE).read_text())
    signing_dir = card_dir / SIGNING_DIR
    extra = {}
    if signing_dir.is_dir():  # cards made before the signing side have none
        extra["signing"] = CardIdentity.load(signing_dir)
    if "signing_password" in saved:
        extra["signing_password"] = saved["signing_password"]
    return CardProfile(
        **extra,
        contactless=bool(saved.get("contactless", False)),
        identity=CardIdentity.load(card_dir),
        pin=saved["pin"],
        my_number=saved["my_number"],
        blocked_encoding=saved.get("blocked_encoding", "63C0"),
        get_response=bool(saved.get("get_response", False)),
        token=saved.get("token", JPKI_TOKEN),
    )


def load_card(card_dir: Path) -> CardModel:
    """The card in ``card_dir``, its PIN counters kept in that directory."""
    return CardModel(load_profile(card_dir), PinStateFile(card_dir))


def make_card(
    pki_dir: Path,
    out: Path,
    *,
    expired: bool = False,
    pin: str = "1234",
    generation: str = "2023",
    blocked_encoding: str = "63C0",
    pki: TestPKI | None = None,
    get_response: bool = False,
    signing_password: str = "TESTPASS1",  # noqa: S107 - a virtual test card's
    contactless: bool = False,
) -> Path:
    """Issue a new card from the test PKI in ``pki_dir`` and write it to ``out``.

    The signing side's certificate is a stand-in issued by the same test PKI (a real
    one comes from the JPKI signing CA and carries the holder's name and address; this
    one carries nothing about anybody).
    """
    global _signing_key
    if len(pin) != jpki.PIN_LENGTH or not pin.isdigit():
        raise ValueError("the user-authentication PIN is 4 digits")
    if len(signing_password) not in jpki.SIGN_PIN_LENGTHS or not (
        signing_password.isascii() and signing_password.isalnum()
    ):
        raise ValueError("the signing password is 6 to 16 letters and digits")
    pki = pki or TestPKI.load_or_create(Path(pki_dir))
    signing = pki.issue_card(generation=generation, key=_signing_key)
    _signing_key = signing.key
    dates = {}
    if expired:
        now = dt.datetime.now(dt.UTC)
        dates = {"not_before": now - dt.timedelta(days=5 * 365), "not_after": now - dt.timedelta(1)}
    profile = CardProfile(
        identity=pki.issue_card(generation=generation, **dates),
        pin=pin,
        blocked_encoding=blocked_encoding,
        get_response=get_response,
        signing=signing,
        signing_password=signing_password,
        contactless=contactless,
    )
    save_card(profile, Path(out))
    return Path(out)


def save_card(profile: CardProfile, out: Path) -> None:
    """Write ``profile`` as a fresh card directory (all PIN tries left)."""
    profile.identity.save(out)
    if profile.signing is not None:
        (out / SIGNING_DIR).mkdir(exist_ok=True)
        profile.signing.save(out / SIGNING_DIR)
    identities = ("identity", "signing")
    saved = {f.name: getattr(profile, f.name) for f in fields(profile) if f.name not in identities}
    (out / PROFILE_FILE).write_text(json.dumps(saved, indent=1))
    with contextlib.suppress(FileNotFoundError):
        (out / PIN_STATE_FILE).unlink()
