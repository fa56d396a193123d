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
  # the appliance layout (install.sh --appliance); /etc/fstab is left as it is
  /usr/local/lib/systemd/system/mynapoint-data.service
  /usr/local/lib/systemd/system/mynapoint-firstboot.service
  /usr/local/lib/systemd/system/mynapoint-sync.service.d/60-appliance.conf
  /usr/local/lib/systemd/system/mynapoint-kiosk.service.d/60-appliance.conf
  /usr/local/lib/mynapoint-kiosk/firstboot
  /usr/local/lib/systemd/journald.conf.d/60-mynapoint.conf
  /usr/local/lib/systemd/logind.conf.d/60-mynapoint.conf
  /usr/local/lib/systemd/system.conf.d/60-mynapoint.conf
  /usr/local/lib/sysctl.d/60-mynapoint.conf
  /usr/local/lib/udev/rules.d/61-mynapoint-no-usb-storage.rules
)
APPLIANCE_UNITS=(mynapoint-data.service mynapoint-firstboot.service)
# What install.sh --appliance masked (a link to /dev/null), unmasked again.
MASKED=(
  /etc/systemd/system/getty@.service /etc/systemd/system/serial-getty@.service
  /etc/systemd/system/autovt@.service /etc/systemd/system/console-getty.service
  /etc/systemd/system/container-getty@.service /etc/systemd/system/debug-shell.service
  /etc/systemd/system/ctrl-alt-del.target /etc/systemd/system/swap.target
  /etc/systemd/system/dphys-swapfile.service /etc/systemd/system/udisks2.service
  /etc/systemd/system-generators/systemd-gpt-auto-generator
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
if [ -e "$R/usr/local/lib/systemd/system/${APPLIANCE_UNITS[0]}" ]; then
  opt=(); [ "$LIVE" -eq 1 ] || opt=(--root="$ROOT")
  systemctl "${opt[@]}" disable --quiet "${APPLIANCE_UNITS[@]}" 2>/dev/null || true
fi
for link in "${MASKED[@]}"; do
  if [ "$(readlink "$R$link" 2>/dev/null)" = /dev/null ]; then rm -f "$R$link"; say "unmasked $(basename "$link")"; fi
done

for f in "${FILES[@]}"; do
  if [ -e "$R$f" ]; then rm -f "$R$f"; say "removed $f"; fi
done
for d in systemd/system/mynapoint-sync.service.d systemd/system/mynapoint-kiosk.service.d mynapoint-kiosk; do
  rmdir "$R/usr/local/lib/$d" 2>/dev/null || true
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
