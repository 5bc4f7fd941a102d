-- The fake ctx follows the host's conventions: the same signatures, nil, err for
-- refusals, errors for programmer mistakes, phase rules, budgets and auto-disable.
local SYM = "BTC/USDT:USDT"

local function recorder(opts)
    opts = opts or {}
    opts.symbols = opts.symbols or {SYM, "BTC/USDT"}
    local h = harness.load("recorder.lua", opts)
    h:market(SYM, {bid = 100, ask = 100.02})
    h:market("BTC/USDT", {bid = 99.99, ask = 100.03})
    h:start()
    return h
end

test("ctx carries the config's fields", function()
    local h = recorder({name = "rec", capital = "2500", params = {limit = 5}, venue = "sim"})
    local ctx = h.ctx
    expect_eq(ctx.name, "rec")
    expect_eq(ctx.mode, "live")
    expect_eq(ctx.venue, "sim")
    expect_eq(ctx.symbols, {SYM, "BTC/USDT"})
    expect_eq(ctx.params, {label = "x", limit = 5})
    expect_eq(ctx.capital, 2500)
    expect_eq(ctx.now(), 1767225600000)
end)

test("timers fire in time order on the virtual clock", function()
    local h = recorder()
    expect_eq(h:advance(6), 4) -- fast at 1, 3, 5; slow at 5 (a tie: slow was armed first)
    expect_eq(h.ctx.state.seen, {"start", "timer:fast@1767225601000", "timer:fast@1767225603000",
                                 "timer:slow@1767225605000", "timer:fast@1767225605000"})
    h.ctx.cancel_timer("fast")
    expect_eq(h:advance(10), 0)
    expect_eq(h:now(), 1767225616000)
end)

test("programmer mistakes raise, like the host", function()
    local ctx = recorder().ctx
    expect_error(function() ctx.order{symbol = SYM, side = "up", qty = 1} end,
                 "ctx.order: side must be one of the documented values, got 'up'")
    expect_error(function() ctx.order{symbol = SYM, side = "buy", qty = 1, prize = 3} end,
                 "ctx.order: unknown field 'prize'")
    expect_error(function() ctx.order{symbol = SYM, side = "buy", qty = -1} end, "qty must be a positive")
    expect_error(function() ctx.order{symbol = SYM, side = "buy", qty = 1, type = "limit"} end,
                 "a limit order needs a price")
    expect_error(function() ctx.timer("t", -1) end, "times must be seconds")
    expect_error(function() ctx.metric("bad name", 1) end, "name must match")
    expect_error(function() ctx.market(nil) end, "bad argument #1 to 'market' (string expected, got nil)")
    expect_error(function() ctx.balance("USDT", "margin") end, "wallet must be spot, futures or unified")
    expect_error(function() ctx.hedge{legs = {{symbol = SYM, side = "buy", qty = 1}}} end,
                 "legs must be a list of 2 to 4 legs")
end)

test("refusals are nil, err", function()
    local ctx = recorder().ctx
    local function refused(expected, v, err)
        expect_nil(v)
        expect_eq(err, expected)
    end
    refused("unknown symbol XRP/USDT:USDT", ctx.order{symbol = "XRP/USDT:USDT", side = "buy", qty = 1})
    refused("unknown symbol XRP/USDT:USDT", ctx.market("XRP/USDT:USDT"))
    refused("no such order nope", ctx.cancel("nope"))
    refused("no futures balance for USDT", ctx.balance("USDT"))
    refused("no such hedge h9", ctx.close_hedge("h9"))
    refused("qty 0 (after rounding to lot) is below the minimum 0.001 of BTC/USDT:USDT",
            ctx.order{symbol = SYM, side = "buy", qty = 0.0004})
    refused("unknown venue binance", ctx.subscribe(SYM, "binance"))
    expect_nil(ctx.margin_level())
    expect_nil(ctx.get_order("nope"))
    expect_eq(ctx.open_orders(), {})
end)

