#!/usr/bin/env bash
# Install what the xterm.js terminal fixture (tests/term_xtermjs.py) needs, idempotently:
# Debian's chromium (Playwright drives it; no browser download), the DejaVu font, and
# @xterm/xterm + @xterm/addon-image + @xterm/addon-webgl from npm into a folder outside the repository
# ($BINLABEL_XTERMJS, default /var/cache/binlabel/xtermjs), reused when already there.
# Playwright itself is a Python dependency (the `test` extra in pyproject.toml).
set -euo pipefail
DIR="${BINLABEL_XTERMJS:-/var/cache/binlabel/xtermjs}"
XTERM_VERSION="${XTERM_VERSION:-6.0.0}"
IMAGE_VERSION="${IMAGE_VERSION:-0.9.0}"
WEBGL_VERSION="${WEBGL_VERSION:-0.19.0}"

if command -v apt-get >/dev/null 2>&1; then
  pkgs="chromium fonts-dejavu-core"
  missing=$(for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  # npm: any install will do (Debian's nodejs + npm, or a nodesource nodejs with npm inside)
  command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
  if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
  fi
fi

want="$DIR/node_modules/@xterm/xterm/lib/xterm.js $DIR/node_modules/@xterm/addon-image/lib/addon-image.js $DIR/node_modules/@xterm/addon-webgl/lib/addon-webgl.js"
have=1
for f in $want; do [ -f "$f" ] || have=0; done
if [ "$have" = 1 ]; then
  echo "xterm.js already in $DIR"
  exit 0
fi
mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"name": "binlabel-xtermjs", "private": true}' > package.json
npm install --no-audit --no-fund --loglevel=error \
  "@xterm/xterm@$XTERM_VERSION" "@xterm/addon-image@$IMAGE_VERSION" "@xterm/addon-webgl@$WEBGL_VERSION"
for f in $want; do [ -f "$f" ] || { echo "missing $f after npm install" >&2; exit 1; }; done
echo "xterm.js installed in $DIR"
