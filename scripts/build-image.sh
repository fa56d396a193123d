#!/usr/bin/env bash
# Build the kiosk appliance image: Debian 12 (bookworm) arm64, made on any Debian host
# with mmdebstrap and qemu-user-static (binfmt), the kiosk installed by the project's
# own scripts/install.sh. See docs/appliance.md, "The arm64 image".
#
#   sudo scripts/build-image.sh [--out DIR] [--cache DIR] [--virtual-reader]
#
# Output in DIR (default build/image):
#   kiosk-arm64.img          GPT disk: EFI system partition (systemd-boot, kernel,
#                            initrd), root (ext4, mounted read-only), data (ext4: the
#                            queue, keys, configuration, journal). Boots on qemu's virt
#                            machine with the AAVMF firmware (scripts/check-image.sh), or
#                            any arm64 UEFI machine; dd it to a disk as it is.
#   kiosk-arm64-rootfs.tar.zst   the root file system, for a Raspberry Pi OS image to
#                            take (its own kernel, firmware and config.txt).
#   data-skeleton.tar        the data partition's empty layout (owners, modes).
# --cache DIR (default /var/cache/mynapoint-image) keeps the .deb files and the pip
# wheelhouse: a second build downloads nothing and compiles nothing.
# --reuse-rootfs starts from the Debian root as mmdebstrap left it in an earlier run
# (DIR/rootfs-debootstrapped.tar, restored afresh: the steps after it change the root in
# place, so reusing DIR/rootfs itself would carry an earlier run's files along). The
# Debian step takes most of the time under emulation: 50 minutes on a busy 2-core host.
# --virtual-reader adds the virtual card reader (vsmartcard-vpcd, listening on TCP 35963
# inside the VM) and the QEMU guest agent (the check runs commands in the VM through it)
# for scripts/check-image.sh; never on a shop's kiosk.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=$SRC/build/image
CACHE=/var/cache/mynapoint-image
VIRTUAL_READER=0
REUSE=0
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
# The partitions' labels are the appliance fstab's (install.sh puts it in the root).
fstab_label() { awk -v at="$1" '$2 == at && $1 ~ /^LABEL=/ { sub(/^LABEL=/, "", $1); print $1 }' \
  "$SRC/systemd/appliance/fstab"; }
ROOT_LABEL=$(fstab_label /)
DATA_LABEL=$(fstab_label /data)
ESP_LABEL=MYNAPT-ESP
ESP_MIB=160
DATA_MIB=256

die() { echo "build-image.sh: $*" >&2; exit 2; }
say() { echo "build-image.sh: $(date +%T) $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --cache) CACHE=${2:?--cache needs a directory}; shift 2 ;;
    --virtual-reader) VIRTUAL_READER=1; shift ;;
    --reuse-rootfs) REUSE=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[ -n "$ROOT_LABEL" ] && [ -n "$DATA_LABEL" ] || die "no LABEL= for / and /data in systemd/appliance/fstab"
[ "$(id -u)" -eq 0 ] || die "run as root (mmdebstrap's chroot, device nodes, file owners)"
for tool in mmdebstrap arch-test mkfs.ext4 mkfs.vfat mcopy sfdisk zstd; do
  command -v "$tool" >/dev/null || die "$tool missing: apt-get install mmdebstrap arch-test e2fsprogs dosfstools mtools fdisk zstd qemu-user-static"
