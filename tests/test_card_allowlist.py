"""Only the JPKI application and its allowed files can ever reach the card."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import card, jpki

pytest_plugins = ["tests.fixtures.card"]

TIMEOUT = 10
DIGEST = hashlib.sha256(b"canonical enrollment payload").digest()


def _enroll(service) -> None:
    service.read_certificate().result(TIMEOUT)
    service.pin_tries_left().result(TIMEOUT)
    service.sign(bytearray(b"1234"), DIGEST).result(TIMEOUT)


@pytest.mark.slow
def test_whole_enrollment_selects_only_the_jpki_application(card_service, virtual_card):
    _enroll(card_service)
    selected_aps = {cmd[5:] for cmd, _ in virtual_card.apdu_log if cmd[1:3] == b"\xa4\x04"}
    assert selected_aps == {jpki.JPKI_AID}


@pytest.mark.slow
def test_whole_enrollment_selects_only_allowed_files(card_service, virtual_card):
    _enroll(card_service)
    efs = {int.from_bytes(cmd[5:7], "big") for cmd, _ in virtual_card.apdu_log if cmd[1] == 0xA4}
    efs.discard(int.from_bytes(jpki.JPKI_AID[:2], "big"))
    assert efs <= jpki.ALLOWED_EFS


@pytest.mark.slow
def test_whole_enrollment_never_mentions_another_application(card_service, virtual_card):
    _enroll(card_service)
    sent = b"".join(cmd for cmd, _ in virtual_card.apdu_log)
    for aid in jpki.FORBIDDEN_AIDS:
        assert aid not in sent


#: Every command a card phase may send, written as shared/domain/jpki-card.md writes them
#: (hex, independent of the driver's own builders and of its allow-list).
DOCUMENTED_COMMANDS = (
    r"00a4040c0ad392f000260100000001",  # select the JPKI AP
    r"00a4020c02(0006|000a|000b|0017|0018)",  # select EF: token, auth cert, its CA, key, PIN
    r"00b0[0-7][0-9a-f]{3}[0-9a-f]{2}",  # READ BINARY <offset> <Le> (short, offset < 0x8000)
    r"00200080",  # tries left: VERIFY without data (costs no try)
    r"0020008004(3[0-9]){4}",  # VERIFY the 4 ASCII digits
    r"802a008033[0-9a-f]{102}00",  # SIGN a SHA-256 DigestInfo (51 bytes), Le 00
    r"00c00000[0-9a-f]{2}",  # GET RESPONSE (T=0 links)
)


@pytest.mark.slow
def test_whole_enrollment_sends_only_the_documented_commands(card_service, virtual_card):
    """What reached the card, checked against the documented forms, not the driver's own
    allow-list (which already let every one of them through, so it could never fail)."""
    _enroll(card_service)
    sent = [cmd.hex() for cmd, _ in virtual_card.apdu_log]
    undocumented = [
        hexed
        for hexed in sent
        if not any(re.fullmatch(form, hexed) for form in DOCUMENTED_COMMANDS)
    ]
    assert sent and not undocumented


@pytest.mark.slow
@pytest.mark.parametrize("aid", jpki.FORBIDDEN_AIDS, ids=["card_info", "card_face", "juki"])
def test_select_of_another_application_raises_before_reaching_the_reader(
    card_service, virtual_card, aid
):
    future = card_service.submit(lambda link: link.transmit(jpki.select_ap(aid)))
    with pytest.raises(card.ForbiddenCommand):
        future.result(TIMEOUT)
    assert all(aid not in cmd for cmd, _ in virtual_card.apdu_log)


@pytest.mark.slow
@pytest.mark.parametrize("ef", [0x0001, 0x0002, 0x001A, 0x001B, 0x3F00])
def test_select_of_a_file_outside_the_list_raises_before_reaching_the_reader(
    card_service, virtual_card, ef
):
    future = card_service.submit(lambda link: card.select_file(link, ef))
    with pytest.raises(card.ForbiddenCommand):
        future.result(TIMEOUT)
    assert jpki.select_ef(ef) not in [cmd for cmd, _ in virtual_card.apdu_log]


@pytest.mark.slow
@pytest.mark.parametrize("ef", [0x0001, 0x001A, 0x001B])
def test_a_batch_naming_a_signing_file_is_refused_whole_before_the_reader(
    card_service, virtual_card, ef
):
    """transmit_all skips the allow-list only for the driver's own prechecked commands:
    a batch with any other command is refused before its first APDU goes out."""
    before = len(virtual_card.apdu_log)
    batch = (jpki.read_binary(0, 256), jpki.select_ef(ef))  # a prechecked READ first
    future = card_service.submit(lambda link: link.transmit_all(batch))
    with pytest.raises(card.ForbiddenCommand):
        future.result(TIMEOUT)
    assert virtual_card.apdu_log[before:] == []


def test_the_prechecked_commands_are_all_on_the_allow_list_and_carry_no_pin() -> None:
    made = list(card._WIRE.items())
    assert len(made) >= 6  # SELECT AP, VERIFY (no data), the EFs, the first READ
    for command, as_list in made:
        card.check_allowed(command)
        assert as_list == list(command)
        assert not (command[1] == jpki.INS_VERIFY and len(command) > 4)


@given(data=st.binary(min_size=1, max_size=16))
def test_no_select_by_name_but_jpki_passes_the_allow_list(data):
    apdu = bytes([0x00, 0xA4, 0x04, 0x0C, len(data)]) + data
    if data == jpki.JPKI_AID:
        card.check_allowed(apdu)
    else:
        with pytest.raises(card.ForbiddenCommand):
            card.check_allowed(apdu)


@settings(max_examples=300)
@given(apdu=st.binary(min_size=0, max_size=64))
def test_allow_list_lets_through_only_the_jpki_commands(apdu):
    try:
        card.check_allowed(apdu)
    except card.ForbiddenCommand:
        return
    head = apdu[:2]
    assert head in (b"\x00\xa4", b"\x00\xb0", b"\x00\x20", b"\x80\x2a", b"\x00\xc0")
    if head == b"\x00\xa4":
        assert apdu == jpki.select_ap(jpki.JPKI_AID) or (
            apdu[2] == 0x02 and int.from_bytes(apdu[5:], "big") in jpki.ALLOWED_EFS
        )
