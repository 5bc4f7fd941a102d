#!/bin/sh
# Funding settlement over the Binance funding + 1h klines data (all 17 symbols, 188 days)
# equals an independent computation from the CSV rows: hold_each.lua holds 1 unit long in
# every perp from its first candle (longs at 1x leverage cannot be liquidated; shorts
# would be: BULLAUSDT closes 12x above its January price), and replay_funding_check
# recomputes every payment from the CSVs and compares it with the database and summary.
# usage: funding.sh CHECKER   (env: KESTREL, KS_SHARED_DIR, KS_SOURCE_DIR)
set -eu
CHECK=$1
DATA="${KS_SHARED_DIR:-}/data/gravestone-data"
if [ ! -d "$DATA/data/funding" ]; then
    echo "SKIP: $DATA not found (set KS_SHARED_DIR to the shared data directory)"
    exit 77
fi
W="$PWD/replay-funding"
rm -rf "$W"
mkdir -p "$W"
SYMS=""
for f in "$DATA"/data/1h/*.csv; do
    s=$(basename "$f" .csv)
    [ -f "$DATA/data/funding/$s.csv" ] || continue
    base=${s%USDT}
    SYMS="$SYMS${SYMS:+, }\"$base/USDT:USDT\""
done
cat > "$W/config.json" <<JSON
{
  "state_dir": "$W/state",
  "log": {"level": "warn"},
  "venues": {"sim": {"plugin": "sim", "config": {
    "leverage": 1,
    "balances": {"futures": {"USDT": "1000000"}},
    "replay": {"paths": ["$DATA"], "min_notional": "0"}}}},
  "strategies": {"hold": {"file": "$KS_SOURCE_DIR/tests/replay/hold_each.lua", "venue": "sim",
                          "symbols": [$SYMS], "capital": "200000",
                          "params": {"side": "buy", "qty": 1}}}
}
JSON
echo "+ $KESTREL backtest $W/config.json --days 190 --summary-json $W/summary.json"
"$KESTREL" backtest "$W/config.json" --days 190 --state-dir "$W/state" \
    --summary-json "$W/summary.json"
TOTAL=$(sed -n 's/.*"funding":[[:space:]]*"\([^"]*\)".*/\1/p' "$W/summary.json" | head -1)
echo "summary funding: $TOTAL"
"$CHECK" "$W/state/kestrel.db" "$DATA" hold "$TOTAL"
