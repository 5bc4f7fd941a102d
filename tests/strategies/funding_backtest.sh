#!/bin/sh
# funding_arb over the real Binance USD-M data (gravestone-data: the 17 perps that have both
# funding rows and 1h klines; kline close = mark, quote volume -> 24 h volume), with
# synthetic spot markets for the hedge legs and the premium filter off (the data has no
# spot prices), over the whole span with funding (from 2026-01-12, the first recorded
# settlement, to the end of the data): examples/funding_arb_binance.json as shipped.
# funding_arb_check recomputes the funding income from the CSV rows and the fills the
# backtest made and compares it with summary.json (1e-9 relative).
# usage: funding_backtest.sh CHECKER   (env: KESTREL, KS_SHARED_DIR, KS_SOURCE_DIR)
set -eu
CHECK=$1
DATA="${KS_SHARED_DIR:-}/data/gravestone-data"
if [ ! -d "$DATA/data/funding" ] || [ ! -d "$DATA/data/1h" ]; then
    echo "SKIP: $DATA not found (set KS_SHARED_DIR to the shared data directory)"
    exit 77
fi
W="$PWD/strategies-funding"
rm -rf "$W"
mkdir -p "$W"
fail() {
    echo "funding_backtest: $1" >&2
    exit 1
}
echo "+ $KESTREL backtest $KS_SOURCE_DIR/examples/funding_arb_binance.json --data $DATA" \
     "--state-dir $W/state --report $W/report"
"$KESTREL" backtest "$KS_SOURCE_DIR/examples/funding_arb_binance.json" --data "$DATA" \
    --state-dir "$W/state" --report "$W/report" >"$W/out" 2>"$W/err" ||
    { tail -20 "$W/err" >&2; fail "backtest failed"; }
grep -E '^(strategy|carry|events|simulated)' "$W/out"
S="$W/report/summary.json"
[ -s "$S" ] || fail "no $S"
# The report says the spot legs are synthetic (no recorded spot prices: zero basis).
grep -q 'synthetic spot markets (NOT recorded' "$S" || fail "summary.json notes do not name the synthetic spot markets"
grep -q 'strategy carry: premium filter off' "$S" || fail "summary.json notes do not say the premium filter is off"
grep -q 'premium filter off' "$W/err" || fail "the strategy did not log that the premium filter is off"
# A fill the host cannot attribute (the venue's forced liquidation has no client id) would
# leave the strategy's positions wrong: the example runs at leverage 1 so none happens.
if grep -q 'fill for unknown client id' "$W/err"; then
    grep 'fill for unknown client id' "$W/err" | head -3 >&2
    fail "a fill was not attributed to the strategy (a forced liquidation?)"
fi
# Every one of the 17 perps was replayed.
grep -q '17 perps' "$S" || fail "not all 17 perps settled funding (notes: $(grep -o 'funding settled[^"]*' "$S"))"
FUNDING=$(grep -o '"funding":[[:space:]]*"[^"]*"' "$S" | head -1 | sed 's/.*"\([^"]*\)"$/\1/')
[ -n "$FUNDING" ] || fail "no funding total in $S"
echo "summary.json funding: $FUNDING"
"$CHECK" "$W/state/kestrel.db" "$DATA" carry "$FUNDING"
