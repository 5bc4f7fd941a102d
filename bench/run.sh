#!/bin/sh
# Runs every benchmark (bench/*/run.sh) against a Release build directory.
# usage: sh bench/run.sh [BUILD_DIR]   (make bench does this)
set -eu
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
export KS_BUILD_DIR="$BUILD" KESTREL="$BUILD/kestrel" KS_SOURCE_DIR="$ROOT"
export KS_SHARED_DIR="${KS_SHARED_DIR:-$ROOT/../shared}"
for b in "$ROOT"/bench/*/run.sh; do
    echo "== $(basename "$(dirname "$b")")"
    sh "$b" || echo "(benchmark $b failed)"
done