test("orders are rounded like the host: buys down, sells up, sizes down", function()
    local h = recorder()
    h:instrument(SYM, {tick = 0.5, lot = 0.01})
    h.ctx.order{symbol = SYM, side = "buy", qty = 0.0199, price = 100.4}
    h.ctx.order{symbol = SYM, side = "sell", qty = 0.0199, price = 100.1}
    local o = h:intents("order")
    expect_eq({o[1].price, o[1].qty, o[2].price, o[2].qty}, {100, 0.01, 100.5, 0.01})
    expect_eq(o[1].requested_qty, 0.0199)
    expect_eq(h.ctx.get_order(o[1].cloid).status, "sent")
    expect_eq(#h.ctx.open_orders(SYM), 2)
end)

test("ctx.markets filters, and refuses weird filter types", function()
    local h = recorder()
    h:market(SYM, {funding_rate = 0.0002, funding_interval_h = 4, volume_24h = 1e9})
    local ctx = h.ctx
    expect_eq(#ctx.markets(), 2)
    expect_eq(#ctx.markets{kind = "spot"}, 1)
    local perps = ctx.markets{min_funding_8h = 0.0003}
    expect_eq(#perps, 1)
    expect_near(perps[1].funding_rate_8h, 0.0004)
    expect_eq(#ctx.markets{min_volume_24h = 2e9}, 0)
    expect_eq(#ctx.markets{symbols = {"BTC/USDT"}}, 1)
    expect_error(function() ctx.markets{kind = 5} end, 'kind must be "spot" or "perp"')
    expect_error(function() ctx.markets{kind = {}} end, "string expected, got table")
    expect_error(function() ctx.markets{min_volume_24h = "lots"} end, "number expected, got string")
    expect_error(function() ctx.markets{symbols = "BTC"} end, "table expected, got string")
    expect_error(function() ctx.markets{colour = "red"} end, "unknown filter 'colour'")
    expect_error(function() ctx.markets{[1] = true} end, "unknown filter '?'")
    expect_error(function() ctx.markets{venue = "nowhere"} end, "unknown venue 'nowhere'")
    expect_error(function() ctx.markets("perp") end, "table expected, got string")
end)

test("ctx.order is not allowed in on_stop", function()
    local h = recorder()
    h:stop()
    expect_eq(h.ctx.state.stop_order, "ctx.order is not allowed in on_stop")
end)

test("hedges: intent, scripted state, on_hedge, close only when active", function()
    local h = recorder()
    local ctx = h.ctx
    local id = ctx.hedge{legs = {{symbol = "BTC/USDT", side = "buy", qty = 0.5},
                                 {symbol = SYM, side = "sell", qty = 0.5}}, tag = "t1"}
    expect_not_nil(id)
    local intent = h:last_intent("hedge")
    expect_eq(intent.legs[2], {symbol = SYM, venue = "sim", side = "sell", qty = 0.5})
    expect_eq(intent.open_timeout_ms, 5000)
    expect_eq(ctx.get_hedge(id).state, "opening")
    local ok, err = ctx.close_hedge(id)
    expect_nil(ok)
    expect_eq(err, "hedge " .. id .. " is opening; only an active hedge can be closed")
    h:hedge_update(id, {state = "active", legs = {{filled = 0.5, avg_price = 100.03}, {filled = 0.5}}})
    expect_eq(ctx.hedges()[1].legs[1].avg_price, 100.03)
    expect_true(ctx.close_hedge(id))
    h:hedge_update(id, {state = "closed"})
    expect_eq(#ctx.hedges(), 0)
    expect_eq(ctx.get_hedge(id).state, "closed")
    expect_eq(h.ctx.state.seen, {"start", "hedge:active", "hedge:closed"})
end)

test("transfers, params, risk notices and market events reach their callbacks", function()
    local h = recorder()
    local id = h.ctx.transfer{asset = "USDT", amount = 100, from = "spot", to = "futures"}
    expect_eq(h:last_intent("transfer").amount, 100)
    h:transfer_result(id, {ok = false, reason = "insufficient"})
    expect_true(h:params({label = "y"}))
    local ok, err = h:params({label = 1})
    expect_false(ok)
    expect_match(err, "params.label: expected string, got number")
    h:risk({module = "margin", reason = "low"})
    h:liquidation(SYM, {side = "sell", price = 95, qty = 2})
    h:oracle(SYM, 100.5)
    h:trade(SYM, {price = 100.01, qty = 1, side = "buy"})
    h:book(SYM, {bids = {{100, 1}, {99.5, 2}}, asks = {{100.5, 1}}})
    expect_eq(h.ctx.state.seen, {"start", "transfer:1:false", "params:y", "risk:margin:low",
                                 "liq:sell:2", "oracle:100.5", "trade:100.01", "book:2"})
    expect_near(h.ctx.market(SYM).oracle, 100.5)
end)

test("ctx.state must be storable (strings, numbers, booleans, tables)", function()
    local h = recorder()
    h.ctx.state.fn = function() end
    expect_error(function() h:saved_state() end, "ctx.state.fn: cannot store this type (function)")
    local ok, err = h:reload()
    expect_false(ok)
    expect_match(err, "cannot store")
end)

test("errors = host: repeated errors disable, on_disable cancels", function()
    local h = harness.load("faulty.lua", {symbols = {SYM}, errors = "host", max_errors = 3})
    h:start()
    for i = 1, 5 do h:bbo(SYM, {bid = 100 + i, ask = 101 + i}) end
    expect_eq(#h:errors(), 3)
    expect_match(h:errors()[1].message, "faulty.lua:%d+: no good at 101")
    expect_eq(h:disabled(), "too many errors")
    expect_eq(h:journal()[1].kind, "strategy.disabled")
    expect_eq(h:last_intent("cancel").via, "on_disable")
    expect_false(h:bbo(SYM, {bid = 1, ask = 2})) -- a disabled strategy receives nothing
end)

test("errors = raise (the default): a callback error fails the caller", function()
    local h = harness.load("faulty.lua", {symbols = {SYM}})
    h:start()
    expect_error(function() h:bbo(SYM, {bid = 100, ask = 101}) end, "on_bbo failed (error)")
end)

test("the instruction budget stops a runaway callback and disables it", function()
    local h = harness.load("runaway.lua", {symbols = {SYM}, errors = "host",
                                           instruction_budget = 100000})
    h:start()
    expect_false(h:bbo(SYM, {bid = 100, ask = 101}))
    expect_eq(h:errors()[1].kind, "budget")
    expect_match(h:errors()[1].message, "instruction budget exceeded %(100000 instructions")
    expect_eq(h:disabled(), "instruction budget exceeded")
end)

test("the strategy runs in the host's sandbox", function()
    local h = harness.load("probe.lua")
    h:start()
    expect_eq(h.ctx.state.found, {})
    expect_eq(h.ctx.state.binary_err, "binary chunks are not allowed")
end)

test("log levels, print and truncation", function()
    local h = recorder()
    h.ctx.log("warn", "careful")
    h.ctx.log("just text")
    h.ctx.log(string.rep("x", 5000))
    local logs = h:logs()
    expect_eq(logs[1], {level = "warn", msg = "careful", ts = 1767225600000})
    expect_eq(logs[2].level, "info")
    expect_eq(#logs[3].msg, 2000)
    expect_eq(#h:logs("warn"), 1)
end)

test("ctx.record rows are kept for the test", function()
    local h = recorder()
    expect_true(h.ctx.record("signals", {symbol = SYM, edge_bps = 4.5, taken = false}))
    expect_eq(h:records("signals"), {{symbol = SYM, edge_bps = 4.5, taken = false}})
    expect_error(function() h.ctx.record("Bad-Name", {}) end, "name must match")
    expect_error(function() h.ctx.record("nested", {x = {}}) end, "a row maps names to")
end)
