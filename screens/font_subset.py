"""Noto Sans CJK cut down to the characters the kiosk shows, made at install (issue 10/15).

Kivy's SDL2 text provider opens one FreeType + HarfBuzz face per font and pixel size,
and each face of the full Noto Sans CJK collection (65,535 glyphs, 19 MB) costs about
2.6 MiB of resident memory; the screens use some 30 sizes, regular and bold. A subset
holding the characters of every catalog, service, campaign and procedure text (plus
Latin, kana and punctuation) costs about 0.4 MiB per face (bench/bench_ui.py,
docs/benchmarks.md). Nothing is lost: a character the subset lacks (a rare kanji in a
store's name) is drawn from the full Debian font by ``screens/fonts.py``, as its own run.

    .venv/bin/python -m screens.font_subset .venv/share/mynapoint-kiosk/fonts

Writes ``NotoSansCJK-{Regular,Bold}.subset.otf`` and ``coverage.txt`` (every character
the subset has, UTF-8), plus ``inputs.sha256``: a rerun with the same catalogs and the
same Debian fonts changes nothing. Needs fontTools (a test extra, present where
``scripts/setup.sh`` built the environment); the kiosk itself never imports it.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

REPO_PARTS = Path(__file__).resolve().parents[1]
SOURCES = {
    "Regular": Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    "Bold": Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
}
COVERAGE = "coverage.txt"
STAMP = "inputs.sha256"
#: Always in the subset, whatever the catalogs say: what a store name, a campaign or a
#: typed ID may hold besides catalog words (Latin with accents, kana, punctuation, digits).
BLOCKS = (
    (0x0020, 0x024F),  # ASCII, Latin-1, Latin Extended-A and -B
    (0x1E00, 0x1EFF),  # Latin Extended Additional (Vietnamese)
    (0x2000, 0x206F),  # General Punctuation
    (0x2190, 0x21FF),  # Arrows
    (0x2460, 0x24FF),  # Enclosed Alphanumerics (①)
    (0x25A0, 0x25FF),  # Geometric Shapes (● ○ ■)
    (0x3000, 0x30FF),  # CJK Symbols and Punctuation, Hiragana, Katakana
    (0xFF00, 0xFFEF),  # Halfwidth and Fullwidth Forms
)


def subset_name(weight: str) -> str:
    return f"NotoSansCJK-{weight}.subset.otf"


def text_files() -> list[Path]:
    """Every file whose words the screens may show: the catalogs and the data."""
    kiosk = REPO_PARTS / "kiosk"
    return sorted(
        [
            *(kiosk / "locales").rglob("*.toml"),
            *(kiosk / "data").glob("*.toml"),
            *(kiosk / "procedures").rglob("*.toml"),
        ]
    )


def wanted_characters() -> set[str]:
    chars = {chr(c) for first, last in BLOCKS for c in range(first, last + 1)}
    for path in text_files():
        chars |= set(path.read_text(encoding="utf-8"))
    return {c for c in chars if c.isprintable() or c == " "}


def inputs_digest() -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in text_files():
        digest.update(path.read_bytes())
    for source in SOURCES.values():
        digest.update(f"{source}:{source.stat().st_size}:{source.stat().st_mtime_ns}".encode())
    return digest.hexdigest()


def build(out: Path) -> bool:
    """Make the subsets in ``out``; False when they are there already for these inputs."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    out.mkdir(parents=True, exist_ok=True)
    digest = inputs_digest()
    stamp = out / STAMP
    if (
        stamp.is_file()
        and stamp.read_text().strip() == digest
        and all((out / subset_name(w)).is_file() for w in SOURCES)
    ):
        return False
    chars = wanted_characters()
    covered: set[int] | None = None
    for weight, source in SOURCES.items():
        font = TTFont(str(source), fontNumber=0)  # face 0 (JP): the one SDL2_ttf opens
        options = subset.Options()
        options.name_IDs = ["*"]  # the licence and names stay
        options.notdef_outline = True
        options.hinting = True
        subsetter = subset.Subsetter(options)  # default layout features: what HarfBuzz uses
        subsetter.populate(unicodes=[ord(c) for c in chars])
        subsetter.subset(font)
        cmap = set(font.getBestCmap())
        covered = cmap if covered is None else covered & cmap  # bold and regular alike
        temporary = out / (subset_name(weight) + ".tmp")
        font.save(str(temporary))
        temporary.replace(out / subset_name(weight))
    text = "".join(sorted(chr(c) for c in covered or ()))
    (out / COVERAGE).write_text(text, encoding="utf-8")
    stamp.write_text(digest + "\n")
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m screens.font_subset OUT_DIR", file=sys.stderr)
        return 2
    missing = [str(p) for p in SOURCES.values() if not p.is_file()]
    if missing:
        print(f"font_subset: {', '.join(missing)} missing (Debian fonts-noto-cjk)", file=sys.stderr)
        return 1
    made = build(Path(args[0]))
    print(f"font_subset: {'wrote' if made else 'up to date:'} {args[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