done
# arm64 programs run on this host through binfmt_misc and qemu-user-static.
if [ "$(uname -m)" != aarch64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 \
    || die "no binfmt for aarch64: apt-get install qemu-user-static binfmt-support"
fi
mkdir -p "$OUT" "$CACHE/debs" "$CACHE/wheels"
OUT=$(cd "$OUT" && pwd); CACHE=$(cd "$CACHE" && pwd)
ROOTFS=$OUT/rootfs
WORK=$(mktemp -d "$OUT/.work.XXXXXX")
cleanup() {
  for m in "$ROOTFS/tmp/wheels" "$ROOTFS/proc" "$ROOTFS/dev" "$ROOTFS/sys"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m"
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# The kiosk's Debian packages: install.sh's own list (runtime and pyscard's build
# tools), plus what the appliance needs around it.
mapfile -t KIOSK_PACKAGES < <(sed -n '/^APT_PACKAGES=(/,/^)/p' "$SRC/scripts/install.sh" \
  | sed -e '1d;$d' -e 's/#.*//' | tr -s ' \t' '\n' | sed '/^$/d')
BUILD_ONLY=(gcc swig libpcsclite-dev python3-dev)      # purged once the venv is built
PACKAGES=(
  "${KIOSK_PACKAGES[@]}"
  systemd-sysv udev dbus kmod linux-image-arm64 initramfs-tools systemd-boot-efi
  systemd-timesyncd systemd-resolved iproute2 ca-certificates e2fsprogs tzdata
  libgbm1 libdrm2 fonts-noto-core
  open-jtalk open-jtalk-mecab-naist-jdic espeak-ng alsa-utils
)
[ "$VIRTUAL_READER" -eq 0 ] || PACKAGES+=(vsmartcard-vpcd qemu-guest-agent)

# 1. The Debian system. The .deb files go through the cache both ways (mmdebstrap's
# sync-in/sync-out hooks), so a rebuild fetches only the package lists.
say "mmdebstrap $SUITE arm64 (${#PACKAGES[@]} packages)"
# A run stopped halfway may have left /proc, /dev, /sys bound in the old root: unbind
# them before deleting it, and never delete across a mount.
{ findmnt -rn -o TARGET | grep "^$ROOTFS/" || true; } | sort -r | while read -r m; do umount -l "$m"; done
PRISTINE=$OUT/rootfs-debootstrapped.tar
if [ "$REUSE" -eq 1 ] && [ -f "$PRISTINE" ]; then
  say "reusing the Debian root of an earlier run ($PRISTINE)"
  rm -rf --one-file-system "$ROOTFS"
  mkdir -p "$ROOTFS"
  tar --numeric-owner --xattrs --xattrs-include='*' -C "$ROOTFS" -xf "$PRISTINE"
else
rm -rf --one-file-system "$ROOTFS" "$PRISTINE"
mmdebstrap --quiet --arch=arm64 --variant=apt --mode=root \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --include="$(IFS=,; echo "${PACKAGES[*]}")" \
  --skip=download/empty --skip=essential/unlink \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
  --setup-hook="sync-in $CACHE/debs /var/cache/apt/archives/" \
  --customize-hook="sync-out /var/cache/apt/archives $CACHE/debs" \
  --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
  "$SUITE" "$ROOTFS" \
  "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
  "deb http://deb.debian.org/debian-security $SUITE-security main"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$ROOTFS" -cf "$PRISTINE.new" .
mv "$PRISTINE.new" "$PRISTINE"
fi

in_root() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
mount --bind /proc "$ROOTFS/proc"; mount --bind /dev "$ROOTFS/dev"; mount --bind /sys "$ROOTFS/sys"

# 2. The wheelhouse: every dependency as an arm64 wheel, built once under qemu-user
# (pyscard from source: swig and the PC/SC headers) and kept in the cache. A build with
# a full wheelhouse needs no network. This host's CA bundle goes in for pip (a proxy's
# CA may be in it), and out again.
say "wheelhouse"
mkdir -p "$ROOTFS/tmp/wheels" "$ROOTFS/tmp/src"
mount --bind "$CACHE/wheels" "$ROOTFS/tmp/wheels"
rm -f "$CACHE/wheels"/mynapoint_kiosk-*.whl
tar -C "$SRC" --exclude=__pycache__ --exclude='*.egg-info' -cf - \
    contract kiosk drivers screens offline_queue central sim setup.cfg pyproject.toml README.md \
  | tar -C "$ROOTFS/tmp/src" -xf -
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/tmp/host-ca.crt"
rm -f "$ROOTFS/etc/resolv.conf"; cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
in_root python3 -m venv /tmp/buildvenv
if ! in_root /tmp/buildvenv/bin/pip wheel -q --no-index --find-links /tmp/wheels -w /tmp/wheels /tmp/src 2>/dev/null; then
  say "wheelhouse incomplete: downloading and building (slow under emulation)"
  in_root PIP_CERT=/tmp/host-ca.crt /tmp/buildvenv/bin/pip wheel -q --disable-pip-version-check \
    --find-links /tmp/wheels -w /tmp/wheels /tmp/src
fi
cp "$CACHE/wheels"/*.whl "$WORK/"      # install.sh takes a directory of wheels
umount "$ROOTFS/tmp/wheels"
rm -rf "$ROOTFS/tmp/buildvenv" "$ROOTFS/tmp/src" "$ROOTFS/tmp/wheels" "$ROOTFS/tmp/host-ca.crt"

# 3. The kiosk, by the project's own installer (venv made and pip run inside the root).
say "install.sh --root"
"$SRC/scripts/install.sh" --root "$ROOTFS" --chroot --wheelhouse "$WORK" --no-apt
rm -f "$WORK"/*.whl

# 4. No compiler on a shop's kiosk.
say "purge build-only packages"
installed=()
for p in "${BUILD_ONLY[@]}"; do
  in_root dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && installed+=("$p")
done
[ ${#installed[@]} -eq 0 ] || in_root apt-get purge -y -q "${installed[@]}" >/dev/null
in_root apt-get autoremove --purge -y -q >/dev/null
in_root apt-get clean

# 5. What only an image has: the data partition's first content, the machine id, the
# network (the appliance layout itself came with install.sh --appliance).
say "image layout (image/layout.sh)"
"$SRC/image/layout.sh" "$ROOTFS" "$VIRTUAL_READER" "$WORK/data"
umount "$ROOTFS/proc" "$ROOTFS/dev" "$ROOTFS/sys"

# 6. The rootfs tarball (before the boot files move to the ESP).
say "rootfs tarball"
tar --numeric-owner --xattrs -C "$ROOTFS" -cf - . | zstd -q -T0 -6 -f -o "$OUT/kiosk-arm64-rootfs.tar.zst"

# 7. The disk: ESP (FAT32, systemd-boot + kernel + initrd), root, data.
say "disk image"
kver=$(basename "$(ls -d "$ROOTFS"/lib/modules/* | sort -V | tail -1)")
ESP=$WORK/esp.img
truncate -s ${ESP_MIB}M "$ESP"; mkfs.vfat -F 32 -n "$ESP_LABEL" "$ESP" >/dev/null
mmd -i "$ESP" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
mcopy -i "$ESP" "$ROOTFS/usr/lib/systemd/boot/efi/systemd-bootaa64.efi" ::/EFI/BOOT/BOOTAA64.EFI
# systemd-boot starts the kernel's own EFI stub: an Image, unpacked if gzip'd.
if gzip -t "$ROOTFS/boot/vmlinuz-$kver" 2>/dev/null; then
  zcat "$ROOTFS/boot/vmlinuz-$kver" > "$WORK/vmlinux"
else
  cp "$ROOTFS/boot/vmlinuz-$kver" "$WORK/vmlinux"
fi
mcopy -i "$ESP" "$WORK/vmlinux" ::/vmlinux
mcopy -i "$ESP" "$ROOTFS/boot/initrd.img-$kver" ::/initrd.img
printf 'default kiosk.conf\ntimeout 0\neditor no\nauto-entries no\nauto-firmware no\n' > "$WORK/loader.conf"
mcopy -i "$ESP" "$WORK/loader.conf" ::/loader/loader.conf
cmdline="root=LABEL=$ROOT_LABEL ro rootwait console=ttyAMA0 quiet loglevel=3 systemd.show_status=auto systemd.getty_auto=0"
printf 'title Mynapoint kiosk\nlinux /vmlinux\ninitrd /initrd.img\noptions %s\n' "$cmdline" > "$WORK/kiosk.conf"
mcopy -i "$ESP" "$WORK/kiosk.conf" ::/loader/entries/kiosk.conf
echo "$cmdline" > "$OUT/cmdline.txt"

root_mib=$(( $(du -sm -x "$ROOTFS" | cut -f1) * 115 / 100 + 128 ))
mkfs.ext4 -q -F -L "$ROOT_LABEL" -d "$ROOTFS" -E root_owner=0:0 "$WORK/root.img" "${root_mib}M"
mkfs.ext4 -q -F -L "$DATA_LABEL" -d "$WORK/data" -E root_owner=0:0 -O metadata_csum "$WORK/data.img" "${DATA_MIB}M"
tar --numeric-owner -C "$WORK/data" -cf "$OUT/data-skeleton.tar" .

IMG=$OUT/kiosk-arm64.img
rm -f "$IMG"
total=$(( 1 + ESP_MIB + root_mib + DATA_MIB + 1 ))
truncate -s ${total}M "$IMG"
sfdisk -q "$IMG" <<EOF
label: gpt
start=1MiB, size=${ESP_MIB}MiB, type=uefi, name=esp
size=${root_mib}MiB, type=linux, name=root
size=${DATA_MIB}MiB, type=linux, name=data
EOF
dd if="$ESP" of="$IMG" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$WORK/root.img" of="$IMG" bs=1M seek=$(( 1 + ESP_MIB )) conv=notrunc,sparse status=none
dd if="$WORK/data.img" of="$IMG" bs=1M seek=$(( 1 + ESP_MIB + root_mib )) conv=notrunc,sparse status=none
say "done: $IMG (${total} MiB: ESP ${ESP_MIB}, root ${root_mib}, data ${DATA_MIB}), kernel $kver"
ls -la "$OUT"
