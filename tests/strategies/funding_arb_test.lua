-- strategies/funding_arb.lua through the harness: every rule of the product spec (entry
-- filters at and around their boundaries, the 8 h normalization, ranking, sizing, the
-- position cap, observer mode, exits, the guardian's margin, drift and cost rules).
local FILE = "../../strategies/funding_arb.lua"

-- A spot/perp pair around `price`: spot mid = price, perp mid = price * (1 + premium),
-- funding given per interval (rate) or as an 8 h equivalent (f8).
local function pair(h, base, o)
    local price = o.price or 100
    local spot, perp = base .. "/USDT", base .. "/USDT:USDT"
    local interval = o.interval or 8
    local rate = o.rate or (o.f8 or 0.0005) * interval / 8
    local pmid = o.perp_mid or price * (1 + (o.premium or 0.003))
    local half = o.half_spread or 0.01
    h:instrument(spot, {tick = o.tick or 0.0001, lot = o.spot_lot or 0.001,
                        min_notional = o.min_notional or 0, taker_fee = o.spot_taker or 0.001})
    h:instrument(perp, {tick = o.tick or 0.0001, lot = o.perp_lot or 0.001,
                        min_notional = o.min_notional or 0, taker_fee = o.perp_taker or 0.0005,
                        min_qty = o.min_qty})
    h:market(spot, {bid = price - half, ask = price + half, bid_qty = 1e6, ask_qty = 1e6})
    h:market(perp, {bid = pmid - half, ask = pmid + half, bid_qty = 1e6, ask_qty = 1e6,
                    mark = pmid, funding_rate = rate, funding_interval_h = interval,
                    volume_24h = o.volume or 5e7})
    return spot, perp
end

local function load(opts)
    opts = opts or {}
    local h = harness.load(FILE, {params = opts.params, capital = opts.capital or 100000,
                                  mode = opts.mode})
    return h
end

-- Starts the strategy and runs the first scan (armed 1 s after start).
local function scan(h)
    h:start()
    h:advance(1)
    return h:intents("hedge")
end

local function entered(h)
    local out = {}
    for _, x in ipairs(h:intents("hedge")) do out[#out + 1] = x.legs[2].symbol end
    return out
end

-- One open pair on BTC at 100, activated with `qty` on both legs (positions set).
local function open_pair(opts)
    opts = opts or {}
    local h = load(opts)
    local spot, perp = pair(h, "BTC", opts.pair or {})
    local hd = scan(h)[1]
    local qty = hd.legs[1].qty
    h:hedge_update(hd.id, {state = "active", legs = {{filled = qty}, {filled = qty}}})
    h:set_position(spot, {qty = opts.spot_qty or qty})
    h:set_position(perp, {qty = -(opts.perp_qty or qty)})
    h:advance(9) -- now = start + 10 s: the first guard ran
    return h, hd.id, spot, perp, qty
end

-- Records the arguments of every ctx.close_hedge call, in the order they were made.
local function spy_close(h)
    local calls = {}
    local orig = h.ctx.close_hedge
    h.ctx.close_hedge = function(id, fraction)
        calls[#calls + 1] = {id = id, fraction = fraction}
        return orig(id, fraction)
    end
    return calls
end

-- ---- entry filters --------------------------------------------------------------------------

test("enters through a leg group: spot bought, perp sold, both at market", function()
    local h = load()
    pair(h, "BTC", {})
    local hd = scan(h)
    expect_eq(#hd, 1)
    expect_eq(hd[1].legs[1], {symbol = "BTC/USDT", venue = "sim", side = "buy", qty = 150})
    expect_eq(hd[1].legs[2], {symbol = "BTC/USDT:USDT", venue = "sim", side = "sell", qty = 150})
    expect_eq(hd[1].tag, "funding_arb")
    expect_eq(hd[1].open_timeout_ms, 5000)
    expect_eq(hd[1].max_slippage_bps, 50)
    expect_eq(h.ctx.state.open[hd[1].id].state, "opening")
    local rec = h:records("opportunities")
    expect_eq(#rec, 1)
    expect_true(rec[1].taken)
end)

test("the scanner runs every 60 s and the guardian every 10 s", function()
    local h = load()
    h:start()
    local timers = {}
    for _, t in ipairs(h:timers()) do timers[t.name] = t.every end
    expect_eq(timers, {scan = 60, guard = 10})
end)

test("funding filter: the 8 h equivalent at 0.03% enters, just below does not (1h, 4h, 8h)", function()
    for _, c in ipairs({{1, 0.0000375}, {4, 0.00015}, {8, 0.0003}}) do
        local interval, at = c[1], c[2]
        local h = load()
        pair(h, "AT", {interval = interval, rate = at})
        pair(h, "BELOW", {interval = interval, rate = at * (1 - 1e-6)})
        scan(h)
        expect_eq(entered(h), {"AT/USDT:USDT"}, interval .. "h")
        expect_near(h.ctx.market("AT/USDT:USDT").funding_rate_8h, 0.0003, 1e-15)
    end
end)

test("funding normalized to 8 h: 0.01%/1h outranks 0.04%/8h", function()
    local h = load({params = {max_positions = 1}})
    pair(h, "HOURLY", {interval = 1, rate = 0.0001})   -- 0.08% per 8 h
    pair(h, "EIGHT", {interval = 8, rate = 0.0004})    -- 0.04% per 8 h
    scan(h)
    expect_eq(entered(h), {"HOURLY/USDT:USDT"})
    expect_near(h:records("opportunities")[1].funding_8h, 0.0008, 1e-15)
end)

test("volume filter: 10,000,000 enters, 9,999,999 does not", function()
    local h = load()
    pair(h, "AT", {volume = 10000000})
    pair(h, "BELOW", {volume = 9999999})
    scan(h)
    expect_eq(entered(h), {"AT/USDT:USDT"})
end)

test("premium filter: 0.2% enters; just below, zero and negative do not", function()
    local h = load()
    pair(h, "AT", {perp_mid = 100.2})
    pair(h, "BELOW", {perp_mid = 100.199})
    pair(h, "ZERO", {perp_mid = 100})
    pair(h, "NEG", {perp_mid = 99.5})
    scan(h)
    expect_eq(entered(h), {"AT/USDT:USDT"})
end)

test("premium must be positive even when min_premium is 0", function()
    local h = load({params = {min_premium = 0}})
    pair(h, "ZERO", {perp_mid = 100})
    pair(h, "TINY", {perp_mid = 100.0001})
    scan(h)
    expect_eq(entered(h), {"TINY/USDT:USDT"})
end)

test("premium filter off: a zero basis enters, and the start says so", function()
    local h = load({params = {use_premium_filter = false}})
    pair(h, "ZERO", {perp_mid = 100})
    scan(h)
    expect_eq(entered(h), {"ZERO/USDT:USDT"})
    expect_true(h:logged("premium filter off", "warn"))
    expect_eq(#h.notes, 1)
    expect_true(h.notes[1]:find("premium filter off", 1, true) ~= nil)
end)

test("only the quote currency's perps with a spot market are scanned", function()
    local h = load()
    pair(h, "BTC", {})
    h:instrument("ETH/USDC:USDC", {})
    h:market("ETH/USDC:USDC", {bid = 99, ask = 101, funding_rate = 0.01, volume_24h = 1e9})
    h:instrument("SOL/USDT:USDT", {}) -- no spot market
    h:market("SOL/USDT:USDT", {bid = 99, ask = 101, funding_rate = 0.01, volume_24h = 1e9})
    scan(h)
    expect_eq(entered(h), {"BTC/USDT:USDT"})
end)

test("positive periods: with require_positive_periods = 3, the third positive settlement enables entry", function()
    local h = load({params = {require_positive_periods = 3}})
    local _, perp = pair(h, "BTC", {})
    h:start()
    local T, H8 = h:now(), 8 * 3600000
    local function settle(k, rate)  -- the ticker moves to the next settlement
        h:ticker(perp, {funding_rate = rate, next_funding_ts = T + k * H8})
    end
    settle(1, 0.0005)
    settle(2, 0.0005)      -- one positive settlement (k = 1)
    settle(3, -0.0001)     -- k = 2 settled positive too: 2 in a row
    settle(4, 0.0005)      -- k = 3 settled negative: the run restarts
    h:advance(1)
    expect_eq(#h:intents("hedge"), 0)
    settle(5, 0.0005)
    settle(6, 0.0005)
    h:advance(60)
    expect_eq(#h:intents("hedge"), 0, "two in a row")
    settle(7, 0.0005)
    h:advance(60)
    expect_eq(entered(h), {"BTC/USDT:USDT"})
    expect_eq(h.ctx.state.pos_run[perp], 3)
end)

-- ---- ranking and the cost model ------------------------------------------------------------

test("ranked by net daily return: funding minus amortized fees and slippage, minus borrow", function()
    local h = load({params = {expected_hold_days = 2, borrow_daily = 0.0001}})
    -- RICH pays the most but its fees are high: over 2 days it nets less than CHEAP.
    pair(h, "RICH", {f8 = 0.0010, spot_taker = 0.001, perp_taker = 0.001})
    pair(h, "CHEAP", {f8 = 0.0008, spot_taker = 0.0005, perp_taker = 0.0002})
    pair(h, "THIRD", {f8 = 0.0005, spot_taker = 0.0005, perp_taker = 0.0002})
    scan(h)
    expect_eq(entered(h), {"CHEAP/USDT:USDT", "RICH/USDT:USDT", "THIRD/USDT:USDT"})
    local rows = h:records("opportunities")
    -- CHEAP: 0.0024/day - 2*(0.0005+0.0002)/2 - 4*2bps/2 - 0.0001
    expect_near(rows[1].net_daily, 0.0024 - 0.0007 - 0.0004 - 0.0001, 1e-15)
    expect_near(rows[1].fees_daily, 0.0007, 1e-15)
    expect_near(rows[1].slippage_daily, 0.0004, 1e-15)
    expect_near(rows[1].borrow_daily, 0.0001, 1e-15)
    expect_near(rows[2].net_daily, 0.0030 - 0.002 - 0.0004 - 0.0001, 1e-15)
    expect_near(rows[3].net_daily, 0.0015 - 0.0007 - 0.0004 - 0.0001, 1e-15)
    expect_eq({rows[1].rank, rows[2].rank, rows[3].rank}, {1, 2, 3})
end)

test("no entry when the net daily return is not positive", function()
    local h = load({params = {expected_hold_days = 1}})
    pair(h, "BTC", {f8 = 0.0003, spot_taker = 0.001, perp_taker = 0.001}) -- 0.0009 - 0.004 - ...
    scan(h)
    expect_eq(#h:intents("hedge"), 0)
end)

-- ---- sizing -----------------------------------------------------------------------------------

test("sized from capital: an equal share per leg, rounded down to the coarser lot", function()
    -- 10000 * 0.9 / 3 / 2 = 1500 per leg; at 70000: 0.0214285... -> 0.021 (perp lot 0.001)
    local h = load({capital = 10000})
    pair(h, "BTC", {price = 70000, spot_lot = 0.00001, perp_lot = 0.001, half_spread = 1})
    local hd = scan(h)[1]
    expect_eq(hd.legs[1].qty, 0.021)
    expect_eq(hd.legs[2].qty, 0.021)
    -- the spot lot coarser this time: 0.02 on both legs
    h = load({capital = 10000})
    pair(h, "BTC", {price = 70000, spot_lot = 0.01, perp_lot = 0.001, half_spread = 1})
    hd = scan(h)[1]
    expect_eq({hd.legs[1].qty, hd.legs[2].qty}, {0.02, 0.02})
end)

test("below the minimum notional or quantity nothing is sent", function()
    local h = load({capital = 10000}) -- 1500 per leg
    pair(h, "BTC", {price = 70000, min_notional = 1500, half_spread = 1}) -- 0.021 * 69999 < 1500
    pair(h, "ETH", {price = 3000, min_qty = 1})                          -- 0.5 < 1
    pair(h, "SOL", {price = 150, min_notional = 1000})                   -- 10 * 150 >= 1000
    scan(h)
    expect_eq(entered(h), {"SOL/USDT:USDT"})
    local reasons = {}
    for _, r in ipairs(h:records("opportunities")) do reasons[r.perp] = r.reason end
    expect_match(reasons["BTC/USDT:USDT"], "notional")
    expect_match(reasons["ETH/USDT:USDT"], "minimum 1")
end)

test("a refused entry is not retried for 10 scans", function()
    local h = load()
    pair(h, "BTC", {})
    h:set_risk(function() return "risk.limits: max open positions 3 reached" end)
    scan(h)
    expect_eq(#h:refusals("hedge"), 1)
    h:advance(9 * 60)
    expect_eq(#h:refusals("hedge"), 1)
    expect_eq(#h:records("opportunities"), 1)
    expect_match(h:records("opportunities")[1].reason, "max open positions")
    h:set_risk(nil)
    h:advance(60)
    expect_eq(entered(h), {"BTC/USDT:USDT"})
end)

test("at most 3 pairs; a closed one frees a place at the next scan", function()
    local h = load()
    for i, b in ipairs({"A", "B", "C", "D", "E"}) do pair(h, b, {f8 = 0.001 - i * 0.0001}) end
    local hd = scan(h)
    expect_eq(entered(h), {"A/USDT:USDT", "B/USDT:USDT", "C/USDT:USDT"})
    h:advance(60)
    expect_eq(#h:intents("hedge"), 3)
    h:hedge_update(hd[1].id, {state = "failed", reason = "a leg did not fill"})
    h:advance(60)
    expect_eq(entered(h), {"A/USDT:USDT", "B/USDT:USDT", "C/USDT:USDT", "A/USDT:USDT"})
end)

test("observer mode sends nothing and records every opportunity with its cost model", function()
    local h = load({mode = "observer"})
    pair(h, "A", {f8 = 0.0009})
    pair(h, "B", {f8 = 0.0006})
    scan(h)
    h:advance(60)
    expect_eq(#h:intents(), 0)
    expect_eq(#h:refusals(), 0) -- it does not even try
    local rows = h:records("opportunities")
    expect_eq(#rows, 4)         -- two candidates, two scans
    expect_eq(rows[1].perp, "A/USDT:USDT")
    expect_eq(rows[1].rank, 1)
    expect_eq(rows[1].mode, "observer")
    expect_false(rows[1].taken)
    expect_eq(rows[1].qty, 150)
    expect_near(rows[1].funding_8h, 0.0009, 1e-15)
    expect_near(rows[1].premium, 0.003, 1e-12)
    expect_near(rows[1].net_daily, 0.0027 - 0.003 / 7 - 0.0008 / 7, 1e-15)
    expect_eq(rows[2].perp, "B/USDT:USDT")
end)

-- ---- exits ------------------------------------------------------------------------------------

test("exit when funding falls to 0.005% per 8 h (at the level, also from a 1 h rate)", function()
    local h, id, _, perp = open_pair()
    h:ticker(perp, {funding_rate = 0.0000501})
    h:advance(10)
    expect_eq(#h:intents("close_hedge"), 0, "just above the exit level")
    h:ticker(perp, {funding_rate = 0.00000625, funding_interval_h = 1}) -- 0.005% per 8 h
    h:advance(10)
    expect_eq(h:last_intent("close_hedge").id, id)
    expect_eq(h.ctx.state.open[id].state, "closing")
    h:advance(60)
    expect_eq(#h:intents("close_hedge"), 1, "no second close while closing")
    expect_eq(#h:refusals("close_hedge"), 0, "not even tried")
    h:hedge_update(id, {state = "closed", reason = "all legs closed"})
    expect_nil(h.ctx.state.open[id])
    expect_match(h:records("exits")[1].reason, "at or below the exit level")
end)

test("flip tolerance: negative funding for less than 2 h stays, 2 h exits", function()
    local h, id, _, perp = open_pair()
    h:ticker(perp, {funding_rate = -0.0001}) -- at start + 10 s
    h:advance(7190)                          -- a guard at 7190 s of negative funding
    expect_eq(#h:intents("close_hedge"), 0)
    h:advance(10)                            -- 7200 s
    expect_eq(h:last_intent("close_hedge").id, id)
    expect_true(h:logged("exit BTC/USDT:USDT: funding negative for 2.00 h"))
end)

test("flip tolerance: a positive tick resets the clock", function()
    local h, _, _, perp = open_pair()
    h:ticker(perp, {funding_rate = -0.0001})
    h:advance(3600)
    h:ticker(perp, {funding_rate = 0.0004})  -- positive between two guard runs
    h:ticker(perp, {funding_rate = -0.0001}) -- negative again: the clock restarts here
    h:advance(3600)                          -- 2 h after the first negative tick
    expect_eq(#h:intents("close_hedge"), 0)
    h:advance(3590)
    expect_eq(#h:intents("close_hedge"), 0)
    h:advance(10)                            -- 2 h after the second
    expect_eq(#h:intents("close_hedge"), 1)
end)

test("emergency exit when the premium falls to -1% (not at -0.99%)", function()
    local h, id, spot, perp = open_pair()
    h:market(spot, {bid = 99.99, ask = 100.01})
    h:market(perp, {bid = 99.0, ask = 99.02})   -- mid 99.01: -0.99%
    h:advance(10)
    expect_eq(#h:intents("close_hedge"), 0)
    h:market(perp, {bid = 98.99, ask = 99.01})  -- mid 99: -1%
    h:advance(10)
    expect_eq(h:last_intent("close_hedge").id, id)
    expect_true(h:logged("emergency: premium %-1.000%%"))
end)

test("a close that fails keeps the pair and is retried with a doubling wait", function()
    local h, id, _, perp = open_pair()
    h:ticker(perp, {funding_rate = 0})
    h:advance(10)
    expect_eq(#h:intents("close_hedge"), 1)
    local function fail_close()
        h:hedge_update(id, {state = "active", reason = "close failed on a leg (" .. perp
                            .. " rejected: reduce-only buy would not reduce the position); hedge restored"})
    end
    fail_close()
    h:advance(10)
    expect_eq(#h:intents("close_hedge"), 2, "first retry after guard_s")
    fail_close()
    h:advance(10)
    expect_eq(#h:intents("close_hedge"), 2, "then 20 s")
    h:advance(10)
    expect_eq(#h:intents("close_hedge"), 3)
    fail_close()
    h:advance(30)
    expect_eq(#h:intents("close_hedge"), 3, "then 40 s")
    h:advance(10)
    expect_eq(#h:intents("close_hedge"), 4)
    expect_eq(h:records("alerts")[1].kind, "close_failed")
    expect_true(h:logged("close of BTC/USDT:USDT failed %(3%)", "warn"))
end)

-- ---- guardian: margin ----------------------------------------------------------------------------

-- 150 perp short at mark 100.3 (notional 15045); futures equity sets the ratio.
local function margin_setup(equity, opts)
    local h, id, spot, perp, qty = open_pair(opts)
    h:balance("USDT", {wallet = "futures", total = equity, equity = equity})
    return h, id, spot, perp, qty
end

test("margin below 20%: spot -> futures transfer back to 30% where wallets are separate", function()
    local h = margin_setup(0.15 * 15045)
    h:balance("USDT", {wallet = "spot", total = 50000, available = 50000})
    h:advance(10)
    local t = h:last_intent("transfer")
    expect_not_nil(t)
    expect_eq({t.asset, t.from, t.to}, {"USDT", "spot", "futures"})
    expect_near(t.amount, 0.15 * 15045, 1e-6)
    h:advance(10)
    expect_eq(#h:intents("transfer"), 1, "one transfer at a time")
    h:transfer_result(t.id, {ok = true})
    expect_eq(#h:intents("close_hedge"), 0)
end)

test("margin at exactly 20%: nothing", function()
    local h = margin_setup(0.20 * 15045)
    h:balance("USDT", {wallet = "spot", total = 50000, available = 50000})
    h:advance(30)
    expect_eq(#h:intents("transfer"), 0)
    expect_eq(#h:intents("close_hedge"), 0)
end)

test("margin low and the transfer refused: both legs reduced in proportion (close_hedge fraction)", function()
    local h, id = margin_setup(0.15 * 15045)
    h:balance("USDT", {wallet = "spot", total = 50000, available = 50000})
    local calls = spy_close(h)
    h:advance(10)
    local t = h:last_intent("transfer")
    h:transfer_result(t.id, {ok = false, reason = "transfers disabled"})
    expect_eq(#calls, 1)
    expect_eq(calls[1].id, id)
    expect_near(calls[1].fraction, 0.5, 1e-9) -- keep 15% / 30%
    expect_true(h:logged("transfer refused: transfers disabled", "warn"))
    expect_eq(h.ctx.state.open[id].state, "closing")
    expect_true(h.ctx.state.open[id].reducing)
    -- the reduction completes: the pair is active again, smaller
    h:hedge_update(id, {state = "active", reason = "reduced", legs = {{filled = 75}, {filled = 75}}})
    expect_eq(h.ctx.state.open[id].qty, 75)
    expect_nil(h.ctx.state.open[id].reducing)
end)

test("one unified wallet: no transfer, both legs reduced in proportion", function()
    local h, id = open_pair()
    h:balance("USDT", {wallet = "unified", total = 0.10 * 15045, equity = 0.10 * 15045})
    local calls = spy_close(h)
    h:advance(10)
    expect_eq(#h:intents("transfer"), 0)
    expect_eq(#calls, 1)
    expect_near(calls[1].fraction, 1 - 0.10 / 0.30, 1e-6)
    expect_true(h:logged("one unified wallet", "warn"))
end)

test("nothing in the spot wallet to move: both legs reduced instead", function()
    local h = margin_setup(0.15 * 15045)
    h:balance("USDT", {wallet = "spot", total = 0, available = 0}) -- nothing to move
    local calls = spy_close(h)
    h:advance(10)
    expect_eq(#h:intents("transfer"), 0)
    expect_eq(#calls, 1)
    expect_true(h:logged("nothing to transfer", "warn"))
end)

-- ---- guardian: delta drift and its cost -------------------------------------------------------------

test("delta drift above 0.2% tops up the perp short; at 0.2% nothing", function()
    local h = open_pair({spot_qty = 150, perp_qty = 149.7}) -- drift exactly 0.2%
    h:advance(30)
    expect_eq(#h:intents("order"), 0)
    h:set_position("BTC/USDT:USDT", {qty = -149.6})      -- 0.267%
    h:advance(10)
    local o = h:last_intent("order")
    expect_eq({o.symbol, o.side, o.qty, o.reduce_only}, {"BTC/USDT:USDT", "sell", 0.4, false})
    h:advance(30)
    expect_eq(#h:intents("order"), 1, "no second order while the first works")
end)

test("delta drift the other way trims the perp with a reduce-only buy", function()
    local h = open_pair({spot_qty = 150, perp_qty = 150.5})
    h:advance(10)
    local o = h:last_intent("order")
    expect_eq({o.side, o.qty, o.reduce_only}, {"buy", 0.5, true})
end)

test("rebalance cost (fees and slippage) as a share of net income: alert at 30%", function()
    local h, _, _, perp = open_pair({spot_qty = 150, perp_qty = 149.6})
    h:advance(10)
    local o = h:last_intent("order")
    h:funding(perp, 13.25)                          -- net income 13.25 - 3 = 10.25
    h:fill(o.cloid, {price = h.ctx.market(perp).mid, fee = 3}) -- at the mid: no slippage
    h:order_update(o.cloid, {status = "filled"})
    h:advance(10)
    expect_eq(h.ctx.state.rebalance_fees, 3)
    expect_near(h:metric("rebalance_cost_share"), 3 / 10.25, 1e-12)
    expect_false(h:logged("rebalance costs"))
    h:funding(perp, -0.25)                          -- net income 10: exactly 30%
    h:advance(10)
    expect_true(h:logged("rebalance costs %(3.00%) are 30.0%% of net income", "warn"))
    expect_eq(#h:records("alerts"), 1)
    h:advance(60)
    expect_eq(#h:records("alerts"), 1, "once per crossing")
end)

test("rebalance cost counts the slippage against the mid", function()
    local h = open_pair({spot_qty = 150, perp_qty = 149.6})
    h:advance(10)
    local o = h:last_intent("order")
    h:fill(o.cloid, {price = 100.29, fee = 0.1})    -- 0.01 below the mid, 0.4 units
    expect_near(h.ctx.state.rebalance_fees, 0.1 + 0.004, 1e-12)
end)

-- ---- state ------------------------------------------------------------------------------------------

test("state of the previous version is migrated; open pairs survive a reload", function()
    local h = load({})
    pair(h, "BTC", {})
    h.ctx.state.funding_hist = {["BTC/USDT:USDT"] = {-0.1, 0.2, 0.3}}
    h.ctx.state.last_rate = {["BTC/USDT:USDT"] = {rate = 0.1, next = 1}}
    local hd = scan(h)[1]
    expect_eq(h.ctx.state.pos_run["BTC/USDT:USDT"], 2)
    expect_nil(h.ctx.state.last_rate)
    h:hedge_update(hd.id, {state = "active", legs = {{filled = 150}, {filled = 150}}})
    local ok, err = h:reload()
    expect_true(ok, err)
    expect_eq(h.ctx.state.open[hd.id].state, "active")
    expect_eq(h:saved_state().open[hd.id].perp, "BTC/USDT:USDT")
end)
