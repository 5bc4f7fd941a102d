#!/bin/sh
# The kill switch through each trigger (environment, .env, kill file, kestrel ctl kill)
# flattens everything and exits non-zero, on the sim venue over a real clock.
set -u
: "${KESTREL:?KESTREL must point at the kestrel binary}"
: "${KS_BUILD_DIR:?}"
: "${KS_SOURCE_DIR:?}"
T=$(mktemp -d /tmp/ks_kill_XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
fail() { echo "FAIL: $*"; exit 1; }

cat > "$T/buy.lua" <<'LUA'
local S = {}
function S.on_start(ctx) ctx.timer("buy", 0.5) end
function S.on_timer(ctx)
  assert(ctx.order{symbol = "BTC/USDT:USDT", side = "buy", qty = 0.01})
  assert(ctx.order{symbol = "BTC/USDT:USDT", side = "buy", qty = 0.001, price = 1000})
end
return S
LUA
cat > "$T/cfg.json" <<JSON
{"plugin_path": ["$KS_BUILD_DIR/plugins"], "state_dir": "state",
 "venues": {"sim": {"plugin": "sim", "config": {"seed": 3, "tick_ms": 200, "symbols": ["BTC"]}}},
 "strategies": {"buy": {"file": "buy.lua", "venue": "sim", "symbols": ["BTC/USDT:USDT"], "capital": "10000"}},
 "safety": {"kill_timeout_s": 10}}
JSON

# Positions are opened in a first run, so that every trigger has something to flatten.
check() { # $1 trigger name, $2 exit status, $3 state dir, $4 "flatten" when positions existed
    [ "$2" -eq 3 ] || fail "$1: exit status $2, want 3"
    db="$3/kestrel.db"
    n=$(sqlite3 "$db" "SELECT count(*) FROM events WHERE kind = 'kill.done'")
    [ "$n" -ge 1 ] || fail "$1: no kill.done event"
    open=$(sqlite3 "$db" "SELECT count(*) FROM orders WHERE status IN (0,1,2,3,8)")
    [ "$open" -eq 0 ] || fail "$1: $open orders still open"
    pos=$(sqlite3 "$db" "SELECT count(*) FROM positions WHERE CAST(qty AS REAL) != 0")
    [ "$pos" -eq 0 ] || fail "$1: positions not flat"
    if [ "${4:-}" = flatten ]; then
        flat=$(sqlite3 "$db" "SELECT count(*) FROM orders WHERE reduce_only = 1 AND status = 4")
        [ "$flat" -ge 1 ] || fail "$1: no reduce-only flattening order filled"
    fi
    echo "ok: $1 (exit 3, orders cancelled, positions flat)"
}

cd "$T" || exit 1
# 1. kill file, while running
rm -rf state; ( sleep 3; touch state/KILL ) &
"$KESTREL" run cfg.json --duration 30 >out1 2>err1; rc=$?
check "kill file" $rc state flatten
# 2. kestrel ctl kill
rm -rf state; ( sleep 3; "$KESTREL" ctl --state-dir state kill >/dev/null ) &
"$KESTREL" run cfg.json --duration 30 >out2 2>err2; rc=$?
check "kestrel ctl kill" $rc state flatten
# 3. EMERGENCY_STOP in the environment is read at start, after reconciliation (the sim
#    venue of a new process starts flat, so there is nothing to flatten here)
rm -rf state
EMERGENCY_STOP=true "$KESTREL" run cfg.json --duration 30 >out3 2>err3; rc=$?
check "EMERGENCY_STOP environment" $rc state
# 4. EMERGENCY_STOP=true in .env, appearing while running
rm -rf state; rm -f .env; ( sleep 3; echo "EMERGENCY_STOP=true" > .env ) &
"$KESTREL" run cfg.json --duration 30 >out4 2>err4; rc=$?
rm -f .env
check ".env" $rc state flatten
echo "all kill switch triggers ok"
