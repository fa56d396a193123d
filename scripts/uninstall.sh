#!/usr/bin/env bash
# Remove the Mynapoint kiosk appliance installed by scripts/install.sh.
#
#   sudo scripts/uninstall.sh [--purge] [--root DIR]
#
# Stops and disables the services, removes the code (/opt/mynapoint-kiosk), the units,
# sysusers and tmpfiles entries and the printer's udev rule. Keeps the queue database
# (/var/lib/mynapoint-kiosk: enrollments not yet delivered must not be lost), the site's
# configuration, keys and certificates (/etc/mynapoint-kiosk) and the users, unless
# --purge is given. Safe to run twice.
set -euo pipefail

ROOT=/
PURGE=0
die() { echo "uninstall.sh: $*" >&2; exit 2; }
say() { echo "uninstall.sh: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
    --purge) PURGE=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 ...)"
ROOT=$(cd "$ROOT" && pwd)
R=${ROOT%/}
LIVE=0; [ -z "$R" ] && LIVE=1

UNITS=(mynapoint-kiosk.service mynapoint-sync.service)
FILES=(
  /usr/local/lib/systemd/system/mynapoint-kiosk.service
  /usr/local/lib/systemd/system/mynapoint-sync.service
  /usr/local/lib/sysusers.d/mynapoint-kiosk.conf
  /usr/local/lib/tmpfiles.d/mynapoint-kiosk.conf
  /etc/udev/rules.d/60-mynapoint-printer.rules
  /etc/polkit-1/rules.d/60-mynapoint-pcscd.rules
)

if [ "$LIVE" -eq 1 ]; then
  if [ -d /run/systemd/system ]; then
    systemctl disable --now --quiet "${UNITS[@]}" 2>/dev/null || true
  else
    systemctl disable --quiet "${UNITS[@]}" 2>/dev/null || true
  fi
elif [ -e "$R/usr/local/lib/systemd/system/${UNITS[0]}" ]; then
  systemctl --root="$ROOT" disable --quiet "${UNITS[@]}" 2>/dev/null || true
fi

for f in "${FILES[@]}"; do
  if [ -e "$R$f" ]; then rm -f "$R$f"; say "removed $f"; fi
done
if [ -d "$R/opt/mynapoint-kiosk" ]; then
  rm -rf "$R/opt/mynapoint-kiosk"
  say "removed /opt/mynapoint-kiosk"
fi

if [ "$PURGE" -eq 1 ]; then
  for d in /var/lib/mynapoint-kiosk /etc/mynapoint-kiosk; do
    if [ -d "$R$d" ]; then rm -rf "$R$d"; say "removed $d"; fi
  done
  prefix=()
  [ "$LIVE" -eq 1 ] || prefix=(--prefix "$ROOT")
  for u in mynapoint-kiosk mynapoint-sync; do
    if grep -q "^$u:" "$R/etc/passwd"; then userdel "${prefix[@]}" "$u"; say "removed user $u"; fi
  done
  if grep -q "^mynapoint:" "$R/etc/group"; then
    groupdel "${prefix[@]}" mynapoint
    say "removed group mynapoint"
  fi
else
  [ -d "$R/var/lib/mynapoint-kiosk" ] && say "kept /var/lib/mynapoint-kiosk (the queue); --purge removes it"
  [ -d "$R/etc/mynapoint-kiosk" ] && say "kept /etc/mynapoint-kiosk (configuration, keys); --purge removes it"
fi

if [ "$LIVE" -eq 1 ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  command -v udevadm >/dev/null && udevadm control --reload
fi
exit 0
