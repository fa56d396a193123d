"""Every identifier of the My Number Card's JPKI application, in one place.

Read this module next to ``shared/domain/jpki-card.md``: application ids, files,
APDU builders and status words. Facts come from public, reverse-engineered
implementations (OpenSC ``card-jpki.c``/``jpki.h``, ``jpki/myna``); J-LIS does not
publish the specification. Only short APDUs are used.

    >>> select_ef(EF_AUTH_CERT).hex(" ")
    '00 a4 02 0c 02 00 0a'
"""

from __future__ import annotations

from contract.units import PIN_LENGTH  # noqa: F401  (jpki.PIN_LENGTH: the card's PIN rule)

# --- Applications (AIDs) ---------------------------------------------------------
#: 公的個人認証AP: the only application the kiosk may ever select.
JPKI_AID = bytes.fromhex("D392F000260100000001")
#: 券面事項入力補助AP: holds the 12-digit My Number. NEVER selected by the kiosk.
AID_CARD_INFO_INPUT = bytes.fromhex("D3921000310001010408")
#: 券面確認AP: card face and photo. NEVER selected by the kiosk.
AID_CARD_FACE = bytes.fromhex("D3921000310001010402")
#: 住基AP. NEVER selected by the kiosk.
AID_JUKI = bytes.fromhex("D3921000310001010100")
#: The applications the kiosk must never select (the virtual card holds them all).
FORBIDDEN_AIDS = (AID_CARD_INFO_INPUT, AID_CARD_FACE, AID_JUKI)

# --- Files inside the JPKI AP -----------------------------------------------------
EF_TOKEN = 0x0006  # 32 bytes ASCII, "JPKIAPICCTOKEN..."
EF_AUTH_CERT = 0x000A  # 利用者証明用電子証明書 (DER)
EF_AUTH_CA_CERT = 0x000B  # its CA certificate (DER)
EF_AUTH_KEY = 0x0017  # user-authentication private key: sign only, after PIN
EF_AUTH_PIN = 0x0018  # user-authentication PIN, 4 digits
#: The only EFs the driver lets through a SELECT (signing-certificate EFs are not here).
ALLOWED_EFS = frozenset({EF_TOKEN, EF_AUTH_CERT, EF_AUTH_CA_CERT, EF_AUTH_KEY, EF_AUTH_PIN})

# The signing side (署名用電子証明書) of the same AP. NEVER selected by the kiosk: named
# here so the virtual card can hold them and tests can prove no APDU names them.
EF_SIGN_CERT = 0x0001  # signing certificate: readable only after the signing password
EF_SIGN_CA_CERT = 0x0002  # its CA certificate, free to read
EF_SIGN_KEY = 0x001A  # signing private key
EF_SIGN_PIN = 0x001B  # signing password: 6-16 alphanumerics, 5 tries, its own counter
SIGNING_EFS = frozenset({EF_SIGN_CERT, EF_SIGN_CA_CERT, EF_SIGN_KEY, EF_SIGN_PIN})
SIGN_PIN_MAX_TRIES = 5
SIGN_PIN_LENGTHS = range(6, 17)

PIN_MAX_TRIES = 3
#: How many bytes one READ BINARY may ask for (short APDU, Le=00 means 256).
MAX_READ_CHUNK = 256
#: The shortest DER file the driver accepts (a SEQUENCE with a 2-byte length: 30 82 LL LL).
#: The length itself comes from the first 256-byte READ BINARY, not from a header read.
DER_HEADER_READ = 4

#: ATR of a real card in a contact reader (ATRs vary: never detect the card by ATR).
ATR_MYNUMBER_CARD = bytes.fromhex("3BE000FF8131FE4514")
#: What a PC/SC contactless reader reports for a Type B My Number Card: PC/SC part 3's
#: pseudo-ATR for ISO 14443-4 Type B: 3B 88 80 01, then the ATQB's 4 application data
#: bytes (00 00 00 00), its 3 protocol info bytes (00 81 D1: 106 kbit/s, frames of 256
#: bytes, ISO 14443-4, FWI 13 = 2.5 s), the ATTRIB's MBLI nibble (00), and TCK (59).
#: Readers differ in what they pass through; some give 3B 88 80 01 00*8 09. Never
#: detect the card by an ATR.
ATR_MYNUMBER_CONTACTLESS = bytes.fromhex("3B888001000000000081D10059")

#: DER prefix of a DigestInfo for SHA-256; the card adds PKCS#1 v1.5 type-1 padding.
DIGEST_INFO_SHA256_PREFIX = bytes.fromhex("3031300D060960864801650304020105000420")
SHA256_LENGTH = 32
#: An RSA-2048 signature, as the card returns it.
SIGNATURE_LENGTH = 256

