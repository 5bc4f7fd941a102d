#!/bin/sh
# The backtest report renders in a real browser. Headless Debian Chromium opens
# report.html from disk with name resolution cut off (nothing may be fetched); the dumped
# DOM must show the four charts drawn (data-rendered="4", every chart with a series) and
# the tables filled, and the screenshot must not be blank (report_png_check). Artifacts
# (report, DOM, screenshot, Chromium logs) stay in the build tree: <build>/tests/report-browser.
# Chromium missing: FAIL when CI is set (CI installs it through scripts/install-deps.sh),
# otherwise SKIP (exit 77) with the reason.
# usage: browser.sh PNG_CHECK   (env: KESTREL, KS_SOURCE_DIR; KS_CHROMIUM overrides the path)
set -eu
PNGCHECK=$1
CHROMIUM=${KS_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    if [ -n "${CI:-}" ]; then
        echo "FAIL: $CHROMIUM not found; CI must install it (scripts/install-deps.sh)"
        exit 1
    fi
    echo "SKIP: $CHROMIUM not found (apt-get install chromium; this test fails when CI is set)"
    exit 77
fi
W="$PWD/report-browser"
rm -rf "$W"
mkdir -p "$W"
cat > "$W/config.json" <<JSON
{
  "state_dir": "$W/state",
  "log": {"level": "warn"},
  "venues": {"sim": {"plugin": "sim", "config": {"seed": 7, "symbols": ["BTC", "ETH", "SOL"]}}},
  "strategies": {"demo": {"file": "$KS_SOURCE_DIR/examples/strategies/demo.lua", "venue": "sim",
                          "symbols": ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"],
                          "capital": "10000", "params": {"interval_s": 10}}},
  "backtest": {"days": 1, "start": "2026-01-01T00:00:00Z"}
}
JSON
echo "+ $KESTREL backtest $W/config.json --report $W/report"
"$KESTREL" backtest "$W/config.json" --state-dir "$W/state" --report "$W/report" >"$W/backtest.out"
tail -3 "$W/backtest.out"

chromium() {
    profile=$(mktemp -d "${TMPDIR:-/tmp}/ks-chromium-XXXXXX")
    set +e
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$profile" "$@"
    rc=$?
    set -e
    rm -rf "$profile"
    return $rc
}
URL="file://$W/report/report.html"
echo "+ $CHROMIUM --headless ... --dump-dom $URL"
chromium --dump-dom "$URL" >"$W/dom.html" 2>"$W/chromium-dom.log"
echo "+ $CHROMIUM --headless ... --window-size=1400,2000 --screenshot=$W/report.png $URL"
chromium --window-size=1400,2000 --screenshot="$W/report.png" "$URL" >"$W/chromium-shot.log" 2>&1
echo "screenshot: $W/report.png"

fail=0
if grep -q 'data-rendered="4"' "$W/dom.html"; then
    echo "ok: data-rendered=\"4\" (equity, funding vs fees, drawdown, exposure)"
else
    echo "FAIL: the DOM does not show 4 rendered charts: $(grep -o 'data-rendered="[0-9]*"' "$W/dom.html" || echo none)"
    fail=1
fi
for c in c-equity c-funding c-drawdown c-exposure; do
    n=$(grep -o "id=\"$c\"[^>]*data-series=\"[0-9]*\"" "$W/dom.html" | sed 's/.*data-series="\([0-9]*\)"/\1/')
    if [ -n "$n" ] && [ "$n" -ge 1 ]; then
        echo "ok: $c draws $n series"
    else
        echo "FAIL: $c drew no series"
        fail=1
    fi
done
paths=$(grep -o '<path[^>]*class="series"' "$W/dom.html" | wc -l)
echo "svg series paths in the DOM: $paths"
[ "$paths" -ge 4 ] || fail=1
for t in t-strategies t-symbols t-trades; do
    n=$(grep -o "id=\"$t\"[^>]*data-rows=\"[0-9]*\"" "$W/dom.html" | sed 's/.*data-rows="\([0-9]*\)"/\1/')
    echo "table $t: ${n:-?} rows"
    [ -n "$n" ] && [ "$n" -ge 1 ] || fail=1
done
"$PNGCHECK" "$W/report.png" || fail=1
exit $fail
