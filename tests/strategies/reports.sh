#!/bin/sh
# The liquidation and oracle-dislocation strategies on real captures, with reports:
#   liquidation: Binance USD-M forceOrder excerpt (2025-10-22, 473 events) over the 1h klines
#     of the 17 gravestone perps (synthetic books around each close; the strategy trades
#     the perps that have klines) - examples/liquidation_binance.json;
#   oracle_dislocation: Bybit v5 cryptofeed capture (45 s of books, tickers, trades) with the
#     recorded index price as the oracle (replay.oracle_from_index) and the risk gates -
#     examples/oracle_dislocation_bybit.json.
# Each report must be sane (strategy_report_check) and the strategies' records written.
# usage: reports.sh CHECKER   (env: KESTREL, KS_SHARED_DIR, KS_SOURCE_DIR)
set -eu
CHECK=$1
D="${KS_SHARED_DIR:-}/data"
LIQ="$D/chiefJurist-Trading-Bot/binance_liquidations.excerpt.csv"
BYBIT="$D/cryptofeed/BYBIT.jsonl"
for f in "$LIQ" "$BYBIT" "$D/gravestone-data/data/1h"; do
    if [ ! -e "$f" ]; then
        echo "SKIP: $f not found (set KS_SHARED_DIR to the shared data directory)"
        exit 77
    fi
done
W="$PWD/strategies-reports"
rm -rf "$W"
mkdir -p "$W"
fail() {
    echo "reports: $1" >&2
    exit 1
}
run() { # name config data...
    name=$1
    cfg=$2
    shift 2
    args=""
    for p in "$@"; do args="$args --data $p"; done
    echo "+ $KESTREL backtest $cfg$args --state-dir $W/$name/state --report $W/$name/report"
    # shellcheck disable=SC2086
    "$KESTREL" backtest "$cfg" $args --state-dir "$W/$name/state" --report "$W/$name/report" \
        >"$W/$name.out" 2>"$W/$name.err" || { tail -20 "$W/$name.err" >&2; fail "$name failed"; }
    grep -E '^(strategy|events|simulated)' "$W/$name.out"
    grep -E "^$name " "$W/$name.out" || true
}
csv_rows() { # file -> data rows (header excluded)
    [ -f "$1" ] || fail "no $1"
    echo $(($(wc -l <"$1") - 1))
}

run liq "$KS_SOURCE_DIR/examples/liquidation_binance.json" "$LIQ" "$D/gravestone-data"
"$CHECK" "$W/liq/report" liq 1
R="$W/liq/state/records"
echo "liq: $(csv_rows "$R/liq.decisions.csv") burst decisions, $(csv_rows "$R/liq.trades.csv") trades"
head -1 "$R/liq.trades.csv" | grep -q 'net_bps' || fail "liq.trades.csv has no net_bps column"
cat "$R/liq.trades.csv"
[ "$(csv_rows "$R/liq.decisions.csv")" -ge 1 ] || fail "no burst was decided on"

run oracle "$KS_SOURCE_DIR/examples/oracle_dislocation_bybit.json" "$BYBIT"
"$CHECK" "$W/oracle/report" oracle 0
R="$W/oracle/state/records/oracle.daily_stats.csv"
[ "$(csv_rows "$R")" -eq 4 ] || fail "expected one daily_stats row per market (4), got $(csv_rows "$R")"
for k in cross_count bbo_null_rate ctx_age_ms_p50 ctx_age_ms_p95 ctx_age_ms_p99 \
         bbo_recv_interval_p50 bbo_recv_interval_p95 bbo_recv_interval_p99 cross_duration_ticks_p50; do
    head -1 "$R" | tr ',' '\n' | grep -qx "$k" || fail "daily_stats lacks $k"
done
# Every market was quoted and its oracle seen: intervals and ages are measured (not -1).
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
         { if ($c["checks"] < 100 || $c["bbo_recv_interval_p50"] <= 0 || $c["ctx_age_ms_p50"] < 0) bad++ }
         END { exit bad > 0 }' "$R" || fail "implausible daily_stats: $(cat "$R")"
cat "$R"
grep -q 'risk_gates' "$W/oracle.err" || fail "the risk gates did not run"
echo "OK"
