#!/usr/bin/env bash
# Lighthouse (npm) into var/node/, for `make lighthouse`; nothing installed globally. The newest
# release that runs on the machine's Node (13.x needs Node 22.19; Debian's is 20).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${LIGHTHOUSE_VERSION:-12.8.2}"
PREFIX=var/node
BIN="$PREFIX/node_modules/.bin/lighthouse"
if [ -x "$BIN" ] && [ "$("$BIN" --version)" = "$VERSION" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm is missing (apt-get install npm)" >&2; exit 1; }
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --save-exact --loglevel=error "lighthouse@$VERSION"
"$BIN" --version
