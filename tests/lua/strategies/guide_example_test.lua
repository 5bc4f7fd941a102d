-- Tests of the worked example of docs/strategies.md (examples/strategies/guide_example.lua).
local FILE = "../../../examples/strategies/guide_example.lua"
local SYMBOLS = {"BTC/USDT", "BTC/USDT:USDT", "ETH/USDT", "ETH/USDT:USDT", "SOL/USDT",
                 "SOL/USDT:USDT", "DOGE/USDT:USDT"}

-- A universe where ETH pays the most (0.03% per 4 h = 0.06% per 8 h), SOL pays more but
-- is too thin, and DOGE has no spot market.
local function universe(h)
    h:market("BTC/USDT", {bid = 99990, ask = 100010})
    h:market("BTC/USDT:USDT", {bid = 99995, ask = 100005, funding_rate = 0.0004,
                               funding_interval_h = 8, volume_24h = 5e9})
    h:market("ETH/USDT", {bid = 2999.9, ask = 3000.1})
    h:market("ETH/USDT:USDT", {bid = 2999.95, ask = 3000.05, funding_rate = 0.0003,
                               funding_interval_h = 4, volume_24h = 2e9})
    h:market("SOL/USDT", {bid = 149.99, ask = 150.01})
    h:market("SOL/USDT:USDT", {bid = 149.99, ask = 150.01, funding_rate = 0.002,
                               funding_interval_h = 8, volume_24h = 1e5})
    h:market("DOGE/USDT:USDT", {bid = 0.2, ask = 0.2001, funding_rate = 0.001,
                                funding_interval_h = 8, volume_24h = 1e8})
    return h
end

local function carry(opts)
    opts = opts or {}
    opts.symbols = SYMBOLS
    opts.capital = 10000
    local h = universe(harness.load(FILE, opts))
    h:start()
    return h
end

test("opens a spot/perp pair on the richest funding", function()
    local h = carry()
    h:advance(0) -- the scan timer is armed with after = 0
    local hedges = h:intents("hedge")
    expect_eq(#hedges, 1)
    local legs = hedges[1].legs
    expect_eq(legs[1].symbol, "ETH/USDT")
    expect_eq(legs[1].side, "buy")
    expect_eq(legs[2].symbol, "ETH/USDT:USDT")
    expect_eq(legs[2].side, "sell")
    expect_near(legs[1].qty, 0.333) -- 1000 USDT / 3000, down to the 0.001 lot
    expect_eq(hedges[1].tag, "carry")
    expect_eq(h.ctx.state.open, {id = hedges[1].id, perp = "ETH/USDT:USDT"})
    expect_eq(h:metric("pairs_opened"), 1)
end)

test("funding_rate_8h is the rate over its interval, times 8", function()
    local h = carry()
    expect_near(h.ctx.market("ETH/USDT:USDT").funding_rate_8h, 0.0006)
    local rich = h.ctx.markets{kind = "perp", min_funding_8h = 0.0005}
    expect_eq(#rich, 3) -- DOGE, ETH, SOL, sorted by symbol
    expect_eq(rich[1].symbol, "DOGE/USDT:USDT")
end)

test("nothing to do when funding is low", function()
    local h = harness.load(FILE, {symbols = SYMBOLS, params = {min_funding_8h = 0.01}})
    universe(h):start()
    h:advance(600)
    expect_eq(#h:intents(), 0)
end)

test("one pair at a time, closed when funding fades", function()
    local h = carry()
    h:advance(0)
    local id = h:intents("hedge")[1].id
    h:hedge_update(id, {state = "active", legs = {{filled = 0.333, avg_price = 3000.1},
                                                   {filled = 0.333, avg_price = 2999.95}}})
    h:advance(120)
    expect_eq(#h:intents("hedge"), 1) -- no second pair
    h:ticker("ETH/USDT:USDT", {funding_rate = 0.00001})
    h:advance(60)
    expect_eq(h:last_intent("close_hedge").id, id)
    expect_eq(h:hedge(id).state, "closing")
    h:hedge_update(id, {state = "closed", reason = "closed"})
    expect_nil(h.ctx.state.open)
end)

test("a refused hedge is logged and nothing is remembered", function()
    local h = carry({params = {max_slippage_bps = 1}})
    h:market("ETH/USDT", {bid = 2990, ask = 3010}) -- 33 bps from mid
    h:advance(0)
    expect_eq(#h:intents("hedge"), 0)
    expect_match(h:refusals("hedge")[1].reason, "above max_slippage_bps 1")
    expect_true(h:logged("hedge refused", "warn"))
    expect_nil(h.ctx.state.open)
end)

test("on_reload moves the first version's state to the new shape", function()
    local h = carry()
    h.ctx.state.hedge_id, h.ctx.state.symbol = "h-old-1", "BTC/USDT:USDT"
    local ok, err = h:reload()
    expect_true(ok, err)
    expect_eq(h.ctx.state.open, {id = "h-old-1", perp = "BTC/USDT:USDT"})
    expect_nil(h.ctx.state.hedge_id)
end)

test("observer mode never hedges", function()
    local h = carry({mode = "observer"})
    h:advance(0)
    expect_eq(#h:intents(), 0)
    expect_eq(h:refusals("hedge")[1].reason, "observer mode: orders are never sent")
end)
