#!/bin/sh
# For each on_disable policy (hold, cancel, flatten) and each way (kestrel ctl, a config
# edit): a strategy holding a position and a resting order is disabled, the policy's
# effect is checked in the database, then it is enabled again and starts afresh.
set -u
: "${KESTREL:?}" "${KS_BUILD_DIR:?}"
T=$(mktemp -d /tmp/ks_rt_XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; [ -f "$T/err" ] && tail -20 "$T/err"; exit 1; }

cat > "$T/s.lua" <<'LUA'
local S = {}
function S.on_start(ctx)
  ctx.state.starts = (ctx.state.starts or 0) + 1
  ctx.log("started " .. ctx.state.starts)
  ctx.timer("go", 1)
end
function S.on_timer(ctx)
  if ctx.position("BTC/USDT:USDT").qty == 0 then
    assert(ctx.order{symbol = "BTC/USDT:USDT", side = "buy", qty = 0.01})
  end
  assert(ctx.order{symbol = "BTC/USDT:USDT", side = "buy", qty = 0.01, price = 1000})
end
return S
LUA

write_cfg() { # $1 policy, $2 enabled
    cat > "$T/cfg.json.tmp" <<JSON
{"plugin_path": ["$KS_BUILD_DIR/plugins"], "state_dir": "state",
 "venues": {"sim": {"plugin": "sim", "config": {"seed": 4, "tick_ms": 200, "symbols": ["BTC"]}}},
 "strategies": {"s": {"file": "s.lua", "venue": "sim", "symbols": ["BTC/USDT:USDT"],
                      "capital": "10000", "on_disable": "$1", "enabled": $2}},
 "run": {"status_interval_s": 3600}}
JSON
    mv "$T/cfg.json.tmp" "$T/cfg.json"   # a rename, as editors save
}

wait_for() { # $1 description, $2 shell condition; up to 10 s
    i=0
    while ! eval "$2"; do
        i=$((i + 1)); [ $i -le 100 ] || fail "timed out waiting for $1"
        sleep 0.1
    done
}

db() { sqlite3 "$T/state/kestrel.db" "$1"; }
resting_open() { db "SELECT count(*) FROM orders WHERE CAST(price AS REAL) = 1000 AND status IN (1,2,3)"; }
position() { db "SELECT coalesce(sum(CAST(qty AS REAL)), 0) FROM positions WHERE strategy = 's'"; }
enabled() { "$KESTREL" ctl --state-dir "$T/state" status | grep -o '"enabled":[a-z]*' | head -1; }

cd "$T" || exit 1
for how in ctl config; do
    for policy in hold cancel flatten; do
        rm -rf state
        write_cfg "$policy" true
        "$KESTREL" run cfg.json --duration 60 >out 2>err &
        PID=$!
        wait_for "a position and a resting order" '[ -S state/kestrel.sock ] && [ "$(resting_open 2>/dev/null || echo 0)" -ge 1 ] && [ "$(position 2>/dev/null || echo 0)" != 0 ]'
        if [ $how = ctl ]; then
            "$KESTREL" ctl --state-dir state disable s >/dev/null || fail "ctl disable"
        else
            write_cfg "$policy" false
        fi
        wait_for "the strategy to be disabled" '[ "$(enabled)" = "\"enabled\":false" ]'
        sleep 1   # let the policy's orders reach the venue and come back
        r=$(resting_open); p=$(position)
        case $policy in
        hold) [ "$r" -ge 1 ] || fail "$how/hold: the resting order was cancelled"
              [ "$p" != 0 ] || fail "$how/hold: the position was closed" ;;
        cancel) [ "$r" -eq 0 ] || fail "$how/cancel: $r resting order(s) still open"
                [ "$p" != 0 ] || fail "$how/cancel: the position was closed" ;;
        flatten) [ "$r" -eq 0 ] || fail "$how/flatten: $r resting order(s) still open"
                 wait_for "flat" '[ "$(position)" = 0 ] || [ "$(position)" = 0.0 ]' ;;
        esac
        n=$(db "SELECT count(*) FROM events WHERE kind = 'strategy.disabled' AND subject = 's'")
        [ "$n" -ge 1 ] || fail "$how/$policy: no strategy.disabled event"
        if [ $how = ctl ]; then
            "$KESTREL" ctl --state-dir state enable s >/dev/null || fail "ctl enable"
        else
            write_cfg "$policy" true
        fi
        wait_for "the strategy to be enabled" '[ "$(enabled)" = "\"enabled\":true" ]'
        wait_for "on_start again" 'grep -q "started 2" err'
        kill "$PID"; wait "$PID" 2>/dev/null; PID=
        echo "ok: $how / $policy"
    done
done
echo "all disable/enable cases ok"