# --- Command bytes ----------------------------------------------------------------
CLA_ISO = 0x00
CLA_PROPRIETARY = 0x80
INS_SELECT = 0xA4
INS_READ_BINARY = 0xB0
INS_VERIFY = 0x20
INS_SIGN = 0x2A  # JPKI's COMPUTE DIGITAL SIGNATURE, proprietary class
INS_GET_RESPONSE = 0xC0  # fetches an answer a T=0 link announced with 61 xx
P1_SELECT_DF_NAME = 0x04
P1_SELECT_EF_ID = 0x02
P2_NO_FCI = 0x0C
P2_VERIFY_LOCAL_PIN = 0x80
P1_SIGN = 0x00
P2_SIGN = 0x80

# --- Status words -----------------------------------------------------------------
SW_OK = 0x9000
SW1_MORE_DATA = 0x61  # 61 xx: xx more bytes (00: 256) wait for GET RESPONSE
#: At most this many GET RESPONSE rounds for one command (a signature needs one).
MAX_GET_RESPONSE = 8
SW_END_OF_FILE = 0x6282  # fewer bytes than Le before the end of the file
SW_PIN_TRIES_MASK = 0x63C0  # 63 Cx: x tries left (63 C0: blocked, on some cards)
SW_WRONG_LENGTH = 0x6700
SW_INCOMPATIBLE_FILE = 0x6981
SW_SECURITY_NOT_SATISFIED = 0x6982
SW_AUTH_BLOCKED = 0x6983
SW_PIN_BLOCKED = 0x6984  # "reference data not usable": the other blocked encoding
SW_NO_CURRENT_EF = 0x6986
SW_FILE_NOT_FOUND = 0x6A82
SW_WRONG_P1P2 = 0x6A86
SW_OFFSET_OUTSIDE = 0x6B00
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00


def select_ap(aid: bytes) -> bytes:
    """SELECT an application by name, no FCI. The driver only lets JPKI_AID through."""
    return bytes([CLA_ISO, INS_SELECT, P1_SELECT_DF_NAME, P2_NO_FCI, len(aid)]) + aid


def select_ef(ef: int) -> bytes:
    """SELECT an EF of the current application by its 2-byte id (P1=02; by path fails)."""
    return bytes([CLA_ISO, INS_SELECT, P1_SELECT_EF_ID, P2_NO_FCI, 2]) + ef.to_bytes(2, "big")


def read_binary(offset: int, length: int) -> bytes:
    """READ BINARY of the current EF; ``length`` 1..256 (256 is sent as Le=00)."""
    if not 1 <= length <= MAX_READ_CHUNK or not 0 <= offset <= 0x7FFF:
        raise ValueError("READ BINARY offset or length out of range")
    return bytes([CLA_ISO, INS_READ_BINARY, offset >> 8, offset & 0xFF, length & 0xFF])


def verify_empty() -> bytes:
    """VERIFY without data: answers the tries left (63 Cx) and costs no try."""
    return bytes([CLA_ISO, INS_VERIFY, 0x00, P2_VERIFY_LOCAL_PIN])


def verify_pin(pin: bytes | bytearray) -> bytearray:
    """VERIFY with the PIN digits. Returns a bytearray so the caller can overwrite it."""
    return bytearray([CLA_ISO, INS_VERIFY, 0x00, P2_VERIFY_LOCAL_PIN, len(pin)]) + pin


def sign(digest_info: bytes) -> bytes:
    """COMPUTE DIGITAL SIGNATURE over a DER DigestInfo; Le=00 asks for the whole signature."""
    return (
        bytes([CLA_PROPRIETARY, INS_SIGN, P1_SIGN, P2_SIGN, len(digest_info)])
        + digest_info
        + b"\x00"
    )


def get_response(length: int) -> bytes:
    """GET RESPONSE for up to ``length`` (1..256) bytes the card announced with 61 xx."""
    if not 1 <= length <= MAX_READ_CHUNK:
        raise ValueError("GET RESPONSE length out of range")
    return bytes([CLA_ISO, INS_GET_RESPONSE, 0x00, 0x00, length & 0xFF])


def digest_info_sha256(digest: bytes) -> bytes:
    """The DER DigestInfo the card signs for a SHA-256 digest."""
    if len(digest) != SHA256_LENGTH:
        raise ValueError("a SHA-256 digest is 32 bytes")
    return DIGEST_INFO_SHA256_PREFIX + digest


def der_total_length(header: bytes) -> int:
    """Total length of a DER SEQUENCE from its first bytes (``30 82 LL LL`` -> LL LL + 4).

    Raises ValueError when the bytes are not the start of a DER SEQUENCE.
    """
    if len(header) < 2 or header[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    first = header[1]
    if first < 0x80:
        return first + 2
    count = first & 0x7F
    if count == 0 or count > 3 or len(header) < 2 + count:
        raise ValueError("unsupported DER length")
    return int.from_bytes(header[2 : 2 + count], "big") + 2 + count
