#!/bin/sh
# Three simulated days with every funding settlement applied; two runs give
# byte-identical summaries.
set -u
: "${KESTREL:?}" "${KS_SOURCE_DIR:?}"
T=$(mktemp -d /tmp/ks_cli_XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
for i in 1 2; do
    "$KESTREL" backtest "$KS_SOURCE_DIR/examples/demo.json" --days 3 --state-dir "$T/D$i" \
        --summary-json "$T/S$i.json" >"$T/out$i" 2>/dev/null || { echo "FAIL: run $i"; exit 1; }
done
cat "$T/out1"
cmp "$T/S1.json" "$T/S2.json" || { echo "FAIL: the two summaries differ"; exit 1; }
for key in '"strategies"' '"events"' '"orders"' '"fills"' '"fees"' '"funding"' \
    '"realized_pnl"' '"unrealized_pnl"'; do
    grep -q "$key" "$T/S1.json" || { echo "FAIL: summary lacks $key"; exit 1; }
done
# 3 days of 8-hourly settlements on the perps the demo held: funding was applied.
n=$(sqlite3 "$T/D1/kestrel.db" "SELECT count(DISTINCT ts_ns) FROM funding_payments")
[ "$n" -ge 1 ] || { echo "FAIL: no funding settlement recorded"; exit 1; }
last=$(sqlite3 "$T/D1/kestrel.db" "SELECT max(ts_ns) FROM funding_payments")
# the last settlement of 3 days from 2026-01-01T00:00Z is at 2026-01-03T16:00Z or later
[ "$last" -ge 1767456000000000000 ] || { echo "FAIL: settlements stop early ($last)"; exit 1; }
echo "ok: byte-identical summaries; funding settled at $n distinct times"
