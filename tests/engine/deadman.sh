#!/bin/sh
# The dead-man switches: a plugin that blocks the event loop makes the watchdog thread
# write the kill file and exit 4 (the next start then flattens and exits 3); a venue
# that goes silent triggers the kill switch (exit 3).
set -u
: "${KESTREL:?}" "${KS_BUILD_DIR:?}"
T=$(mktemp -d /tmp/ks_dm_XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
fail() { echo "FAIL: $*"; tail -5 "$T/err" 2>/dev/null; exit 1; }
cat > "$T/s.lua" <<'LUA'
local S = {}
function S.on_start(ctx) ctx.timer("t", 0.5) end
function S.on_timer(ctx) assert(ctx.order{symbol = "TST/USDT:USDT", side = "buy", qty = 1}) end
return S
LUA
cfg() { # $1 venue options, $2 safety
    cat > "$T/cfg.json" <<JSON
{"plugin_path": ["$KS_BUILD_DIR/tests/engine-plugins"], "state_dir": "state",
 "venues": {"v": {"plugin": "recvenue", "config": {"fill":true, $1}}},
 "strategies": {"s": {"file": "s.lua", "venue": "v", "symbols": ["TST/USDT:USDT"], "capital": "1000"}},
 "safety": $2, "run": {"status_interval_s": 3600}}
JSON
}
cd "$T" || exit 1
# 1. a hung loop
cfg '"hang_after_s":2' '{"deadman_s": 2}'
timeout 30 "$KESTREL" run cfg.json --duration 20 >out 2>err; rc=$?
[ $rc -eq 4 ] || fail "hung loop: exit status $rc, want 4"
[ -f state/KILL ] || fail "hung loop: no kill file"
grep -q "dead-man" state/KILL || fail "the kill file does not say why"
echo "ok: a hung loop exits 4 and leaves the kill file"
# the next start finds the kill file: flattens and exits 3
cfg '"quiet_after_s":0' '{"deadman_s": 0}'
timeout 30 "$KESTREL" run cfg.json --duration 20 >out 2>err; rc=$?
[ $rc -eq 3 ] || fail "restart with the kill file: exit status $rc, want 3"
echo "ok: the next start honours the kill file (exit 3)"
# 2. a silent venue
rm -rf state
cfg '"quiet_after_s":2' '{"deadman_s": 0, "venue_silence_s": 2}'
timeout 30 "$KESTREL" run cfg.json --duration 20 >out 2>err; rc=$?
[ $rc -eq 3 ] || fail "silent venue: exit status $rc, want 3"
grep -q "dead-man: no data from venue v" err || fail "silent venue: no reason logged"
echo "ok: a silent venue triggers the kill switch (exit 3)"
