#!/bin/sh
# Bybit decode benchmark: Kestrel's plugin vs ccxt on the same real frames.
#
# Frames: the public linear stream of the cryptofeed capture (shared data,
# cryptofeed/BYBIT.jsonl: orderbook.200 snapshot + deltas, tickers snapshot + delta,
# publicTrade). Kestrel: bench_bybit, ops.decode from the frame text to events (book
# kept, ticker merged). ccxt: node, JSON.parse + ccxt pro's handleOrderBook /
# handleTicker / handleTrades from the same text (book kept, ticker merged, trades
# cached). Prints µs per message for each and the ratio ccxt / Kestrel.
#
# usage: sh bench/bybit/run.sh [BUILD_DIR]  (a Release build; builds nothing itself)
# ccxt comes from `npm install --no-audit --no-fund ccxt` into bench/bybit/node_modules,
# run here the first time (BYBIT_BENCH_NO_CCXT=1 skips ccxt).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${1:-${KS_BUILD_DIR:-$ROOT/build}}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
SHARED=${KS_SHARED_DIR:-$ROOT/../shared}
SECONDS_PER_KIND=${BYBIT_BENCH_SECONDS:-2}
BENCH="$BUILD/bench/bench_bybit"
PLUGIN="$BUILD/plugins/bybit.so"
CAPTURE="$SHARED/data/cryptofeed/BYBIT.jsonl"

for f in "$BENCH" "$PLUGIN" "$CAPTURE"; do
    [ -e "$f" ] || { echo "bybit bench: $f not found (build the Release tree first)"; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/bybit-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

"$BENCH" extract "$CAPTURE" "$work/frames.txt"
"$BENCH" run "$PLUGIN" "$work/frames.txt" "$SECONDS_PER_KIND" | tee "$work/kestrel.txt"

ccxt_ok=0
if [ "${BYBIT_BENCH_NO_CCXT:-0}" != 1 ] && command -v node >/dev/null 2>&1; then
    if [ ! -d "$HERE/node_modules/ccxt" ]; then
        echo "installing ccxt into bench/bybit/node_modules ..."
        (cd "$HERE" && npm install --no-audit --no-fund ccxt >/dev/null 2>&1) ||
            echo "bybit bench: npm install ccxt failed (offline?): Kestrel figures only"
    fi
    if [ -d "$HERE/node_modules/ccxt" ] &&
        node "$HERE/ccxt_bench.js" "$work/frames.txt" "$SECONDS_PER_KIND" | tee "$work/ccxt.txt"; then
        ccxt_ok=1
    fi
fi
[ "$ccxt_ok" = 1 ] || exit 0

# The comparison table from the two JSON lines.
k=$(grep '"impl":"kestrel"' "$work/kestrel.txt")
c=$(grep '"impl":"ccxt"' "$work/ccxt.txt")
node -e '
const k = JSON.parse(process.argv[1]), c = JSON.parse(process.argv[2]);
const row = (name, key) => console.log(name.padEnd(12) + k[key].toFixed(3).padStart(12) +
    c[key].toFixed(3).padStart(12) + (c[key] / k[key]).toFixed(1).padStart(10) + "x");
console.log("\nmessage     kestrel us   ccxt " + c.version + " us   ccxt/kestrel");
row("book delta", "book_delta_us");
row("ticker", "ticker_us");
row("trade", "trade_us");
' "$k" "$c"
