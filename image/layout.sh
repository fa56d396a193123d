#!/usr/bin/env bash
# What only an image has, around the kiosk and the appliance layout that
# scripts/install.sh --appliance installed (systemd/appliance/: fstab, data partition,
# first boot, journald, no way out): the data partition's first content, the machine id,
# the host name and time zone, the network, the virtual reader for scripts/check-image.sh.
# Usage (scripts/build-image.sh): image/layout.sh ROOTFS VIRTUAL_READER(0|1) DATA_SKELETON_DIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
R=${1:?rootfs}; VIRTUAL_READER=${2:-0}; DATA=${3:?data skeleton dir}
[ -f "$R/etc/fstab" ] && grep -q '^LABEL=mynapoint-data' "$R/etc/fstab" \
  || { echo "layout.sh: $R/etc/fstab is not the appliance's (install.sh --appliance)" >&2; exit 2; }

# The data partition's first content, one directory per bind of /etc/fstab, taken from
# where install.sh left it in the root (owners and modes kept; tmpfiles re-applies them
# at every boot). Then the root keeps the directories alone, and the template: the
# site's configuration and keys never stay in the image (nor in its rootfs tarball),
# and a kiosk whose data partition is missing sees the template, an empty queue
# directory and Kivy's home (a directory it would otherwise try to make on a read-only
# root).
rm -rf "$DATA"; mkdir -p "$DATA"
while read -r what where _; do
  name=${what#/data/}
  mkdir -p "$R$where"               # the mount point, on the read-only root
  cp -a "$R$where" "$DATA/$name"
  find "$R$where" -mindepth 1 ! -type d ! -name kiosk.toml.example -delete
done < <(awk '$1 ~ /^\/data\// && $4 ~ /(^|,)bind(,|$)/ { print $1, $2 }' "$R/etc/fstab")
rm -f "$DATA/config/keys/guard.secret"   # each kiosk's own, made at its first boot
mkdir -p "$R/data"

# No machine id in the image: each kiosk makes its own on first boot, committed once.
install -D -m 0755 "$HERE/commit-machine-id" "$R/usr/local/lib/mynapoint-kiosk/commit-machine-id"
install -m 0644 "$HERE/mynapoint-machine-id.service" "$R/usr/local/lib/systemd/system/"
systemctl --root="$R" enable --quiet mynapoint-machine-id.service
: > "$R/etc/machine-id"; mkdir -p "$R/var/lib/dbus"; rm -f "$R/var/lib/dbus/machine-id"
ln -sf /etc/machine-id "$R/var/lib/dbus/machine-id"
# systemd-firstboot would prompt on the console on a first boot: the image sets it all.
ln -sf /dev/null "$R/etc/systemd/system/systemd-firstboot.service"

# Identity, time zone, locale.
echo mynapoint-kiosk > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tmynapoint-kiosk\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
ln -sf /usr/share/zoneinfo/Asia/Tokyo "$R/etc/localtime"; echo Asia/Tokyo > "$R/etc/timezone"
echo 'LANG=C.UTF-8' > "$R/etc/locale.conf"

# Network: systemd-networkd (DHCP on any wired interface) and resolved; nothing of theirs
# is written under /etc at run time.
mkdir -p "$R/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' > "$R/etc/systemd/network/20-wired.network"
ln -sf ../run/systemd/resolve/stub-resolv.conf "$R/etc/resolv.conf"
systemctl --root="$R" enable --quiet systemd-networkd.service systemd-resolved.service
# Offline is normal for a kiosk: waiting for the network holds up the sync worker only,
# and only briefly (it retries by itself).
mkdir -p "$R/etc/systemd/system/systemd-networkd-wait-online.service.d"
printf '[Service]\nExecStart=\nExecStart=/lib/systemd/systemd-networkd-wait-online --any --timeout=15\n' \
  > "$R/etc/systemd/system/systemd-networkd-wait-online.service.d/kiosk.conf"

# The virtual card reader, for scripts/check-image.sh only: vpcd on TCP 35963, which
# the VM's user network forwards from the host's loopback.
if [ "$VIRTUAL_READER" -eq 1 ]; then
  # vsmartcard-vpcd's own /etc/reader.conf.d/vpcd: DEVICENAME /dev/null:0x8C7B (35963).
  grep -q 0x8C7B "$R/etc/reader.conf.d/vpcd" || { echo "layout.sh: no vpcd reader.conf" >&2; exit 2; }
  echo "virtual-reader" > "$R/etc/mynapoint-image-flavour"
  # Emulation only: under qemu TCG the kiosk's first start ran past TimeoutStartSec=120
  # and a first visit to a screen held the UI thread past WatchdogSec=30 (systemd killed
  # it mid-enrollment). The shop image keeps the unit's own limits.
  mkdir -p "$R/etc/systemd/system/mynapoint-kiosk.service.d"
  printf '[Service]\nTimeoutStartSec=600\nWatchdogSec=300\n' \
    > "$R/etc/systemd/system/mynapoint-kiosk.service.d/90-emulation.conf"
fi

# No package lists or caches in the image.
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/log/*.log "$R"/var/log/apt/*
