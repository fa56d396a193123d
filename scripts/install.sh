#!/usr/bin/env bash
# Install the Mynapoint kiosk as an appliance on Debian or Raspberry Pi OS.
#
#   sudo scripts/install.sh [--printer-usb VENDOR:PRODUCT[:SERIAL]] [--config FILE]
#                           [--keys DIR] [--wheelhouse DIR] [--root DIR] [--no-apt]
#                           [--python PATH] [--appliance | --no-appliance] [--chroot]
#
# Idempotent: a second run with the same source and options changes nothing. It puts
#   the code in a virtual environment      /opt/mynapoint-kiosk/venv
#   the units, sysusers and tmpfiles       /usr/local/lib/{systemd/system,sysusers.d,tmpfiles.d}
#   the printer's udev rule                /etc/udev/rules.d/60-mynapoint-printer.rules
#   pcscd access for the kiosk (polkit)    /etc/polkit-1/rules.d/60-mynapoint-pcscd.rules
#   the configuration template             /etc/mynapoint-kiosk/kiosk.toml.example
# creates the users (mynapoint-kiosk, mynapoint-sync, group mynapoint), the state
# directory, and enables both services. They start once /etc/mynapoint-kiosk/kiosk.toml
# exists (copy the template, or pass --config). Nothing runs as root afterwards.
#
# --root DIR installs into DIR instead of / (an image being built, or the tests): no
# apt-get, no daemon reload, no restart; users are added to DIR/etc/passwd.
# --appliance adds the appliance layout (docs/appliance.md): read-only root and data
# partition (/etc/fstab, into --root only), bounded journal on the data partition, no
# swap, the hardware watchdog, timesyncd, no virtual terminals, gettys, SysRq or USB
# automount, a first-boot step for this kiosk's own secrets. On by default with --root
# (an image being built); --no-appliance leaves it out. Never the default on a live
# system: it would take the consoles of a developer's machine away.
# --wheelhouse DIR installs with no network from wheels made beforehand (the project's
# wheel and its dependencies', e.g. by `pip wheel -w DIR .` on a machine of the same
# kind); otherwise the code is built from this checkout, dependencies from PyPI.
# MYNAPOINT_PIP_ARGS adds options to that pip install.
# --chroot (with --root): DIR is a whole system, maybe of another CPU (an arm64 image
# built under qemu-user): the venv is made and pip runs inside it, by chroot DIR.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT=/
PRINTER=""
CONFIG=""
KEYS_DIR=""
WHEELHOUSE=""
APT=1
PYTHON=${PYTHON:-}
APPLIANCE=""            # empty: on with --root, off on a live system
CHROOT=0

APP=/opt/mynapoint-kiosk
VENV=$APP/venv
UNIT_DIR=/usr/local/lib/systemd/system
SYSUSERS_CONF=/usr/local/lib/sysusers.d/mynapoint-kiosk.conf
TMPFILES_CONF=/usr/local/lib/tmpfiles.d/mynapoint-kiosk.conf
UDEV_RULE=/etc/udev/rules.d/60-mynapoint-printer.rules
POLKIT_RULE=/etc/polkit-1/rules.d/60-mynapoint-pcscd.rules
ETC=/etc/mynapoint-kiosk
UNITS=(mynapoint-kiosk.service mynapoint-sync.service)
# Runtime: pcscd (card reader), GL/EGL and mtdev (Kivy on DRM/KMS), the fonts (CJK; Thai and
# Devanagari in noto-core), the speech engines and aplay (docs/speech.md).
# Build: pyscard has no Linux wheel (swig, PC/SC headers, a compiler).
APT_PACKAGES=(
  pcscd libpcsclite1 fonts-noto-cjk fonts-noto-core libgl1 libegl1 libgles2 libgl1-mesa-dri libmtdev1
  open-jtalk open-jtalk-mecab-naist-jdic espeak-ng alsa-utils
  python3 python3-venv python3-dev gcc swig libpcsclite-dev
)

