#!/bin/bash
# Build the container image from docker/Dockerfile, as written, without a
# Docker daemon: Debian's buildah (`buildah bud --isolation chroot
# --pull-never`), on base images made here with debootstrap and stored under
# the names the Dockerfile's FROM lines use (debian:12, debian:12-slim).
# scripts/test.sh's image step runs it (tests/image/test_image.py), then
# runs the image; docs/setup.md has the details.
#
#   scripts/image.sh [--tag NAME]     build; prints "image: NAME ID" last
#   scripts/image.sh --bases-only     only make (or find) the base images
#
# Base images are cached in $HB_IMAGE_CACHE (default
# /var/cache/honeybee-image), one folder per Debian release and day
# (bookworm-YYYYMMDD), reused for $HB_IMAGE_BASE_DAYS days (default 7), then
# made afresh; older folders are deleted. buildah's layer cache (--layers)
# keeps the unchanged steps of the Dockerfile (its apt-get lines) between
# runs. Runs hold a lock (flock on the cache folder): two suites on one
# machine take turns.
#
# Exit 77 (the suite's "skipped") with the reason when this machine cannot
# build: not root, no buildah, no debootstrap. Needs the Debian mirror
# (debootstrap, and the Dockerfile's apt-get) at $HB_DEBIAN_MIRROR (default
# http://deb.debian.org/debian; the security suite comes from
# $HB_DEBIAN_SECURITY, default http://deb.debian.org/debian-security).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
tag=localhost/honeybee:test
bases_only=0
while [ $# -gt 0 ]; do
    case $1 in
    --tag) tag=$2; shift ;;
    --bases-only) bases_only=1 ;;
    -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

skip() { echo "image.sh: SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (buildah with chroot isolation, debootstrap)"
command -v buildah >/dev/null || skip "buildah not found (Debian package buildah; scripts/deps.sh installs it)"
command -v debootstrap >/dev/null || skip "debootstrap not found (Debian package debootstrap; scripts/deps.sh installs it)"

release=bookworm
mirror=${HB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${HB_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
cache=${HB_IMAGE_CACHE:-/var/cache/honeybee-image}
max_days=${HB_IMAGE_BASE_DAYS:-7}
mkdir -p "$cache"
exec 9>"$cache/lock"
flock 9

t0=$(date +%s)
# The newest base folder young enough, else today's (made below).
key=""
for d in $(ls -1d "$cache/$release-"[0-9]* 2>/dev/null | sort -r); do
    [ -f "$d/debian-12-slim.tar" ] || continue
    day=${d##*-}
    age=$((($(date -u +%s) - $(date -u -d "$day" +%s)) / 86400))
    if [ "$age" -lt "$max_days" ]; then key=$(basename "$d"); fi
    break
done
if [ -z "$key" ]; then
    key=$release-$(date -u +%Y%m%d)
    dir=$cache/$key
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp"
    root=$dir.tmp/rootfs
    echo "image.sh: debootstrap --variant=minbase $release ($key)"
    if ! debootstrap --variant=minbase "$release" "$root" "$mirror" >"$dir.tmp/debootstrap.log" 2>&1; then
        tail -20 "$dir.tmp/debootstrap.log"
        echo "image.sh: debootstrap failed (is $mirror reachable?)" >&2
        exit 1
    fi
    # What the official debian images set (debuerreotype): the same apt
    # sources, no package cache or downloaded .debs left in a layer, no
    # translations.
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $release $release-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $release-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
    : >"$root/etc/resolv.conf"
    tar -C "$root" --numeric-owner -cf "$dir.tmp/debian-12.tar" .
    # -slim: no documentation, manual pages or translations, now or from
    # later packages (dpkg excludes them), as the official -slim images.
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/man/* "$root"/usr/share/groff/* "$root"/usr/share/info/* \
        "$root"/usr/share/lintian/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    tar -C "$root" --numeric-owner -cf "$dir.tmp/debian-12-slim.tar" .
    rm -rf "$root"
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
    # Older bases are not used again.
    for old in "$cache/$release-"[0-9]*; do
        [ "$old" = "$dir" ] || rm -rf "$old"
    done
fi

# The base images in buildah's storage, under the FROM names, labelled with
# the cache folder they came from: imported again only when that changed.
for name in 12 12-slim; do
    ref=docker.io/library/debian:$name
    have=$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "org.honeybee.base"}}' \
        "$ref" 2>/dev/null || true)
    [ "$have" = "$key" ] && continue
    echo "image.sh: importing $ref from $cache/$key"
    ctr=$(buildah from --pull-never scratch)
    buildah add --quiet "$ctr" "$cache/$key/debian-$name.tar" / >/dev/null
    buildah config --label org.honeybee.base="$key" --cmd bash \
        --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
    buildah commit --quiet --rm "$ctr" "$ref" >/dev/null
    pruned=1
done
# New bases: the cached steps of builds on the old ones are of no more use.
if [ "${pruned:-0}" = 1 ]; then buildah rmi --prune >/dev/null 2>&1 || true; fi
t1=$(date +%s)
echo "image.sh: bases debian:12 and debian:12-slim from $key ready in $((t1 - t0))s"
[ "$bases_only" = 1 ] && exit 0

# --format docker keeps HEALTHCHECK (the OCI image format has no field for
# it); --layers keeps each step's result for the next run.
echo "image.sh: buildah bud --isolation chroot --pull-never -f docker/Dockerfile ($tag)"
cd "$src"
buildah bud --isolation chroot --pull-never --layers --format docker \
    --ignorefile docker/Dockerfile.dockerignore -f docker/Dockerfile -t "$tag" .
t2=$(date +%s)
echo "image.sh: built in $((t2 - t1))s"
echo "image: $tag $(buildah inspect --type image --format '{{.FromImageID}}' "$tag")"
