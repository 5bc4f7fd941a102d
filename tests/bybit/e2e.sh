#!/bin/sh
# End to end: the whole host (`kestrel run examples/bybit-emulator.json`, the demo
# strategy) trades against the loopback Bybit emulator over real sockets while the
# emulator runs every scripted fault in turn. Afterwards the host's database must agree
# with the emulator's own record: no order lost, none duplicated, fills identical, and
# the order book rebuilt after the injected gap.
#
# usage: e2e.sh BYBIT_EMU CHECKER SOURCE_DIR   (KESTREL from the environment)
set -eu
EMU=$1
CHECK=$2
SRC=$3
: "${KESTREL:?KESTREL must name the kestrel binary}"
RUN_S=${BYBIT_E2E_SECONDS:-50}

work=$(mktemp -d "${TMPDIR:-/tmp}/bybit-e2e.XXXXXX")
emu_pid=
cleanup() {
    [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

# One fault every three seconds after the first orders, then quiet time for the
# watchdog and the receive-window rule to resolve everything (see docs/bybit.md).
"$EMU" --port 0 --step-ms 250 --record "$work/record.jsonl" \
    --fault gap@4 \
    --fault dup:40@7 \
    --fault drop@10 \
    --fault http429:1@13 \
    --fault ret10006:1@16 \
    --fault http5xx:1@19 \
    --fault timeout:1@22 \
    --fault blackhole:1@25 \
    --fault delay:3:1500@28 \
    --fault authfail:1@31 \
    --fault stall:5000@34 \
    >"$work/emu.out" 2>"$work/emu.err" &
emu_pid=$!

port=
i=0
while [ $i -lt 100 ]; do
    port=$(sed -n 's/^port \([0-9][0-9]*\)$/\1/p' "$work/emu.out" 2>/dev/null || true)
    [ -n "$port" ] && break
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$port" ]; then
    echo "emulator did not start:"; cat "$work/emu.err"; exit 1
fi
echo "emulator on port $port"

export BYBIT_EMU_PORT=$port BYBIT_API_KEY=emu-key BYBIT_API_SECRET=emu-secret
rc=0
"$KESTREL" run "$SRC/examples/bybit-emulator.json" --duration "$RUN_S" \
    --state-dir "$work/state" >"$work/kestrel.out" 2>"$work/kestrel.err" || rc=$?
kill -TERM "$emu_pid"
wait "$emu_pid" || true
emu_pid=
tail -n 4 "$work/kestrel.out"
if [ "$rc" -ne 0 ]; then
    echo "kestrel exited with $rc"; tail -n 40 "$work/kestrel.err"; exit 1
fi
if grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$work/kestrel.err"; then
    echo "sanitizer report:"; grep -A30 "AddressSanitizer\|runtime error" "$work/kestrel.err" | head -60
    exit 1
fi
# Credentials never reach a log, an error or the database.
for secret in emu-secret emu-key; do
    if grep -q -- "$secret" "$work/kestrel.out" "$work/kestrel.err"; then
        echo "a credential ($secret) appears in the host's output"; exit 1
    fi
    if sqlite3 "$work/state/kestrel.db" .dump | grep -q -- "$secret"; then
        echo "a credential ($secret) appears in the database"; exit 1
    fi
done
grep -q "book rebuilt from a fresh snapshot" "$work/kestrel.err" || {
    echo "the host never reported a rebuilt book after the gap"; exit 1; }
if ! "$CHECK" "$work/state/kestrel.db" "$work/record.jsonl" --min-orders 10 --min-fills 10 \
    --expect-gap-rebuild --expect-reauth --expect-reconnect; then
    echo "--- kestrel log (warnings) ---"
    grep '"warn"\|"error"' "$work/kestrel.err" | tail -n 60
    exit 1
fi
