#!/bin/sh
# Out-of-tree plugin build against the installed SDK only: installs the `sdk` component of
# a build tree into a temporary prefix, copies examples/exchange-plugin out of the source
# tree, builds it with CMake (find_package) and with pkg-config (plain cc and its
# Makefile), proves from the compiler's dependency files that only the installed headers
# were read, and loads every result with `kestrel plugin info` (or the test loader).
#
#   out_of_tree.sh BUILD_DIR SOURCE_DIR KNOWN_GOOD.so LOADER [CMAKE] [CC]
#
# $KESTREL, when it names a kestrel binary whose `plugin info` accepts KNOWN_GOOD.so, is
# the loader; otherwise LOADER (tests/plugin/plugin_info.c) is. Exits non-zero on any
# failed step; temporary directories are removed on every exit.
set -eu

if [ $# -lt 4 ]; then
    echo "usage: $0 BUILD_DIR SOURCE_DIR KNOWN_GOOD.so LOADER [CMAKE] [CC]" >&2
    exit 2
fi
BUILD=$(cd "$1" && pwd -P)
SRC=$(cd "$2" && pwd -P)
GOOD=$3
LOADER=$4
CMAKE=${5:-cmake}
CC=${6:-cc}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kestrel-oot.XXXXXX")
TMP=$(cd "$TMP" && pwd -P)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

PREFIX=$TMP/prefix
step() { printf '== %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}
# run LOG CMD...: runs CMD with its output in LOG, shown only when it fails.
run() {
    log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        fail "command failed: $*"
    fi
}

# check_deps DEPFILE: every kestrel/ header the compiler read is under $PREFIX/include,
# and at least one was read (so the check cannot pass vacuously).
check_deps() {
    [ -s "$1" ] || fail "no dependency file $1"
    # shellcheck disable=SC1003,SC2020 # split the make rule on spaces and backslashes
    tr ' \\' '\n\n' <"$1" | grep '/kestrel/[a-z_]*\.h$' >"$TMP/headers" ||
        fail "$1 lists no kestrel/ header"
    while read -r h; do
        real=$(cd "$(dirname "$h")" && pwd -P)/$(basename "$h")
        case $real in
        "$PREFIX/include/kestrel/"*) ;;
        *) fail "$1: compiled against $h, not the installed SDK in $PREFIX/include" ;;
        esac
    done <"$TMP/headers"
    echo "   $(wc -l <"$TMP/headers") SDK headers, all from $PREFIX/include"
}

step "install the sdk component of $BUILD into $PREFIX"
run "$TMP/install.log" "$CMAKE" --install "$BUILD" --prefix "$PREFIX" --component sdk
[ -f "$PREFIX/include/kestrel/kestrel.h" ] || fail "kestrel.h was not installed"
CONFIG=$(find "$PREFIX" -name KestrelConfig.cmake)
PCFILE=$(find "$PREFIX" -name kestrel-sdk.pc)
[ -n "$CONFIG" ] || fail "KestrelConfig.cmake was not installed"
[ -n "$PCFILE" ] || fail "kestrel-sdk.pc was not installed"

step "copy examples/exchange-plugin out of the source tree"
cp -R "$SRC/examples/exchange-plugin" "$TMP/src"
rm -rf "$TMP/src/build" "$TMP/src/myvenue.so"
STRICT="-Wall -Wextra -Wpedantic -Werror"

step "CMake: find_package(Kestrel) from $PREFIX"
run "$TMP/configure.log" "$CMAKE" -S "$TMP/src" -B "$TMP/build-cmake" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON \
    -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$STRICT" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
run "$TMP/build.log" "$CMAKE" --build "$TMP/build-cmake"
found=$(sed -n 's/^Kestrel_DIR:PATH=//p' "$TMP/build-cmake/CMakeCache.txt")
[ "$found" = "$(dirname "$CONFIG")" ] || fail "find_package used $found, not $(dirname "$CONFIG")"
if grep -e "$SRC" -e "$BUILD" "$TMP/build-cmake/compile_commands.json" >&2; then
    fail "the compile command refers to the Kestrel source or build tree"
fi
check_deps "$(find "$TMP/build-cmake" -name 'myvenue.c.o.d')"
CMAKE_SO=$TMP/build-cmake/myvenue.so
[ -f "$CMAKE_SO" ] || fail "$CMAKE_SO was not built"
run "$TMP/install-plugin.log" "$CMAKE" --install "$TMP/build-cmake"
[ -n "$(find "$PREFIX" -path '*/kestrel/plugins/myvenue.so')" ] ||
    fail "cmake --install did not put myvenue.so into KESTREL_PLUGIN_DIR"

step "pkg-config: plain cc with \$(pkg-config --cflags --libs kestrel-sdk)"
PKG_CONFIG_PATH=$(dirname "$PCFILE")
export PKG_CONFIG_PATH
pcdir=$(pkg-config --variable=pcfiledir kestrel-sdk) || fail "pkg-config cannot find kestrel-sdk"
[ "$pcdir" = "$PKG_CONFIG_PATH" ] || fail "pkg-config found kestrel-sdk in $pcdir, not $PKG_CONFIG_PATH"
flags=$(pkg-config --cflags --libs kestrel-sdk)
echo "   $flags"
case $flags in *"$SRC"* | *"$BUILD"*) fail "pkg-config flags point into the Kestrel tree" ;; esac
mkdir "$TMP/build-pc"
# shellcheck disable=SC2086 # $flags and $STRICT are word lists
run "$TMP/cc.log" "$CC" -std=c11 $STRICT -fPIC -fvisibility=hidden -shared -MD -MF "$TMP/build-pc/myvenue.d" \
    -o "$TMP/build-pc/myvenue.so" "$TMP/src/myvenue.c" $flags
check_deps "$TMP/build-pc/myvenue.d"
PC_SO=$TMP/build-pc/myvenue.so

step "pkg-config: the example's Makefile"
run "$TMP/make.log" make -C "$TMP/src" CC="$CC" CFLAGS="$STRICT"
MAKE_SO=$TMP/src/myvenue.so
[ -f "$MAKE_SO" ] || fail "make did not build myvenue.so"

for so in "$CMAKE_SO" "$PC_SO" "$MAKE_SO"; do
    nm -D --defined-only "$so" | grep -q ' kestrel_plugin_v1$' || fail "$so does not export kestrel_plugin_v1"
done

step "load the plugins"
if [ -n "${KESTREL:-}" ] && [ -x "$KESTREL" ] &&
    "$KESTREL" plugin info "$GOOD" >"$TMP/probe.log" 2>&1 && grep -q 'name.*good' "$TMP/probe.log"; then
    echo "   loader: kestrel plugin info ($KESTREL)"
    load() { "$KESTREL" plugin info "$1"; }
else
    echo "   loader: test loader $LOADER (kestrel plugin info is not available)"
    [ -x "$LOADER" ] || fail "loader $LOADER is missing"
    load() { "$LOADER" "$1"; }
fi
for so in "$CMAKE_SO" "$PC_SO" "$MAKE_SO"; do
    if ! load "$so" >"$TMP/info.log" 2>&1; then
        cat "$TMP/info.log" >&2
        fail "$so did not load"
    fi
    for want in 'name:[[:space:]]*myvenue' 'kind:[[:space:]]*exchange' 'abi:[[:space:]]*1\.'; do
        grep -q "$want" "$TMP/info.log" || { cat "$TMP/info.log" >&2; fail "$so: no '$want' in plugin info"; }
    done
    echo "   loaded $so"
done

echo "PASS: examples/exchange-plugin builds against the installed SDK alone and loads"
