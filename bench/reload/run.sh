#!/bin/sh
# Hot-reload swap latency (p50/p99) of the demo strategy on the sim venue.
set -eu
: "${KS_BUILD_DIR:?}" "${KS_SOURCE_DIR:?}"
"$KS_BUILD_DIR/bench_reload" "$KS_SOURCE_DIR/examples/demo.json" demo 1000
