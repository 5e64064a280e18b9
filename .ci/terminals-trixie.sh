#!/usr/bin/env bash
# A Debian 13 (trixie) root with kitty 0.41, foot 1.21, headless sway, grim and wtype, for the
# real-terminal tests (tests/term_kitty.py, tests/term_foot.py). Idempotent: a complete root
# (its stamp file) is reused in seconds. Needs root. Also installs the host's X tools.
# ROOT defaults to /var/cache/binlabel/trixie-root (outside the repository): BINLABEL_TRIXIE_ROOT.
set -euo pipefail
ROOT=${BINLABEL_TRIXIE_ROOT:-/var/cache/binlabel/trixie-root}
PKGS="kitty foot sway grim wtype libgl1 libegl1 libgl1-mesa-dri fonts-dejavu-core ncurses-term"
STAMP="$ROOT/.binlabel-complete"
export DEBIAN_FRONTEND=noninteractive

host_pkgs="debootstrap xvfb xdotool imagemagick util-linux"
missing=$(for p in $host_pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends $missing
fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PKGS" ]; then
  echo "trixie root: $ROOT (cached)"
  exit 0
fi

. "$(dirname "$0")/debian-mirror.sh"

if [ ! -x "$ROOT/usr/bin/apt-get" ] || [ ! -f "$ROOT/.binlabel-debootstrap" ]; then
  rm -rf "$ROOT"
  mkdir -p "$(dirname "$ROOT")"
  debootstrap --variant=minbase trixie "$ROOT" "$mirror"
  touch "$ROOT/.binlabel-debootstrap"
fi

# apt inside the root, with its own proc (in a private mount namespace: nothing stays mounted)
unshare --mount --fork bash -euc '
  ROOT=$1; shift
  mount --make-rprivate /
  mount -t proc proc "$ROOT/proc"
  mount --rbind /dev "$ROOT/dev"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin apt-get update -q
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    apt-get install -y -q --no-install-recommends "$@"
  chroot "$ROOT" apt-get clean
  chroot "$ROOT" kitty --version
  chroot "$ROOT" foot --version
' _ "$ROOT" $PKGS

# the non-root user foot and sway run as (sway refuses root); its home is world-writable
# storage for the test's runtime dirs
if ! chroot "$ROOT" getent passwd binlabel >/dev/null; then
  chroot "$ROOT" /usr/sbin/useradd --create-home --shell /bin/bash binlabel
fi
mkdir -p "$ROOT/host"
echo "$PKGS" > "$STAMP"
echo "trixie root: $ROOT (built)"