die() { echo "install.sh: $*" >&2; exit 2; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    --printer-usb) PRINTER=${2:?--printer-usb needs VENDOR:PRODUCT[:SERIAL]}; shift 2 ;;
    --config) CONFIG=${2:?--config needs a file}; shift 2 ;;
    --keys) KEYS_DIR=${2:?--keys needs a directory}; shift 2 ;;
    --wheelhouse) WHEELHOUSE=${2:?--wheelhouse needs a directory}; shift 2 ;;
    --no-apt) APT=0; shift ;;
    --python) PYTHON=${2:?--python needs a path}; shift 2 ;;
    --appliance) APPLIANCE=1; shift ;;
    --no-appliance) APPLIANCE=0; shift ;;
    --chroot) CHROOT=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 ...)"
ROOT=$(cd "$ROOT" && pwd)
R=${ROOT%/}              # prefix for every path below; empty for the live system
LIVE=0; [ -z "$R" ] && LIVE=1
[ -n "$APPLIANCE" ] || APPLIANCE=$((1 - LIVE))
if [ -n "$PRINTER" ] && ! [[ $PRINTER =~ ^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}(:[A-Za-z0-9._-]+)?$ ]]; then
  die "--printer-usb must look like 0416:5011 or 0416:5011:SERIAL (got '$PRINTER')"
fi
[ -z "$CONFIG" ] || [ -f "$CONFIG" ] || die "--config $CONFIG: no such file"
[ -z "$KEYS_DIR" ] || [ -d "$KEYS_DIR" ] || die "--keys $KEYS_DIR: no such directory"
if [ -n "$WHEELHOUSE" ]; then
  WHEELHOUSE=$(cd "$WHEELHOUSE" 2>/dev/null && pwd) || die "--wheelhouse: no such directory"
  compgen -G "$WHEELHOUSE/mynapoint_kiosk-*.whl" >/dev/null \
    || die "--wheelhouse $WHEELHOUSE has no mynapoint_kiosk wheel"
fi

# Write $2 (a file with the wanted content) to $1 only when it differs: a rerun with
# nothing new leaves every file, and its time stamp, as it was.
put() {
  local dest=$R$1 src=$2 mode=${3:-0644}
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
    [ "$(stat -c %a "$dest")" = "${mode#0}" ] || chmod "$mode" "$dest"
    return 0
  fi
  mkdir -p "$(dirname "$dest")"
  install -m "$mode" "$src" "$dest"
  say "wrote $1"
  CHANGED=1
}
CHANGED=0
CODE_CHANGED=0
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

