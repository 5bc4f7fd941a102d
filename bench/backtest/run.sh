#!/bin/sh
# Events per second through the sim venue and one Lua strategy (the demo) in backtest
# mode: 3 simulated days of 6 symbols, best of 3 runs.
set -eu
# Standalone (sh bench/NAME/run.sh) or from bench/run.sh, which sets these.
KS_SOURCE_DIR=${KS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
KS_BUILD_DIR=${KS_BUILD_DIR:-$KS_SOURCE_DIR/build}
KESTREL=${KESTREL:-$KS_BUILD_DIR/kestrel}
KS_SHARED_DIR=${KS_SHARED_DIR:-$KS_SOURCE_DIR/../shared}
T=$(mktemp -d /tmp/ks_bench_XXXXXX)
trap 'rm -rf "$T"' EXIT
best=0
for i in 1 2 3; do
    out=$("$KESTREL" backtest "$KS_SOURCE_DIR/examples/demo.json" --days 3 \
        --state-dir "$T/s$i" 2>/dev/null | grep 'simulated in')
    eps=$(echo "$out" | sed 's/.*(\([0-9]*\) events\/s).*/\1/')
    echo "run $i: $out"
    [ "$eps" -gt "$best" ] && best=$eps
done
echo "backtest throughput: $best events/s (kestrel backtest examples/demo.json --days 3)"
