#!/bin/sh
# Installs the Debian 12 packages Kestrel builds and tests with, only those missing.
# Called by `make run` and `make test`; safe to run again. Uses apt-get only.
set -eu

PKGS="build-essential cmake pkg-config
libluajit-5.1-dev libcurl4-openssl-dev libwebsockets-dev libssl-dev
libcjson-dev libsqlite3-dev libcmocka-dev sqlite3 zlib1g-dev"
# The browser test (backtest report rendering, test_report_browser) needs Debian's
# Chromium. KS_NO_BROWSER=1 skips it for builds that will not run the tests; it is ignored
# when the tests will run (CI set, KS_FOR_TESTS=1 or the --tests argument).
if [ "${KS_NO_BROWSER:-0}" != 1 ] || [ -n "${CI:-}" ] || [ "${KS_FOR_TESTS:-0}" = 1 ] ||
    [ "${1:-}" = --tests ]; then
    PKGS="$PKGS chromium"
else
    echo "install-deps: KS_NO_BROWSER=1: not installing chromium (test_report_browser skips locally)"
fi

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