install_packages() {
  [ "$APT" -eq 1 ] && [ "$LIVE" -eq 1 ] || return 0
  command -v apt-get >/dev/null || die "apt-get not found: Debian or Raspberry Pi OS only"
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The code's fingerprint: the venv is touched only when the code or the pip options change.
source_fingerprint() {
  (if [ -n "$WHEELHOUSE" ]; then
     cd "$WHEELHOUSE" && find . -maxdepth 1 -name '*.whl' -print0 | sort -z | xargs -0 sha256sum
   else
     cd "$SRC" && find contract kiosk drivers screens offline_queue central sim setup.cfg pyproject.toml \
       README.md -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 2>/dev/null \
       | sort -z | xargs -0 sha256sum
   fi
   echo "pip: ${MYNAPOINT_PIP_ARGS:-}") | sha256sum | cut -c1-64
}

install_venv() {
  local stamp=$R$APP/.installed-source fingerprint staged=$WORK/src py
  fingerprint=$(source_fingerprint)
  if [ -x "$R$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$fingerprint" ]; then
    return 0
  fi
  py=${PYTHON:-$(command -v python3)}
  local in_root=() at=$R wheels=$WHEELHOUSE
  if [ "$CHROOT" -eq 1 ]; then
    # Paths as seen from inside DIR; the wheels and the source are staged inside it.
    in_root=(chroot "$ROOT"); at=""; py=${PYTHON:-/usr/bin/python3}
    staged=$(mktemp -d "$R/tmp/mynapoint-install.XXXXXX"); STAGED_IN_ROOT=$staged
    if [ -n "$WHEELHOUSE" ]; then cp "$WHEELHOUSE"/*.whl "$staged/"; wheels=${staged#"$R"}; fi
    staged=$staged/src
  fi
  [ -x "$R$VENV/bin/python" ] || "${in_root[@]}" "$py" -m venv "$at$VENV"
  local what=("$staged")
  [ "$CHROOT" -eq 0 ] || what=("${staged#"$R"}")
  if [ -n "$WHEELHOUSE" ]; then
    what=(--no-index --find-links "$wheels" mynapoint-kiosk)
  else
    # Build from a copy: pip would leave build/ and *.egg-info in the source tree.
    mkdir -p "$staged"
    tar -C "$SRC" --exclude=__pycache__ --exclude='*.egg-info' -cf - \
        contract kiosk drivers screens offline_queue central sim setup.cfg pyproject.toml README.md \
      | tar -C "$staged" -xf -
  fi
  local pip=("${in_root[@]}" "$at$VENV/bin/python" -m pip install -q --disable-pip-version-check)
  # First the dependencies (a failure here leaves the installed code as it was), then
  # the code itself, reinstalled even at the same version number (pip rolls it back if
  # that fails).
  # shellcheck disable=SC2086 # MYNAPOINT_PIP_ARGS is a list of options
  "${pip[@]}" ${MYNAPOINT_PIP_ARGS:-} "${what[@]}"
  # shellcheck disable=SC2086
  "${pip[@]}" ${MYNAPOINT_PIP_ARGS:-} --no-deps --force-reinstall "${what[@]}"
  [ "$LIVE" -eq 1 ] || [ "$CHROOT" -eq 1 ] || relocate_venv
  [ -z "${STAGED_IN_ROOT:-}" ] || rm -rf "$STAGED_IN_ROOT"
  echo "$fingerprint" > "$stamp"
  say "installed the code in $VENV"
  CHANGED=1
  CODE_CHANGED=1
}

# The Japanese voice for spoken guidance (docs/speech.md), copied from this checkout's
# virtual environment (scripts/setup.sh put it there from a PyPI wheel), so an offline
# install needs no download. Without it the kiosk runs, silent in Japanese, and says so.
install_voice() {
  local voices=$SRC/.venv/share/mynapoint-kiosk/voices f
  if [ ! -f "$voices/mei_normal.htsvoice" ]; then
    say "no Japanese voice in $voices (scripts/install_voice.sh makes it): Japanese speech stays silent"
    return 0
  fi
  for f in mei_normal.htsvoice LICENSE_mei_normal.htsvoice; do
    put "$VENV/share/mynapoint-kiosk/voices/$f" "$voices/$f"
  done
}

# Noto Sans CJK cut down to the kiosk's characters (screens/font_subset.py: a quarter
# of the memory per open font size), made by scripts/setup.sh in this checkout's venv
# from its catalogs. Without it the kiosk uses the full Debian fonts (more memory).
install_fonts() {
  local fonts=$SRC/.venv/share/mynapoint-kiosk/fonts f
  if [ ! -f "$fonts/coverage.txt" ]; then
    say "no CJK subset in $fonts (scripts/setup.sh makes it): labels use the full fonts"
    return 0
  fi
  for f in NotoSansCJK-Regular.subset.otf NotoSansCJK-Bold.subset.otf coverage.txt; do
    put "$VENV/share/mynapoint-kiosk/fonts/$f" "$fonts/$f"
  done
}

# A venv built under --root names DIR/opt/... in its scripts; make them name /opt/...
relocate_venv() {
  local f
  grep -rlF --null "$R$VENV" "$R$VENV/bin" | while IFS= read -r -d '' f; do
    sed -i "s|$R$VENV|$VENV|g" "$f"
  done
}

install_files() {
  local tmp=$WORK
  for unit in "${UNITS[@]}"; do put "$UNIT_DIR/$unit" "$SRC/systemd/$unit"; done
  put "$SYSUSERS_CONF" "$SRC/systemd/mynapoint-kiosk.sysusers"
  put "$TMPFILES_CONF" "$SRC/systemd/mynapoint-kiosk.tmpfiles"
  put "$POLKIT_RULE" "$SRC/systemd/60-mynapoint-pcscd.rules"
  put "$APP/share/doc/appliance.md" "$SRC/docs/appliance.md"
  put "$ETC/kiosk.toml.example" "$SRC/systemd/kiosk.toml.example" 0640
  printer_rule > "$tmp/rule"
  if [ -n "$PRINTER" ] || [ ! -f "$R$UDEV_RULE" ]; then put "$UDEV_RULE" "$tmp/rule"; fi
  if [ -n "$CONFIG" ]; then put "$ETC/kiosk.toml" "$CONFIG" 0640; fi
  if [ -n "$KEYS_DIR" ]; then
    for f in "$KEYS_DIR"/*; do
      if [ -f "$f" ]; then put "$ETC/keys/$(basename "$f")" "$f" 0640; fi
    done
  fi
}

# --- the appliance layout (--appliance; docs/appliance.md, docs/decisions.md) -------------
LAYOUT=$SRC/systemd/appliance
SYSTEMD_LIB=/usr/local/lib/systemd
APPLIANCE_UNITS=(mynapoint-data.service mynapoint-firstboot.service)
FIRSTBOOT=/usr/local/lib/mynapoint-kiosk/firstboot
# Everything that would give a keyboard a way out of the kiosk, or swap on the SD card.
MASKED=(
  getty@.service serial-getty@.service autovt@.service console-getty.service
  container-getty@.service debug-shell.service ctrl-alt-del.target
  swap.target dphys-swapfile.service udisks2.service
)
# Generators that would add what the masks take away: swap or partitions found by type.
MASKED_GENERATORS=(systemd-gpt-auto-generator)

install_appliance() {
  [ "$APPLIANCE" -eq 1 ] || return 0
  local unit
  for unit in "${APPLIANCE_UNITS[@]}"; do put "$UNIT_DIR/$unit" "$LAYOUT/$unit"; done
  put "$UNIT_DIR/mynapoint-sync.service.d/60-appliance.conf" "$LAYOUT/sync-appliance.conf"
  put "$UNIT_DIR/mynapoint-kiosk.service.d/60-appliance.conf" "$LAYOUT/kiosk-appliance.conf"
  put "$FIRSTBOOT" "$LAYOUT/firstboot" 0755
  put "$SYSTEMD_LIB/journald.conf.d/60-mynapoint.conf" "$LAYOUT/journald.conf"
  put "$SYSTEMD_LIB/logind.conf.d/60-mynapoint.conf" "$LAYOUT/logind.conf"
  put "$SYSTEMD_LIB/system.conf.d/60-mynapoint.conf" "$LAYOUT/system.conf"
  put /usr/local/lib/sysctl.d/60-mynapoint.conf "$LAYOUT/sysctl.conf"
  put /usr/local/lib/udev/rules.d/61-mynapoint-no-usb-storage.rules \
    "$LAYOUT/61-mynapoint-no-usb-storage.rules"
  if [ "$LIVE" -eq 0 ]; then
    put /etc/fstab "$LAYOUT/fstab"     # an image's: a live machine keeps its own partitions
    mkdir -p "$R/data"
    # systemd-logind's StateDirectory=: on a read-only root systemd cannot make it at
    # start, and logind would fail at every boot (seen on the image's first boot).
    mkdir -p "$R/var/lib/systemd/linger"
  else
    say "the read-only root and the data partition are an image's (docs/appliance.md): /etc/fstab left as it is"
  fi
  for unit in "${MASKED[@]}"; do mask "/etc/systemd/system/$unit"; done
  for unit in "${MASKED_GENERATORS[@]}"; do mask "/etc/systemd/system-generators/$unit"; done
  lock_root_password
}

# What `systemctl mask` does, without touching a link that is already there.
mask() {
  local link=$R$1
  [ "$(readlink "$link" 2>/dev/null)" = /dev/null ] && return 0
  mkdir -p "$(dirname "$link")"
  ln -sfn /dev/null "$link"
  say "masked $(basename "$1")"
  CHANGED=1
}

# No password login as root anywhere (the console has no getty, but emergency mode asks).
lock_root_password() {
  local field
  field=$(awk -F: '$1 == "root" { print $2 }' "$R/etc/shadow" 2>/dev/null)
  case "$field" in ''|'!'*|'*'*) return 0 ;; esac
  usermod --root "$ROOT" --lock root 2>/dev/null || usermod --lock root
  say "locked root's password"
  CHANGED=1
}

# systemd never sets the clock before this file's time at boot (clock-epoch): the
# day the code was installed. Touched only when the code changed, so a rerun keeps it.
stamp_clock_epoch() {
  [ "$APPLIANCE" -eq 1 ] || return 0
  if [ "$CODE_CHANGED" -eq 1 ] || [ ! -e "$R/usr/lib/clock-epoch" ]; then
    mkdir -p "$R/usr/lib"
    touch "$R/usr/lib/clock-epoch"
  fi
}

enable_appliance_units() {
  [ "$APPLIANCE" -eq 1 ] || return 0
  local units=("${APPLIANCE_UNITS[@]}") opt=()
  [ "$LIVE" -eq 1 ] || opt=(--root="$ROOT")
  if [ -e "$R/usr/lib/systemd/system/systemd-timesyncd.service" ] \
     || [ -e "$R/lib/systemd/system/systemd-timesyncd.service" ]; then
    units+=(systemd-timesyncd.service)
  else
    say "systemd-timesyncd is not installed: the clock is set from the RTC alone"
  fi
  systemctl "${opt[@]}" enable --quiet "${units[@]}"
}

# The udev rule for --printer-usb (or the template's default printer).
printer_rule() {
  local vendor product serial=""
  if [ -z "$PRINTER" ]; then cat "$SRC/systemd/60-mynapoint-printer.rules"; return; fi
  IFS=: read -r vendor product serial <<< "$PRINTER"
  vendor=${vendor,,}; product=${product,,}
  sed -e "s/ATTRS{idVendor}==\"[0-9a-f]*\"/ATTRS{idVendor}==\"$vendor\"/" \
      -e "s/ATTRS{idProduct}==\"[0-9a-f]*\"/ATTRS{idProduct}==\"$product\"/" \
      "$SRC/systemd/60-mynapoint-printer.rules" \
    | if [ -n "$serial" ]; then
        sed -e "s/ATTRS{idProduct}==\"$product\", /&ATTRS{serial}==\"$serial\", /"
      else cat; fi
}

create_users_and_dirs() {
  local rootopt=()
  [ "$LIVE" -eq 1 ] || rootopt=(--root="$ROOT")
  local created
  created=$(systemd-sysusers "${rootopt[@]}" "$(basename "$SYSUSERS_CONF")" 2>&1)
  [ -z "$created" ] || { echo "$created"; CHANGED=1; }
  mkdir -p "$R$ETC/keys"
  if [ "$APPLIANCE" -eq 1 ] && [ "$LIVE" -eq 0 ]; then
    # An image: every kiosk made from it would share a secret made here. Its first boot
    # makes its own, on its data partition (mynapoint-firstboot.service).
    rm -f "$R$ETC/keys/guard.secret"
  elif [ ! -s "$R$ETC/keys/guard.secret" ]; then
    # The card guard's key: made once per kiosk, kept across reinstalls (never in the DB).
    (umask 077 && head -c 32 /dev/urandom > "$R$ETC/keys/guard.secret")
    say "made $ETC/keys/guard.secret"
    CHANGED=1
  fi
  systemd-tmpfiles "${rootopt[@]}" --create "$(basename "$TMPFILES_CONF")"
}

enable_units() {
  if [ "$LIVE" -eq 0 ]; then
    systemctl --root="$ROOT" enable --quiet "${UNITS[@]}"
    return
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    command -v udevadm >/dev/null && {
      udevadm control --reload
      udevadm trigger --action=add --subsystem-match=tty
    }
  fi
  systemctl enable --quiet "${UNITS[@]}"
  if [ -d /run/systemd/system ] && [ "$CHANGED" -eq 1 ]; then
    systemctl try-restart "${UNITS[@]}"   # an upgrade: running services pick it up
  fi
}

install_packages
install_files
install_appliance
install_venv
install_voice
install_fonts
stamp_clock_epoch
create_users_and_dirs
enable_units
enable_appliance_units
if [ ! -f "$R$ETC/kiosk.toml" ]; then
  say "next: cp $ETC/kiosk.toml.example $ETC/kiosk.toml, edit it, put the certificates"
  say "      in $ETC/keys/, then: systemctl start ${UNITS[*]}"
fi
[ "$CHANGED" -eq 1 ] || say "already installed, nothing changed"
