#!/usr/bin/env bash
# The appliance around the installed kiosk, in a root being built
# (scripts/build-image.sh): mounts, the data partition's layout, first boot, network,
# console. Usage: image/layout.sh ROOTFS VIRTUAL_READER(0|1) DATA_SKELETON_DIR
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
R=${1:?rootfs}; VIRTUAL_READER=${2:-0}; DATA=${3:?data skeleton dir}

# Replaces the fstab and first-boot unit that install.sh --appliance put there (labels
# mynapoint-root/-data, keys/ bound alone): this image's partitions are labelled
# kiosk-root/-data and bind the whole configuration. Two layouts written side by side in
# one session; to be made one before the image's first boot check (docs/decisions.md).
install -m 0644 "$HERE/fstab" "$R/etc/fstab"
mkdir -p "$R/data" "$R/var/cache/mynapoint-kiosk"

# The data partition's first content: the marker, the configuration directory as
# install.sh left it (the template; keys/ empty: first boot makes the secrets), and
# the state systemd keeps across boots. Owners and modes are set at boot by tmpfiles
# (systemd/mynapoint-kiosk.tmpfiles) and by the units' StateDirectory=/CacheDirectory=.
rm -rf "$DATA"; mkdir -p "$DATA"/{state,journal,cache}
echo "mynapoint-data 1" > "$DATA/.mynapoint-data"
cp -a "$R/etc/mynapoint-kiosk" "$DATA/etc-mynapoint-kiosk"
rm -f "$DATA/etc-mynapoint-kiosk/keys/guard.secret" "$R/etc/mynapoint-kiosk/keys/guard.secret"
cp -a "$R/var/lib/systemd" "$DATA/systemd"
cp -a "$R/var/lib/mynapoint-kiosk/." "$DATA/state/" 2>/dev/null || true

# First boot: per-kiosk secrets and the machine id.
install -D -m 0755 "$HERE/firstboot" "$R/usr/local/lib/mynapoint-kiosk/firstboot"
install -m 0644 "$HERE/mynapoint-firstboot.service" "$R/usr/local/lib/systemd/system/"
systemctl --root="$R" enable --quiet mynapoint-firstboot.service
# No machine id in the image: each kiosk makes its own on first boot.
: > "$R/etc/machine-id"; rm -f "$R/var/lib/dbus/machine-id"
ln -sf /etc/machine-id "$R/var/lib/dbus/machine-id"
# systemd-firstboot would prompt on the console on a first boot: the image sets it all.
ln -sf /dev/null "$R/etc/systemd/system/systemd-firstboot.service"

# Identity, time zone, locale.
echo mynapoint-kiosk > "$R/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tmynapoint-kiosk\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
ln -sf /usr/share/zoneinfo/Asia/Tokyo "$R/etc/localtime"; echo Asia/Tokyo > "$R/etc/timezone"
echo 'LANG=C.UTF-8' > "$R/etc/locale.conf"

# Network: systemd-networkd (DHCP on any wired or wireless interface) and resolved;
# nothing of theirs is written under /etc at run time.
mkdir -p "$R/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' > "$R/etc/systemd/network/20-wired.network"
ln -sf ../run/systemd/resolve/stub-resolv.conf "$R/etc/resolv.conf"
systemctl --root="$R" enable --quiet systemd-networkd.service systemd-resolved.service systemd-timesyncd.service
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
fi

# No package lists or caches in the image.
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/log/*.log "$R"/var/log/apt/*
