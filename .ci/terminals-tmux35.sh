#!/usr/bin/env bash
# tmux 3.5a (bookworm-backports) in a private folder beside its libjemalloc2, so that Debian 12's
# tmux 3.3a stays the default `tmux`: the tests run $DIR/bin/tmux (tests/term_tmux35.py).
# Idempotent: a complete folder (its stamp file) is reused in seconds. Needs apt-get (not root
# for the download itself; the packages are extracted, never installed).
# DIR defaults to /var/cache/binlabel/tmux35 (outside the repository): BINLABEL_TMUX35.
set -euo pipefail
DIR=${BINLABEL_TMUX35:-/var/cache/binlabel/tmux35}
STAMP="$DIR/.binlabel-complete"
if [ -f "$STAMP" ] && "$DIR/bin/tmux" -V 2>/dev/null | grep -q '^tmux 3\.5'; then
  echo "tmux 3.5: $DIR/bin/tmux (cached)"
  exit 0
fi

. "$(dirname "$0")/debian-mirror.sh"

rm -rf "$DIR"
mkdir -p "$DIR/apt/lists/partial" "$DIR/apt/archives/partial" "$DIR/debs" "$DIR/root" "$DIR/bin"
key=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$DIR/apt/sources.list" <<SRC
deb [signed-by=$key] $mirror bookworm main
deb [signed-by=$key] $mirror bookworm-backports main
SRC
# a private apt state: the machine's own sources and lists are not touched
APT=(-o "Dir::Etc::SourceList=$DIR/apt/sources.list" -o "Dir::Etc::SourceParts=$DIR/apt/none"
     -o "Dir::State::Lists=$DIR/apt/lists" -o "Dir::Cache::Archives=$DIR/apt/archives"
     -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Sandbox::User=root")
apt-get "${APT[@]}" -q update
(cd "$DIR/debs" && apt-get "${APT[@]}" -q download tmux/bookworm-backports libjemalloc2)
for deb in "$DIR"/debs/*.deb; do dpkg-deb -x "$deb" "$DIR/root"; done
cat > "$DIR/bin/tmux" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH="$DIR/root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" \\
  exec "$DIR/root/usr/bin/tmux" "\$@"
WRAP
chmod +x "$DIR/bin/tmux"
if ldd "$DIR/root/usr/bin/tmux" | grep -q 'not found'; then
  LD_LIBRARY_PATH="$DIR/root/usr/lib/x86_64-linux-gnu" ldd "$DIR/root/usr/bin/tmux" | grep 'not found' || true
fi
"$DIR/bin/tmux" -V
rm -rf "$DIR/apt"
touch "$STAMP"
echo "tmux 3.5: $DIR/bin/tmux (built)"
