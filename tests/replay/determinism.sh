#!/bin/sh
# A replay is deterministic: the same files and config give byte-identical results. Two
# backtests of each of two recorded datasets (Binance USD-M + spot books, BBOs and trades
# from hftbacktest, with order latency and seeded jitter, a taker and a maker strategy;
# and the Binance funding + 1h klines with synthetic spot and a window) must write
# identical summary.json and report files.
# usage: determinism.sh   (env: KESTREL, KS_SHARED_DIR, KS_SOURCE_DIR)
set -eu
D="${KS_SHARED_DIR:-}/data"
if [ ! -d "$D/hftbacktest" ] || [ ! -d "$D/gravestone-data" ]; then
    echo "SKIP: $D not found (set KS_SHARED_DIR to the shared data directory)"
    exit 77
fi
W="$PWD/replay-determinism"
rm -rf "$W"
mkdir -p "$W"
S="$KS_SOURCE_DIR"
cat > "$W/books.json" <<JSON
{
  "log": {"level": "warn"},
  "venues": {"sim": {"plugin": "sim", "config": {"seed": 3, "latency_ms": 20, "latency_jitter_ms": 30}}},
  "strategies": {
    "taker": {"file": "$S/examples/strategies/demo.lua", "venue": "sim", "capital": "20000",
              "symbols": ["BTC/USDT:USDT", "ETH/USDT:USDT"],
              "params": {"notional": 2000, "band_bps": 0.3, "cooldown_s": 3}},
    "maker": {"file": "$S/tests/replay/maker.lua", "venue": "sim", "capital": "20000",
              "symbols": ["BTC/USDT", "ETH/USDT"], "params": {"every_s": 1, "qty": 0.01}}
  }
}
JSON
cat > "$W/candles.json" <<JSON
{
  "log": {"level": "warn"},
  "venues": {"sim": {"plugin": "sim", "config": {"leverage": 2,
    "replay": {"paths": ["$D/gravestone-data"], "synthetic_spot": true,
               "start": "2026-02-01T00:00:00Z", "end": "2026-02-15T00:00:00Z",
               "symbols": ["BTC", "ETH", "SOL", "DOGE", "RIVER"]}}}},
  "strategies": {
    "taker": {"file": "$S/examples/strategies/demo.lua", "venue": "sim", "capital": "10000",
              "symbols": ["BTC/USDT:USDT", "SOL/USDT:USDT", "RIVER/USDT:USDT"],
              "params": {"interval_s": 3600, "cooldown_s": 3600}},
    "hold": {"file": "$S/tests/replay/hold_each.lua", "venue": "sim", "capital": "10000",
             "symbols": ["ETH/USDT:USDT", "SOL/USDT:USDT"], "params": {"side": "sell", "qty": 1}}
  }
}
JSON
run() { # name config args...
    n=$1
    cfg=$2
    shift 2
    for i in 1 2; do
        echo "+ $KESTREL backtest $cfg $* --state-dir $W/$n-state$i --summary-json $W/$n-$i.json --report $W/$n-report$i"
        "$KESTREL" backtest "$cfg" "$@" --state-dir "$W/$n-state$i" --summary-json "$W/$n-$i.json" \
            --report "$W/$n-report$i" >"$W/$n-out$i"
        tail -4 "$W/$n-out$i" | head -3
    done
    cmp "$W/$n-1.json" "$W/$n-2.json"
    cmp "$W/$n-report1/summary.json" "$W/$n-report2/summary.json"
    cmp "$W/$n-report1/report.html" "$W/$n-report2/report.html"
    fills=$(grep -c '"trade_id"' "$W/$n-report1/summary.json" || true)
    echo "ok: $n: byte-identical summaries and reports ($fills fills)"
    [ "$fills" -gt 0 ] || { echo "FAIL: $n: no fills, nothing was exercised"; exit 1; }
}
run books "$W/books.json" --data "$D/hftbacktest/usdm" --data "$D/hftbacktest/spot"
run candles "$W/candles.json" --days 14
