#!/bin/sh
# kestrel run examples/demo.json --duration 15 exits 0, prints a summary with at least one
# fill, and the database holds those orders and fills.
set -u
: "${KESTREL:?}" "${KS_SOURCE_DIR:?}"
T=$(mktemp -d /tmp/ks_cli_XXXXXX)
trap 'rm -rf "$T"' EXIT INT TERM
"$KESTREL" run "$KS_SOURCE_DIR/examples/demo.json" --duration 15 --state-dir "$T/D" >"$T/out" 2>"$T/err"
rc=$?
cat "$T/out"
[ $rc -eq 0 ] || { echo "FAIL: exit status $rc"; tail -5 "$T/err"; exit 1; }
fills=$(awk '$1 == "demo" {print $3}' "$T/out")
orders=$(awk '$1 == "demo" {print $2}' "$T/out")
[ -n "$fills" ] && [ "$fills" -ge 1 ] || { echo "FAIL: no fill in the summary"; exit 1; }
grep -q "database: $T/D/kestrel.db" "$T/out" || { echo "FAIL: summary lacks the database path"; exit 1; }
db_orders=$(sqlite3 "$T/D/kestrel.db" "SELECT count(*) FROM orders WHERE strategy = 'demo'")
db_fills=$(sqlite3 "$T/D/kestrel.db" "SELECT count(*) FROM fills WHERE strategy = 'demo'")
[ "$db_orders" -eq "$orders" ] || { echo "FAIL: $db_orders orders in the database, summary says $orders"; exit 1; }
[ "$db_fills" -eq "$fills" ] || { echo "FAIL: $db_fills fills in the database, summary says $fills"; exit 1; }
grep -q '^\[kestrel\] 00:00:' "$T/out" || { echo "FAIL: no status line"; exit 1; }
echo "ok: $orders orders, $fills fills, in the summary and in $T/D/kestrel.db"
