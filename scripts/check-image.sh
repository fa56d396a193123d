#!/usr/bin/env bash
# Boot the arm64 appliance image under qemu-system-aarch64 (TCG: no KVM for another CPU)
# and check it from the host; minutes, so not part of ./test. See docs/appliance.md,
# "Checking the image".
#
#   sudo scripts/check-image.sh [--build] [--keys] [--sessions N] [--power-cuts N]
#                               [--faults] [--screenshots] [--work DIR] [--seed N]
#
# Always: the first boot makes the per-kiosk secrets; both units reach active (the
# kiosk's READY comes with its first drawn welcome frame); a screenshot of the welcome
# screen; a virtual card placed from the host (vpcd, forwarded from 127.0.0.1 only)
# completes an enrollment that reaches the central service on the host, and so does
# the kiosk's heartbeat.
# --keys          Ctrl+Alt+F1/F2, Alt+F4, Ctrl+C, Alt+SysRq+B/S, Ctrl+Alt+Del, Escape
#                 through qemu's monitor: the kiosk stays in front, in the same state
# --sessions N    N more whole enrollments, the kiosk's RSS after 1, 10, ... N
# --power-cuts N  SIGKILL qemu N times (while enqueuing, while syncing, during boot),
#                 boot again each time; then every enrollment seen accepted/queued is
#                 delivered exactly once and the queue passes PRAGMA integrity_check
# --faults        a clock the kiosk knows is wrong (RTC in 2001, no network): refused
#                 at the card; the data partition missing: maintenance, nothing written
#                 to it; put back: the kiosk and its queue as before
# --screenshots   write docs/screenshots/arm64_welcome.png and arm64_result.png
# --build         run scripts/build-image.sh --virtual-reader first
# The image checked is build/image/kiosk-arm64.img as built with --virtual-reader.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "check-image.sh: run as root" >&2; exit 2; }
command -v qemu-system-aarch64 >/dev/null && [ -f /usr/share/AAVMF/AAVMF_CODE.fd ] \
  || { echo "check-image.sh: apt-get install qemu-system-arm qemu-efi-aarch64" >&2; exit 2; }
args=()
for a in "$@"; do
  if [ "$a" = --build ]; then "$SRC/scripts/build-image.sh" --virtual-reader; else args+=("$a"); fi
done
grep -qx virtual-reader "$SRC/build/image/rootfs/etc/mynapoint-image-flavour" 2>/dev/null \
  || { echo "check-image.sh: build/image is not the --virtual-reader build (use --build)" >&2; exit 2; }
exec "$SRC/.venv/bin/python" "$SRC/image/check_image.py" "${args[@]}"
