#!/bin/sh
# The report files are deterministic and self-contained: two identical backtests write
# byte-identical summary.json and report.html; summary.json is the run summary plus the
# report's keys; the page references nothing outside itself (no link, src, import, url()
# or fetch; the only "http" is the SVG namespace name).
# usage: files.sh   (env: KESTREL, KS_SOURCE_DIR)
set -eu
W="$PWD/report-files"
rm -rf "$W"
mkdir -p "$W"
cat > "$W/config.json" <<JSON
{
  "state_dir": "$W/state",
  "log": {"level": "warn"},
  "venues": {"sim": {"plugin": "sim", "config": {"seed": 11, "symbols": ["BTC", "ETH"]}}},
  "strategies": {"demo": {"file": "$KS_SOURCE_DIR/examples/strategies/demo.lua", "venue": "sim",
                          "symbols": ["BTC/USDT:USDT", "ETH/USDT:USDT"], "capital": "10000",
                          "params": {"interval_s": 30}}},
  "backtest": {"days": 1, "start": "2026-01-01T00:00:00Z"}
}
JSON
for i in 1 2; do
    echo "+ $KESTREL backtest $W/config.json --state-dir $W/state$i --report $W/r$i"
    "$KESTREL" backtest "$W/config.json" --state-dir "$W/state$i" --report "$W/r$i" >"$W/out$i"
done
cmp "$W/r1/summary.json" "$W/r2/summary.json"
cmp "$W/r1/report.html" "$W/r2/report.html"
echo "ok: byte-identical summary.json ($(wc -c <"$W/r1/summary.json") B) and report.html ($(wc -c <"$W/r1/report.html") B)"
for k in strategies events run series stats symbols trades notes; do
    grep -q "^	\"$k\":" "$W/r1/summary.json" || { echo "FAIL: summary.json lacks \"$k\""; exit 1; }
done
echo "ok: summary.json has the summary and the report keys"
if grep -n -i -E '<link|<img|<iframe|src=|@import|url\(|fetch\(|XMLHttpRequest|https:' "$W/r1/report.html"; then
    echo "FAIL: report.html references something outside itself"
    exit 1
fi
other=$(grep -o 'http://[^"]*' "$W/r1/report.html" | grep -v '^http://www.w3.org/2000/svg$' || true)
[ -z "$other" ] || { echo "FAIL: report.html mentions $other"; exit 1; }
echo "ok: report.html is self-contained"
