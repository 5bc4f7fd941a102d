#!/bin/sh
# Installs the Debian 12 packages Kestrel builds and tests with, only those missing.
# Called by `make run` and `make test`; safe to run again. Uses apt-get only.
set -eu

PKGS="build-essential cmake pkg-config
libluajit-5.1-dev libcurl4-openssl-dev libwebsockets-dev libssl-dev
libcjson-dev libsqlite3-dev libcmocka-dev sqlite3"
# Browser tests (backtest report rendering) need Debian's Chromium.
[ "${KS_NO_BROWSER:-0}" = 1 ] || PKGS="$PKGS chromium"

missing=""
for p in $PKGS; do
    s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$s" in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Try without refreshing the index first; refresh only if a package is unknown.
if ! $SUDO apt-get install -y -q --no-install-recommends $missing; then
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends $missing
fi
