#!/bin/sh
# A syntax error saved into a running strategy: the old version keeps trading, the error
# names the file and line, and fixing the file reloads it.
set -u
: "${KESTREL:?}" "${KS_BUILD_DIR:?}"
T=$(mktemp -d /tmp/ks_rt_XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; tail -20 "$T/err"; exit 1; }
version() { # $1 version number
    cat > "$T/s.lua.tmp" <<LUA
local S = {}
function S.on_start(ctx) ctx.timer("t", 0.2, 0.2) end
function S.on_timer(ctx)
  ctx.state.version = $1
  ctx.state.ticks = (ctx.state.ticks or 0) + 1
  ctx.metric("version", $1)
  if ctx.state.ticks % 5 == 0 then
    ctx.order{symbol = "BTC/USDT:USDT", side = "buy", qty = 0.01, price = 1000}
  end
end
return S
LUA
    mv "$T/s.lua.tmp" "$T/s.lua"
}
cat > "$T/cfg.json" <<JSON
{"plugin_path": ["$KS_BUILD_DIR/plugins"], "state_dir": "state",
 "venues": {"sim": {"plugin": "sim", "config": {"seed": 4, "tick_ms": 200, "symbols": ["BTC"]}}},
 "strategies": {"s": {"file": "s.lua", "venue": "sim", "symbols": ["BTC/USDT:USDT"], "capital": "1000"}},
 "run": {"status_interval_s": 3600}}
JSON
cd "$T" || exit 1
version 1
"$KESTREL" run cfg.json --duration 60 >out 2>err &
PID=$!
sleep 2
orders() { sqlite3 state/kestrel.db "SELECT count(*) FROM orders"; }
# A syntax error on line 3.
printf 'local S = {}\nfunction S.on_start(ctx)\n  local x = = 1\nend\nreturn S\n' > s.lua.tmp
mv s.lua.tmp s.lua
sleep 1.5
grep -q 'reload failed, the running version keeps trading: .*s.lua:3:' err ||
    fail "the error does not name s.lua:3"
before=$(orders)
sleep 2
after=$(orders)
[ "$after" -gt "$before" ] || fail "the old version stopped trading ($before -> $after orders)"
st=$("$KESTREL" ctl --state-dir state status)
echo "$st" | grep -q '"enabled":true' || fail "the strategy was disabled"
echo "$st" | grep -q '"reload_failures":1' || fail "status does not count the failure: $st"
echo "$st" | grep -q '"venues":\[{"name":"sim","up":true' || fail "status does not show the venue: $st"
echo "$st" | grep -q '"hedges":{"opening":0' || fail "status does not count leg groups: $st"
# Fixing the file reloads it.
version 2
sleep 1.5
grep -q 'reloaded .*s.lua' err || fail "the fixed file was not reloaded"
kill "$PID"; wait "$PID" 2>/dev/null; PID=
v=$(sqlite3 state/kestrel.db "SELECT data FROM strategy_state WHERE strategy = 's'")
echo "$v" | grep -q '"version":2' || fail "the new version did not take over: $v"
echo "ok: syntax error named with file:line, old version kept trading, fix reloaded"
