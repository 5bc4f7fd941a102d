#!/bin/sh
# Replay throughput: `kestrel backtest` over the recorded data in ../shared/data, through
# the sim venue, with each strategy: a no-op (replay + host routing + Lua call overhead),
# the demo, and the three shipped strategies when they exist (strategies/funding_arb.lua,
# liquidation.lua, oracle_dislocation.lua). Prints every command and, per run: recorded
# events replayed, host events, run time, events per second, and wall time including
# loading. Then the load-only speed (bench_replay_load).
# usage: sh bench/replay/run.sh   (bench/run.sh sets KESTREL, KS_BUILD_DIR, KS_SOURCE_DIR,
#        KS_SHARED_DIR; run from a Release build for meaningful figures)
set -eu
# Standalone (sh bench/NAME/run.sh) or from bench/run.sh, which sets these.
KS_SOURCE_DIR=${KS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
KS_BUILD_DIR=${KS_BUILD_DIR:-$KS_SOURCE_DIR/build}
KESTREL=${KESTREL:-$KS_BUILD_DIR/kestrel}
KS_SHARED_DIR=${KS_SHARED_DIR:-$KS_SOURCE_DIR/../shared}
D="${KS_SHARED_DIR:-$KS_SOURCE_DIR/../shared}/data"
if [ ! -d "$D" ]; then
    echo "replay benchmark skipped: $D not found (set KS_SHARED_DIR)"
    exit 0
fi
S="$KS_SOURCE_DIR"
T=$(mktemp -d /tmp/ks_bench_replay_XXXXXX)
trap 'rm -rf "$T"' EXIT

now() { date +%s.%N; }

G17="1000PEPE ARPA AWE AXS BTC BULLA COS DOGE ENJ ETH KITE LYN MANTRA PIPPIN RIVER SOL WIF"
syms() { # "perp"/"both" BASES... -> JSON list
    kind=$1
    shift
    out=""
    for b in "$@"; do
        out="$out${out:+, }\"$b/USDT:USDT\""
        [ "$kind" = both ] && out="$out, \"$b/USDT\""
    done
    echo "$out"
}

# dataset: venue config, symbols, CLI args. --data sets the run length to the data's span
# (the config's other replay options are kept); a config "replay" block with paths runs
# --days.
dataset() {
    case $1 in
    books) # hftbacktest: Binance USD-M + spot BTC/ETH, 6 minutes, books + BBO + trades
        echo '{}'
        echo "$(syms both BTC ETH)"
        echo "--data $D/hftbacktest/usdm --data $D/hftbacktest/spot" ;;
    bybit) # cryptofeed: Bybit v5 linear + spot, 45 s of books, tickers (index as oracle), trades
        echo '{"replay": {"paths": ["'"$D"'/cryptofeed/BYBIT.jsonl"], "oracle_from_index": true}}'
        echo "$(syms both BTC ETH), $(syms perp SOL DOGE)"
        echo "--days 1" ;;
    candles) # Binance funding + 1h klines: 17 perps + synthetic spot, 188 days; leverage 1
        # (BULLA closes 12x its January price: a short at the default 10x is liquidated)
        echo '{"leverage": 1, "replay": {"paths": ["'"$D"'/gravestone-data"], "synthetic_spot": true}}'
        echo "$(syms both $G17)"
        echo "--days 190" ;;
    liquidations) # Binance forceOrder excerpt over the 1h klines, one day
        echo '{"replay": {"paths": ["'"$D"'/chiefJurist-Trading-Bot/binance_liquidations.excerpt.csv", "'"$D"'/gravestone-data"], "start": "2025-10-22T00:00:00Z", "end": "2025-10-23T00:00:00Z"}}'
        echo "$(syms perp $G17)"
        echo "--days 1" ;;
    esac
}

