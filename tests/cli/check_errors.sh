#!/bin/sh
# kestrel check: a wrong type, an unknown venue and a missing strategy file each exit
# non-zero with one line naming the key path or the file; a good config passes.
set -u
: "${KESTREL:?}" "${KS_SOURCE_DIR:?}" "${KS_BUILD_DIR:?}"
T=$(mktemp -d /tmp/ks_cli_XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
fail() { echo "FAIL: $*"; exit 1; }
cp "$KS_SOURCE_DIR/examples/strategies/demo.lua" "$T/demo.lua"
cfg() { # $1 file, $2 strategy body
    cat >"$1" <<JSON
{"plugin_path": ["$KS_BUILD_DIR/plugins"],
 "venues": {"sim": {"plugin": "sim", "config": {"symbols": ["BTC"]}}},
 "strategies": {"carry": $2}}
JSON
}
expect() { # $1 config, $2 expected message
    out=$("$KESTREL" check "$1" 2>&1); rc=$?
    [ $rc -ne 0 ] || fail "$1 passed, expected: $2"
    [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "$1: more than one line: $out"
    case "$out" in *"$2"*) echo "ok: $out" ;; *) fail "$1: got '$out', want '$2'" ;; esac
}
cfg "$T/good.json" '{"file": "demo.lua", "venue": "sim", "symbols": ["BTC/USDT:USDT"]}'
"$KESTREL" check "$T/good.json" || fail "a good config was refused"
cfg "$T/type.json" '{"file": "demo.lua", "venue": "sim", "params": {"notional": "lots"}}'
expect "$T/type.json" "strategies.carry.params.notional: expected number, got string"
cfg "$T/type2.json" '{"file": "demo.lua", "venue": "sim", "capital": true}'
expect "$T/type2.json" "strategies.carry.capital: expected"
cfg "$T/venue.json" '{"file": "demo.lua", "venue": "bybit"}'
expect "$T/venue.json" 'strategies.carry.venue: unknown venue "bybit"'
cfg "$T/file.json" '{"file": "nowhere.lua", "venue": "sim"}'
expect "$T/file.json" "$T/nowhere.lua"
printf '{"venues": {"sim": {"plugin": "sim"}}, "strategies": {}, "extra": 1}' >"$T/key.json"
expect "$T/key.json" "extra: unknown key"
cat >"$T/syntax.lua" <<'LUA'
local S = {}
function S.on_start(ctx) local x = = 1 end
return S
LUA
cfg "$T/syntax.json" '{"file": "syntax.lua", "venue": "sim"}'
expect "$T/syntax.json" "syntax.lua:2:"
for c in run backtest check ctl test decode plugin; do
    "$KESTREL" $c --help >/dev/null || fail "kestrel $c --help"
done
"$KESTREL" version | grep -q "plugin ABI 1" || fail "kestrel version"
echo "ok: check refuses bad configs with one line naming the key or file"
