#!/usr/bin/env bash
# Put the Japanese HTS voice "Mei" (mei_normal.htsvoice, CC BY 3.0, Nagoya Institute of
# Technology / MMDAgent) where kiosk/voice.py looks for it: PREFIX/share/mynapoint-kiosk/voices.
# Debian's hts-voice-nitech-jp-atr503-m001 is not in the configured archive; the voice
# ships inside the PyPI package pyopenjtalk-plus. Only the voice and its licence are
# taken from the wheel (its code is never installed); the wheel is pinned by version and
# platform so every machine gets the same file, checked by its SHA-256 below.
# Usage: scripts/install_voice.sh PREFIX    (e.g. .venv, /opt/mynapoint-kiosk/venv)
set -euo pipefail
PREFIX=${1:?usage: install_voice.sh PREFIX}
DEST="$PREFIX/share/mynapoint-kiosk/voices"
VOICE_SHA256=f3be49a6838904a6c218790b64e07c3e83c1886e995dca284b413caab19184de
if [ -f "$DEST/mei_normal.htsvoice" ] && echo "$VOICE_SHA256  $DEST/mei_normal.htsvoice" | sha256sum -c --status; then
  exit 0
fi
PIP=${PIP:-"$PREFIX/bin/python -m pip"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$PIP download -q --disable-pip-version-check --no-deps --only-binary :all: \
  --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp \
  -d "$work" "pyopenjtalk-plus==0.4.1.post10"
mkdir -p "$work/x" "$DEST"
"$PREFIX/bin/python" - "$work" <<'PY'
import sys, zipfile, pathlib
work = pathlib.Path(sys.argv[1])
(wheel,) = work.glob("*.whl")
with zipfile.ZipFile(wheel) as z:
    for name in ("mei_normal.htsvoice", "LICENSE_mei_normal.htsvoice"):
        (work / "x" / name).write_bytes(z.read(f"pyopenjtalk/htsvoice/{name}"))
PY
echo "$VOICE_SHA256  $work/x/mei_normal.htsvoice" | sha256sum -c --status \
  || { echo "install_voice.sh: mei_normal.htsvoice has an unexpected checksum" >&2; exit 1; }
install -m 0644 "$work/x/mei_normal.htsvoice" "$work/x/LICENSE_mei_normal.htsvoice" "$DEST/"
echo "installed $DEST/mei_normal.htsvoice (CC BY 3.0, see LICENSE_mei_normal.htsvoice)"
