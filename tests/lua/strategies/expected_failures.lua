-- Tests that fail on purpose (not named *_test.lua, so `kestrel test tests/lua/strategies`
-- skips it): tests/lua/harness_failures.sh runs this file alone and checks that every
-- kind of failure is reported with its file:line and both sides, and that the exit
-- status is non-zero.
local SYM = "BTC/USDT:USDT"

test("passes", function()
    expect_eq(1 + 1, 2)
end)

test("values differ", function()
    expect_eq({side = "buy", qty = 1}, {side = "sell", qty = 1})
end)

test("numbers are not near", function()
    expect_near(100.5, 100, 0.1)
end)

test("the strategy raises in a callback", function()
    local h = harness.load("faulty.lua", {symbols = {SYM}})
    h:start()
    h:bbo(SYM, {bid = 100, ask = 101})
end)

test("the test itself raises", function()
    local t = nil
    return t.field
end)

test("a file that does not exist", function()
    harness.load("no_such_strategy.lua")
end)
