#!/bin/bash
# Run the suite as a new user would: on a brand-new Debian 12 (debootstrap
# --variant=minbase bookworm), as root, from a clean clone of this checkout's
# HEAD, with nothing installed by hand. This is how the set-up promise of
# README.md is checked (docs/setup.md); it is not part of scripts/test.sh.
#
#   scripts/fresh-debian.sh DIR                      HB_TEST_QUICK=1 ./scripts/test.sh
#   scripts/fresh-debian.sh DIR -- ./scripts/test.sh the full suite
#   scripts/fresh-debian.sh DIR -- bash              look around
#   scripts/fresh-debian.sh --ca FILE.crt DIR ...     trust one more CA
#
# --ca (repeatable): a network that intercepts TLS (a company proxy, a
# sandbox's egress) needs its CA in the chroot for npm; the certificate is
# copied to DIR/usr/local/share/ca-certificates/, which Debian's
# ca-certificates (installed by scripts/deps.sh) adds to the system store.
#
# DIR is created (debootstrap, about 3 minutes) unless it holds a finished
# one already; the repository is cloned into DIR/root/honeybee afresh each
# time. DIR itself (bind-mounted on itself), /proc, and the host's /sys and
# /dev (with what is below them) are mounted for the run and unmounted
# after it. Needs root, debootstrap and the Debian
# mirror (apt-get inside the chroot installs what scripts/deps.sh lists).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
cas=()
while [ "${1:-}" = --ca ]; do cas+=("$2"); shift 2; done
[ $# -ge 1 ] || { sed -n '2,22p' "$0"; exit 2; }
dir=$(realpath -m "$1"); shift
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || set -- env HB_TEST_QUICK=1 ./scripts/test.sh
[ "$(id -u)" = 0 ] || { echo "fresh-debian.sh: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
mirror=${HB_DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ ! -e "$dir/etc/debian_version" ] || [ ! -x "$dir/usr/bin/apt-get" ]; then
    command -v debootstrap >/dev/null || { echo "fresh-debian.sh: debootstrap not found" >&2; exit 1; }
    echo "== debootstrap --variant=minbase bookworm $dir"
    debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 ||
        { tail -20 "$dir.debootstrap.log"; exit 1; }
fi

mounted=()
cleanup() {
    local i
    # Lazy: detaches each mount with everything below it (the rbinds).
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" || true; done
}
trap cleanup EXIT
# DIR onto itself first: the chroot's / must be a mount point, because
# buildah's storage makes / private in its mount namespace (mount(2) says
# EINVAL for a / that is a plain directory). Every mount here is private or
# a slave, so nothing mounted inside the chroot propagates to the host.
mount --bind "$dir" "$dir" && mounted+=("$dir")
mount --make-private "$dir"
mount -t proc proc "$dir/proc" && mounted+=("$dir/proc")
for fs in sys dev; do
    mount --rbind "/$fs" "$dir/$fs" && mounted+=("$dir/$fs")
    mount --make-rslave "$dir/$fs"
done
cp /etc/resolv.conf "$dir/etc/resolv.conf"
if [ ${#cas[@]} -gt 0 ]; then
    mkdir -p "$dir/usr/local/share/ca-certificates"
    cp "${cas[@]}" "$dir/usr/local/share/ca-certificates/"
    # Already installed ca-certificates: add them now (else its postinst will).
    if [ -x "$dir/usr/sbin/update-ca-certificates" ]; then
        chroot "$dir" /usr/sbin/update-ca-certificates >/dev/null
    fi
fi

echo "== clone $(git -C "$src" rev-parse --short HEAD) into $dir/root/honeybee"
rm -rf "$dir/root/honeybee"
git clone -q --no-hardlinks "$src" "$dir/root/honeybee"
git -C "$dir/root/honeybee" checkout -q "$(git -C "$src" rev-parse HEAD)"

echo "== chroot $dir: $*"
rc=0
chroot "$dir" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/sh -c 'cd /root/honeybee && exec "$@"' sh "$@" || rc=$?
echo "== exit $rc"
exit "$rc"
