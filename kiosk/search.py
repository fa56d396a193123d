"""Search normalisation for the service grid: what a person types finds what they mean.

>>> normalise_for_search("ぺい") == normalise_for_search("ﾍﾟｲ") == normalise_for_search("ヘイ")
True
"""

from __future__ import annotations

import unicodedata


def normalise_for_search(text: str) -> str:
    """Fold width, case, hiragana and voicing marks: "ぺい", "ペイ", "ﾍﾟｲ", "ヘイ" all match.

    The kana keyboard has no ゛/゜ keys, so ペ is found by typing ヘ.
    """
    folded = unicodedata.normalize("NFKC", text).upper()
    katakana = "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in folded)
    plain = unicodedata.normalize("NFD", katakana).replace("\u3099", "").replace("\u309a", "")
    return unicodedata.normalize("NFC", plain)
