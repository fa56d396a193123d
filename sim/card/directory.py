"""A virtual card on disk: made once from the test PKI, run by any process.

A card directory holds the card's key and certificates (``auth_key.pem``,
``auth_cert.der``, ``ca_cert.der``), its profile ``card.json`` (the test PIN in the
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


class PinStateFile(PinCounters):
    """PIN counters in the card directory's ``state.json``, read and written each time
    (two processes on one card directory see one counter)."""

    def __init__(self, card_dir: Path) -> None:
        self.path = Path(card_dir) / PIN_STATE_FILE

    def _load(self) -> dict[str, int]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, key: str) -> int:
        return self._load().get(key, jpki.PIN_MAX_TRIES)

    def set(self, key: str, tries: int) -> None:
        state = self._load()
        state[key] = tries
        tmp = self.path.with_name(PIN_STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.path)


def load_profile(card_dir: Path) -> CardProfile:
    card_dir = Path(card_dir)
    saved = json.loads((card_dir / PROFILE_FILE).read_text())
    return CardProfile(
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
) -> Path:
    """Issue a new card from the test PKI in ``pki_dir`` and write it to ``out``."""
    if len(pin) != jpki.PIN_LENGTH or not pin.isdigit():
        raise ValueError("the user-authentication PIN is 4 digits")
    pki = pki or TestPKI.load_or_create(Path(pki_dir))
    dates = {}
    if expired:
        now = dt.datetime.now(dt.UTC)
        dates = {"not_before": now - dt.timedelta(days=5 * 365), "not_after": now - dt.timedelta(1)}
    profile = CardProfile(
        identity=pki.issue_card(generation=generation, **dates),
        pin=pin,
        blocked_encoding=blocked_encoding,
        get_response=get_response,
    )
    save_card(profile, Path(out))
    return Path(out)


def save_card(profile: CardProfile, out: Path) -> None:
    """Write ``profile`` as a fresh card directory (all PIN tries left)."""
    profile.identity.save(out)
    saved = {f.name: getattr(profile, f.name) for f in fields(profile) if f.name != "identity"}
    (out / PROFILE_FILE).write_text(json.dumps(saved, indent=1))
    with contextlib.suppress(FileNotFoundError):
        (out / PIN_STATE_FILE).unlink()
