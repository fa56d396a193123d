"""The JPKI operations a kiosk needs, one short function each, and their errors.

Read next to the APDU table in :mod:`drivers.jpki`. Every function takes a
:class:`CardLink` (something that moves one APDU to the card and back, see
:mod:`drivers.reader`) and turns status words into typed errors in one place,
:func:`raise_for_status`.

Two safety rules live here, below the public API:

* :func:`check_allowed` is the allow-list every command passes before it reaches
  the reader: a SELECT of any application but JPKI, or of an EF outside
  ``jpki.ALLOWED_EFS``, or any command the kiosk has no business sending, raises
  :class:`ForbiddenCommand` (the PC/SC link calls it on every transmit).
* The PIN travels in a ``bytearray``: it is copied into the VERIFY command and
  wiped before that command is sent, the command is wiped once the card answered,
  and both again in a ``finally``. A VERIFY is never retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from contract.errors import KioskError
from drivers import jpki


# --- Errors (kind = key of the message table) ---------------------------------------
class CardError(KioskError):
    """Something about the card or the reader the person or staff must be told.

    Retryable unless a subclass says otherwise: a card that is read badly (moved, upside
    down, poor contact) or a reader that is busy may work when the card is placed again.
    """

    kind = "card_unexpected"
    retryable = True


class NotAMyNumberCard(CardError):
    """The card has no JPKI application (another IC card, or upside down)."""

    kind = "not_mynumber_card"


class CardRemoved(CardError):
    """The card left the reader (or was never there) while it was needed."""

    kind = "card_removed"


class PinIncorrect(CardError):
    """Wrong PIN; ``tries_left`` more tries before the card blocks."""

    kind = "pin_incorrect"
    retryable = False  # the same PIN again is wrong again; the flow asks for another

    def __init__(self, tries_left: int) -> None:
        super().__init__(f"PIN incorrect, {tries_left} tries left")
        self.tries_left = tries_left


class PinBlocked(CardError):
    """No tries left: only the municipal office can reset the PIN."""

    kind = "pin_blocked"
    retryable = False


class PinFormatInvalid(CardError):
    """The PIN is not 4 digits; nothing was sent to the card, no try was spent."""

    kind = "pin_format"
    retryable = False


class SecurityStatusNotSatisfied(CardError):
    """The card refused: the PIN was not verified in this session."""

    kind = "card_security_status"


class FileNotFound(CardError):
    """A JPKI file the kiosk needs is missing on this card."""

    kind = "card_file_not_found"
    retryable = False


class UnexpectedCardAnswer(CardError):
    """The card answered something no real JPKI card answers here."""

    kind = "card_unexpected"

    def __init__(self, message: str, sw: int | None = None) -> None:
        super().__init__(message)
        self.sw = sw


class ReaderUnavailable(CardError):
    """The configured reader is gone (unplugged, pcscd stopped) or not found."""

    kind = "reader_unavailable"


class CardTimeout(CardError):
    """The card did not answer within the transceive timeout."""

    kind = "card_timeout"


class ForbiddenCommand(CardError):
    """A command outside the allow-list was about to reach the card. A bug, never sent."""

    kind = "card_forbidden_command"
    retryable = False


# --- The link to the card -------------------------------------------------------------
class CardLink(Protocol):
    """Moves one command APDU to the card and returns the whole response (data + SW).

    Implementations raise CardRemoved, ReaderUnavailable or CardTimeout, and must
    call :func:`check_allowed` before anything reaches the reader. A link may also
    carry a :class:`CardSession` as ``session`` (see there); one without it gets
    every SELECT sent again.
    """

    def transmit(self, apdu: bytes | bytearray) -> bytes | bytearray: ...


# A link may also offer ``transmit_all(apdus) -> responses``: every command passes the
# allow-list first (so none is sent if one is refused), then they go out back-to-back,
# stopping after the first answer that is not 90 00 (its answer is the last one
# returned). The certificate's chunks use it.


class CardSession:
    """What this connection has selected on the card, as far as the driver knows.

    The reader gives each connected card one of these and replaces it whenever the
    card is reset, reconnected or disconnected, or a job fails (the worker then
    resets the card). With it, a card phase skips the SELECTs that would change
    nothing: the AP is selected once, and VERIFY follows the tries-left question on
    the EF 0018 it already selected (13 APDUs instead of 17). A SELECT that fails
    forgets everything, since the card's own selection is then unknown.
    """

    __slots__ = ("ap_selected", "ef")

    def __init__(self) -> None:
        self.ap_selected = False
        self.ef: int | None = None

    def forget(self) -> None:
        self.ap_selected, self.ef = False, None


def _session(link: CardLink) -> CardSession:
    session = getattr(link, "session", None)
    return session if session is not None else CardSession()


_EFS = jpki.ALLOWED_EFS
_SELECT_JPKI = jpki.select_ap(jpki.JPKI_AID)
_VERIFY_EMPTY = jpki.verify_empty()
#: The SELECT of each allowed EF, built once (the link still checks each one it sends).
_SELECT_EF_COMMANDS = {ef: jpki.select_ef(ef) for ef in sorted(jpki.ALLOWED_EFS)}


#: The driver's own commands as pyscard takes them, each passed through the allow-list
#: once when it was made: a link sends one of these without checking or converting it
#: again (``wire_form``). Only bytes objects, never a PIN (VERIFY with data is not here).
_WIRE: dict[bytes, list[int]] = {}


def _prechecked(command: bytes) -> bytes:
    check_allowed(command)
    _WIRE[command] = list(command)
    return command


#: ``wire_form(apdu)``: ``apdu`` as pyscard's list when the driver made it and the
#: allow-list passed it, else None (the dict's own ``get``: no Python frame per APDU).
wire_form = _WIRE.get


def check_allowed(apdu: bytes | bytearray) -> None:
    """The allow-list: raise ForbiddenCommand unless ``apdu`` is one the kiosk may send."""
    if not _is_allowed(apdu):
        raise ForbiddenCommand(f"command {bytes(apdu[:4]).hex(' ')} is not on the allow-list")


def _is_allowed(apdu: bytes | bytearray) -> bool:
    """Byte comparisons only: a VERIFY's PIN digits are never copied here.

    On every APDU's path, so it indexes (slices would copy) and tests the commonest
    commands first.
    """
    length = len(apdu)
    if length < 4:
        return False
    cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]  # the header: never the digits
    if cla == jpki.CLA_ISO:
        if ins == jpki.INS_READ_BINARY:
            return length == 5 and p1 <= 0x7F
        if ins == jpki.INS_SELECT and p2 == jpki.P2_NO_FCI:
            if p1 == jpki.P1_SELECT_EF_ID:
                return length == 7 and apdu[4] == 2 and (apdu[5] << 8 | apdu[6]) in _EFS
            return p1 == jpki.P1_SELECT_DF_NAME and apdu == _SELECT_JPKI
        if ins == jpki.INS_VERIFY and p1 == 0 and p2 == jpki.P2_VERIFY_LOCAL_PIN:
            return length == 4 or (length == 5 + jpki.PIN_LENGTH and apdu[4] == jpki.PIN_LENGTH)
        return ins == jpki.INS_GET_RESPONSE and p1 == p2 == 0 and length == 5
    return (
        cla == jpki.CLA_PROPRIETARY
        and ins == jpki.INS_SIGN
        and p1 == jpki.P1_SIGN
        and p2 == jpki.P2_SIGN
        and length > 5
        and length == 6 + apdu[4]
    )


for _command in (_SELECT_JPKI, _VERIFY_EMPTY, *_SELECT_EF_COMMANDS.values()):
    _prechecked(_command)


# --- Status words -> errors, in one place -----------------------------------------------
def split_response(response: bytes | bytearray) -> tuple[bytes | bytearray, int]:
    """Data and status word of a response APDU."""
    if len(response) < 2:
        raise UnexpectedCardAnswer(f"response of {len(response)} bytes has no status word")
    return response[:-2], (response[-2] << 8) | response[-1]


def raise_for_status(sw: int, step: str) -> None:
    """Turn a non-success status word into the error a person can act on."""
    if sw == jpki.SW_OK:
        return
    if sw & 0xFFF0 == jpki.SW_PIN_TRIES_MASK and step in ("verify", "tries"):
        if sw == jpki.SW_PIN_TRIES_MASK:
            raise PinBlocked("PIN blocked (63 C0)")
        if step == "tries":
            return  # 63 Cx is the answer to "how many tries are left"
        raise PinIncorrect(_tries_in(sw))
    if sw in (jpki.SW_PIN_BLOCKED, jpki.SW_AUTH_BLOCKED) and step in ("verify", "tries", "sign"):
        raise PinBlocked(f"PIN blocked ({sw:04X})")
    if step == "select_ap":
        raise NotAMyNumberCard(f"JPKI application not selectable ({sw:04X})")
    if sw == jpki.SW_SECURITY_NOT_SATISFIED:
        raise SecurityStatusNotSatisfied(f"security status not satisfied at {step}")
    if sw == jpki.SW_FILE_NOT_FOUND:
        raise FileNotFound(f"file not found at {step}")
    raise UnexpectedCardAnswer(f"status {sw:04X} at {step}", sw)


_SW_OK_BYTES = jpki.SW_OK.to_bytes(2, "big")


def _exchange(link: CardLink, apdu: bytes | bytearray, step: str) -> bytes | bytearray:
    """Send one APDU, check the status word, return the data.

    The link runs the allow-list (CardLink's contract), so it is not run twice here;
    a plain 90 00 answer takes the short way.
    """
    response = link.transmit(apdu)
    if response[-2:] == _SW_OK_BYTES:
        return response[:-2]
    data, sw = _collect_response(link, *split_response(response))
    raise_for_status(sw, step)
    return data


def _collect_response(link: CardLink, data: bytes, sw: int) -> tuple[bytes, int]:
    """Follow 61 xx with GET RESPONSE, as a T=0 link (or a reader) may ask."""
    parts = [data]
    for _ in range(jpki.MAX_GET_RESPONSE):
        if sw >> 8 != jpki.SW1_MORE_DATA:
            return b"".join(parts), sw
        command = jpki.get_response((sw & 0xFF) or jpki.MAX_READ_CHUNK)
        more, sw = split_response(link.transmit(command))
        parts.append(more)
    raise UnexpectedCardAnswer("the card keeps announcing more data", sw)


def _expect_no_data(data: bytes, step: str) -> None:
    if data:
        raise UnexpectedCardAnswer(f"{len(data)} unexpected data bytes at {step}")


# --- The operations ----------------------------------------------------------------------
def select_jpki(link: CardLink) -> None:
    """Select the JPKI application (always sent: it also drops the card's PIN state).

    A card without it is not a My Number Card.
    """
    session = _session(link)
    session.forget()
    _expect_no_data(_exchange(link, _SELECT_JPKI, "select_ap"), "select_ap")
    session.ap_selected = True


def enter_jpki(link: CardLink) -> None:
    """Select the JPKI application unless this connection already did."""
    if not _session(link).ap_selected:
        select_jpki(link)


def select_file(link: CardLink, ef: int) -> None:
    """Select an EF of the JPKI application (only the allowed ones get through)."""
    session = _session(link)
    session.ef = None
    try:
        _expect_no_data(_exchange(link, jpki.select_ef(ef), "select_ef"), "select_ef")
    except CardError:
        session.forget()
        raise
    session.ef = ef


def enter_file(link: CardLink, ef: int) -> None:
    """Select the JPKI application and ``ef`` in it, sending only what is not selected."""
    enter_jpki(link)
    if _session(link).ef != ef:
        select_file(link, ef)


def _on_file(link: CardLink, ef: int, command: bytes) -> bytes | bytearray:
    """``command``'s raw answer, sent with ``ef`` selected (SELECT + command in one go).

    The SELECT, when needed, goes out back-to-back with the command; the command is
    sent only if the SELECT answered 90 00. Never for a VERIFY with a PIN.
    """
    session = _session(link)
    if not session.ap_selected:
        select_jpki(link)
    elif session.ef == ef:
        return link.transmit(command)
    session.ef = None
    select = _SELECT_EF_COMMANDS.get(ef) or jpki.select_ef(ef)  # the link refuses others
    responses = _send_all(link, (select, command))
    if responses[0] != _SW_OK_BYTES:
        session.forget()
        data, sw = split_response(responses[0])
        raise_for_status(sw, "select_ef")
        _expect_no_data(data, "select_ef")
    session.ef = ef
    return responses[1] if len(responses) > 1 else link.transmit(command)


def _send_all(link: CardLink, commands: Sequence[bytes]) -> list[bytes | bytearray]:
    send_all = getattr(link, "transmit_all", None)
    return send_all(commands) if send_all is not None else _transmit_each(link, commands)


def read_binary(link: CardLink, offset: int, length: int) -> bytes | bytearray:
    """Read exactly ``length`` (<= 256) bytes of the current EF at ``offset``."""
    data = _exchange(link, jpki.read_binary(offset, length), "read")
    if len(data) != length:
        raise UnexpectedCardAnswer(f"asked {length} bytes at {offset}, got {len(data)}")
    return data


_READ_FIRST_CHUNK = _prechecked(jpki.read_binary(0, jpki.MAX_READ_CHUNK))


def _read_first_chunk(link: CardLink, ef: int) -> bytes | bytearray:
    """A full-size READ BINARY at offset 0; a file shorter than that answers 62 82."""
    response = _on_file(link, ef, _READ_FIRST_CHUNK)
    if len(response) == jpki.MAX_READ_CHUNK + 2 and response[-2] == 0x90 and not response[-1]:
        return response  # the status word stays on: the caller slices the DER out
    data, sw = _collect_response(link, *split_response(response))
    if sw != jpki.SW_END_OF_FILE:
        raise_for_status(sw, "read")
        if len(data) != jpki.MAX_READ_CHUNK:
            raise UnexpectedCardAnswer(f"asked {jpki.MAX_READ_CHUNK} bytes at 0, got {len(data)}")
    return data


def read_der_file(link: CardLink, ef: int, max_length: int = 4096) -> bytes:
    """A DER object from an EF: the first 256-byte chunk gives its length, then the rest.

    No separate header read: the DER length is in the first chunk's first bytes.
    """
    first = _read_first_chunk(link, ef)
    try:
        total = jpki.der_total_length(first)
    except ValueError as e:
        raise UnexpectedCardAnswer(f"EF {ef:04X} does not start with DER: {e}") from None
    if not jpki.DER_HEADER_READ <= total <= max_length:
        raise UnexpectedCardAnswer(f"EF {ef:04X} claims {total} bytes")
    chunk = jpki.MAX_READ_CHUNK
    if len(first) < chunk and len(first) < total:
        raise UnexpectedCardAnswer(f"EF {ef:04X} ends before the {total} bytes it claims")
    if total <= chunk:
        return bytes(first[:total])
    # The rest goes out back-to-back in one link call: most of a phase's APDUs are here.
    commands, lengths = _remaining_reads(total)
    responses = _send_all(link, commands)
    data = bytearray(first)
    del data[chunk:]  # a status word the first answer kept
    for i, length in enumerate(lengths):
        response = responses[i] if i < len(responses) else link.transmit(commands[i])
        if len(response) == length + 2 and response[-2] == 0x90 and not response[-1]:
            data += response
            del data[-2:]  # the status word
            continue
        more, sw = _collect_response(link, *split_response(response))
        raise_for_status(sw, "read")
        if len(more) != length:
            raise UnexpectedCardAnswer(f"asked {length} bytes, got {len(more)}")
        data += more
    return bytes(data)


@lru_cache(maxsize=8)
def _remaining_reads(total: int) -> tuple[tuple[bytes, ...], tuple[int, ...]]:
    """The READ BINARYs after the first chunk of a ``total``-byte file, and their lengths.

    Built once per length (a card's certificate has one): 256 <= total <= 4096 here.
    """
    offsets = range(jpki.MAX_READ_CHUNK, total, jpki.MAX_READ_CHUNK)
    lengths = tuple(min(jpki.MAX_READ_CHUNK, total - o) for o in offsets)
    reads = (_prechecked(jpki.read_binary(o, n)) for o, n in zip(offsets, lengths, strict=True))
    return tuple(reads), lengths


def _transmit_each(link: CardLink, commands: Sequence[bytes]) -> list[bytes | bytearray]:
    """``transmit_all`` for a link without it: stops after the first answer but 90 00."""
    responses = []
    for command in commands:
        response = link.transmit(command)
        responses.append(response)
        if response[-2:] != _SW_OK_BYTES:
            break
    return responses


def read_auth_certificate(link: CardLink) -> bytes:
    """DER of the user-authentication certificate (EF 000A). Needs no PIN."""
    return read_der_file(link, jpki.EF_AUTH_CERT)


def pin_tries_left(link: CardLink) -> int:
    """Tries left on the user-auth PIN, without spending one. Blocked raises PinBlocked.

    Leaves EF 0018 selected, so a VERIFY that follows in this connection sends no SELECT.
    """
    response = _on_file(link, jpki.EF_AUTH_PIN, _VERIFY_EMPTY)
    if len(response) == 2 and response[0] == 0x63 and 0xC1 <= response[1] <= _MOST_TRIES:
        return response[1] & 0x0F  # 63 Cx, x tries left: the usual answer, the short way
    data, sw = split_response(response)
    if sw == jpki.SW_OK:
        raise UnexpectedCardAnswer("VERIFY without a PIN answered 90 00", sw)
    raise_for_status(sw, "tries")  # blocked (63 C0 or 69 84) and every other error
    tries = _tries_in(sw)
    _expect_no_data(data, "tries")
    return tries


_MOST_TRIES = 0xC0 | jpki.PIN_MAX_TRIES


def _tries_in(sw: int) -> int:
    tries = sw & 0x0F
    if sw & 0xFFF0 != jpki.SW_PIN_TRIES_MASK or not 1 <= tries <= jpki.PIN_MAX_TRIES:
        raise UnexpectedCardAnswer(f"status {sw:04X} is not a count of tries", sw)
    return tries


def wipe(buffer: bytearray | list[int]) -> None:
    """Overwrite a secret buffer in place (same length: no new buffer, no copy left)."""
    buffer[:] = bytes(len(buffer))


def check_pin_format(pin: bytearray) -> None:
    """A user-auth PIN is 4 ASCII digits; anything else never reaches the card."""
    if len(pin) != jpki.PIN_LENGTH or not pin.isdigit():  # bytes: ASCII digits only
        raise PinFormatInvalid("the PIN must be 4 digits")


def verify_pin(link: CardLink, pin: bytearray) -> None:
    """VERIFY the user-auth PIN of the selected EF 0018, once. Overwrites ``pin``."""
    command = bytearray()
    try:
        check_pin_format(pin)
        command = jpki.verify_pin(pin)
        wipe(pin)  # the command holds the only copy now
        check_allowed(command)
        data, sw = split_response(link.transmit(command))
    finally:
        wipe(command)
        wipe(pin)
    raise_for_status(sw, "verify")
    _expect_no_data(data, "verify")


def sign_digest(link: CardLink, digest: bytes) -> bytes:
    """Have the card sign a SHA-256 digest with the user-auth key (selected with the SIGN)."""
    response = _on_file(link, jpki.EF_AUTH_KEY, jpki.sign(jpki.digest_info_sha256(digest)))
    if len(response) == jpki.SIGNATURE_LENGTH + 2 and response[-2] == 0x90 and not response[-1]:
        return bytes(response[:-2])
    signature, sw = _collect_response(link, *split_response(response))
    raise_for_status(sw, "sign")
    if len(signature) != jpki.SIGNATURE_LENGTH:
        raise UnexpectedCardAnswer(f"signature of {len(signature)} bytes")
    return bytes(signature)


def sign_with_pin(link: CardLink, pin: bytearray, digest: bytes) -> bytes:
    """[SELECT AP, 0018,] VERIFY, 0017, SIGN in one card session; ``pin`` is wiped.

    The SELECTs in brackets are sent only when this connection has not selected them
    already (after :func:`pin_tries_left` they are not). Afterwards the AP is selected
    again, which drops the card's PIN state, so the card is not left able to sign for
    anyone else.
    """
    try:
        check_pin_format(pin)
        if len(digest) != jpki.SHA256_LENGTH:
            raise ValueError("the digest to sign is a 32-byte SHA-256")
        enter_file(link, jpki.EF_AUTH_PIN)
        verify_pin(link, pin)
        try:
            return sign_digest(link, digest)  # SELECT 0017 + SIGN
        finally:
            _drop_pin_state(link)
    finally:
        wipe(pin)


def _drop_pin_state(link: CardLink) -> None:
    try:
        select_jpki(link)
    except CardError:
        pass  # the card is gone or confused: its state goes with the next reset