# Which strategy runs on which data, with timer periods suited to the data's pace.
plan() {
    for ds in books bybit candles liquidations; do
        echo "$ds noop {}"
        case $ds in
        candles) echo "$ds demo {\"interval_s\":3600,\"cooldown_s\":3600}" ;;
        bybit | liquidations) echo "$ds demo {\"interval_s\":60,\"cooldown_s\":60}" ;;
        *) echo "$ds demo {}" ;;
        esac
    done
    # The shipped strategies with their default timers (funding_arb: scan 60 s, guard 10 s);
    # on synthetic spot the premium filter must be off (zero basis), as in
    # examples/funding_arb_binance.json; liquidation as in examples/liquidation_binance.json.
    if [ -f "$S/strategies/funding_arb.lua" ]; then
        echo "candles funding_arb {\"use_premium_filter\":false}"
        echo "bybit funding_arb {}"
    fi
    if [ -f "$S/strategies/liquidation.lua" ]; then
        echo "liquidations liquidation {\"burst_notional\":50000,\"entry_timeout_s\":900}"
        echo "books liquidation {}"
    fi
    if [ -f "$S/strategies/oracle_dislocation.lua" ]; then
        echo "bybit oracle_dislocation {}"
        echo "books oracle_dislocation {}"
    fi
}

run() { # dataset strategy params
    ds=$1
    name=$2
    params=$3
    file="$S/strategies/$name.lua"
    case $name in
    noop) file="$S/bench/replay/noop.lua" ;;
    demo) file="$S/examples/strategies/demo.lua" ;;
    esac
    vcfg=$(dataset "$ds" | sed -n 1p)
    symbols=$(dataset "$ds" | sed -n 2p)
    args=$(dataset "$ds" | sed -n 3p)
    cfg="$T/$ds-$name.json"
    cat >"$cfg" <<JSON
{"log": {"level": "info"}, "venues": {"sim": {"plugin": "sim", "config": $vcfg}},
 "strategies": {"$name": {"file": "$file", "venue": "sim", "capital": "100000",
                          "symbols": [$symbols], "params": $params}}}
JSON
    echo "+ $KESTREL backtest $cfg $args --state-dir $T/s"
    t0=$(now)
    # shellcheck disable=SC2086
    "$KESTREL" backtest "$cfg" $args --state-dir "$T/s-$ds-$name" >"$T/out" 2>"$T/err" || {
        echo "   failed: $(tail -1 "$T/err")"
        return 0
    }
    t1=$(now)
    sim=$(grep 'simulated in' "$T/out" | tail -1)
    host_eps=$(echo "$sim" | sed 's/.*(\([0-9]*\) events\/s).*/\1/')
    secs=$(echo "$sim" | sed 's/simulated in \([0-9.]*\) s.*/\1/')
    host=$(grep '^events:' "$T/out" | sed 's/events: \([0-9]*\).*/\1/')
    replayed=$(grep -o 'replay finished: [0-9]*' "$T/err" | sed 's/.*: //' | tail -1)
    replayed=${replayed:-0}
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    rep_eps=$(awk -v n="$replayed" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "?" }')
    printf '   %-13s %-19s replayed %8s  host events %8s  run %6ss  %9s host ev/s  %9s replayed ev/s  wall %6ss\n' \
        "$ds" "$name" "$replayed" "$host" "$secs" "$host_eps" "$rep_eps" "$wall"
}

echo "replay backtests ($(basename "$KESTREL") in $(dirname "$KESTREL"))"
plan | while read -r ds name params; do
    run "$ds" "$name" "$params"
done

if [ -x "$KS_BUILD_DIR/bench/bench_replay_load" ]; then
    echo "load only: $KS_BUILD_DIR/bench/bench_replay_load -n 3 ..."
    "$KS_BUILD_DIR/bench/bench_replay_load" -n 3 "$D/hftbacktest/usdm/btcusdt_20240808.gz" \
        "$D/hftbacktest" "$D/cryptofeed/BYBIT.jsonl" "$D/gravestone-data" \
        "$D/gravestone-data/data/funding"
else
    echo "(bench_replay_load not built: cmake --build BUILD --target bench_replay_load)"
fi
