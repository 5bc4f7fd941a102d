-- Tests of band_maker.lua: quoting, requoting, position limits, stop.
local SYM = "BTC/USDT:USDT"

local function maker(opts)
    opts = opts or {}
    opts.symbols = opts.symbols or {SYM}
    local h = harness.load("band_maker.lua", opts)
    h:start()
    return h
end

test("quotes a bid and an ask around the mid", function()
    local h = maker()
    h:bbo(SYM, {bid = 99.99, ask = 100.01})
    local orders = h:intents("order")
    expect_eq(#orders, 2)
    expect_eq(orders[1].side, "buy")
    expect_eq(orders[1].tif, "post_only")
    expect_near(orders[1].price, 99.9)  -- 10 bps below 100, on the 0.01 tick
    expect_near(orders[2].price, 100.1)
    expect_near(orders[1].qty, 0.01)
    expect_true(h:logged("quoting BTC/USDT:USDT"))
end)

test("does not requote on a small move, requotes on a large one", function()
    local h = maker()
    h:bbo(SYM, {bid = 99.99, ask = 100.01})
    h:clear_intents()
    h:bbo(SYM, {bid = 100.00, ask = 100.02}) -- 1 bp
    expect_eq(#h:intents(), 0)
    h:bbo(SYM, {bid = 100.10, ask = 100.12}) -- 11 bps: cancel both, quote again
    expect_eq(#h:intents("cancel"), 2)
    expect_eq(#h:intents("order"), 2)
end)

test("a fill updates the position, the metrics and the state", function()
    local h = maker()
    h:bbo(SYM, {bid = 99.99, ask = 100.01})
    local bid = h:intents{kind = "order", side = "buy"}[1]
    h:fill(bid.cloid)
    expect_near(h:position(SYM).qty, 0.01)
    expect_near(h:position(SYM).avg_entry, 99.9)
    expect_eq(h:metric("fills"), 1)
    expect_near(h:metric("position"), 0.01)
    expect_eq(h:order(bid.cloid).status, "filled")
    expect_nil(h.ctx.state.quotes.buy) -- on_order saw it filled
end)

test("stops bidding at the position limit", function()
    local h = maker({params = {max_position = 0.01}})
    h:set_position(SYM, {qty = 0.01, avg_entry = 100})
    h:bbo(SYM, {bid = 99.99, ask = 100.01})
    local orders = h:intents("order")
    expect_eq(#orders, 1)
    expect_eq(orders[1].side, "sell")
end)

test("on_stop cancels what is open", function()
    local h = maker()
    h:bbo(SYM, {bid = 99.99, ask = 100.01})
    h:clear_intents()
    h:stop()
    local cancels = h:intents("cancel")
    expect_eq(#cancels, 2)
    expect_eq(cancels[1].via, "cancel_all")
end)

test("observer mode: orders are refused with nil, err", function()
    local h = maker({mode = "observer"})
    h:bbo(SYM, {bid = 99.99, ask = 100.01})
    expect_eq(#h:intents("order"), 0)
    local r = h:refusals("order")
    expect_eq(#r, 2)
    expect_eq(r[1].reason, "observer mode: orders are never sent")
end)

test("a venue rejection reaches on_order", function()
    local h = maker()
    h:bbo(SYM, {bid = 99.99, ask = 100.01})
    local ask = h:intents{kind = "order", side = "sell"}[1]
    h:order_update(ask.cloid, {status = "rejected", reject = "post_only", reason = "would take"})
    expect_nil(h.ctx.state.quotes.sell)
    expect_eq(h:order(ask.cloid).reject, "post_only")
end)

test("params are type-checked against the defaults", function()
    local h, err = harness.try_load("band_maker.lua", {params = {size = "big"}})
    expect_nil(h)
    expect_eq(err, "strategies.band_maker.params.size: expected number, got string")
    h, err = harness.try_load("band_maker.lua", {params = {sizee = 1}})
    expect_match(err, "params.sizee: unknown parameter")
end)

test("state survives a hot reload; a broken version keeps the old one", function()
    local h = maker()
    h:bbo(SYM, {bid = 99.99, ask = 100.01})
    h:fill(h:intents("order")[1].cloid)
    local ok, err = h:reload("broken_version.lua")
    expect_false(ok)
    expect_match(err, "broken_version.lua:%d+:")
    expect_eq(h.ctx.state.fills, 1) -- the old version still runs, state intact
    ok, err = h:reload()
    expect_true(ok, err)
    expect_eq(h.ctx.state.fills, 1)
    expect_eq(h.stats.reloads, 1)
    expect_eq(h.stats.reload_failures, 1)
end)
