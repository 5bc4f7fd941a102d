#!/bin/sh
# `kestrel test` reports failures: runs tests/lua/strategies/expected_failures.lua (tests
# that fail on purpose) and checks the exit status, the per-test lines with file:line
# and both sides, and the summary.
set -u
dir="$KS_SOURCE_DIR/tests/lua/strategies"
out=$(cd "$dir" && "$KESTREL" test expected_failures.lua 2>&1)
rc=$?
fail() {
    echo "harness_failures: $1" >&2
    echo "---- output ----" >&2
    echo "$out" >&2
    exit 1
}
[ "$rc" -eq 1 ] || fail "exit status $rc, expected 1"
expect() {
    printf '%s\n' "$out" | grep -F -- "$1" >/dev/null || fail "missing: $1"
}
expect "  ok    passes"
expect "  FAIL  values differ"
expect "expected_failures.lua:12: expect_eq"
expect "at .side: expected \"sell\", got \"buy\""
expect "expected: {qty = 1, side = \"sell\"}"
expect "actual:   {qty = 1, side = \"buy\"}"
expect "  FAIL  numbers are not near"
expect "expected_failures.lua:16: expect_near"
expect "off by 0.5 (tolerance 0.1)"
expect "  FAIL  the strategy raises in a callback"
expect "on_bbo failed (error): ./faulty.lua:8: no good at 100"
expect "[error] on_bbo failed: ./faulty.lua:8: no good at 100"
expect "  FAIL  the test itself raises"
expect "expected_failures.lua:27: attempt to index local 't' (a nil value)"
expect "  FAIL  a file that does not exist"
expect "no_such_strategy.lua: cannot read"
expect "1 passed, 5 failed (1 test file)"

# Usage errors are exit status 2.
"$KESTREL" test >/dev/null 2>&1
[ $? -eq 2 ] || fail "no arguments: expected exit status 2"
"$KESTREL" test "$dir/no-such-dir" >/dev/null 2>&1
[ $? -eq 2 ] || fail "a missing path: expected exit status 2"
echo "harness_failures: ok"
