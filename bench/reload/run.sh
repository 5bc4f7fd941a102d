#!/bin/sh
# Hot-reload swap latency (p50/p99) of the demo strategy on the sim venue.
set -eu
# Standalone (sh bench/NAME/run.sh) or from bench/run.sh, which sets these.
KS_SOURCE_DIR=${KS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
KS_BUILD_DIR=${KS_BUILD_DIR:-$KS_SOURCE_DIR/build}
KESTREL=${KESTREL:-$KS_BUILD_DIR/kestrel}
KS_SHARED_DIR=${KS_SHARED_DIR:-$KS_SOURCE_DIR/../shared}
"$KS_BUILD_DIR/bench_reload" "$KS_SOURCE_DIR/examples/demo.json" demo 1000
