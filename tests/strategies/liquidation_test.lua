-- strategies/liquidation.lua through the harness: burst detection, side and offset,
-- the E[return] gate, Thompson sampling over (delta, T) arms, the Beta posterior update and
-- its persistence, exits at the horizon and at the target.
local FILE = "../../strategies/liquidation.lua"
local SYM = "BTC/USDT:USDT"
local ONE_ARM = {deltas_bps = {10}, horizons_s = {60}}

local function load(opts)
    opts = opts or {}
    local params = opts.params or ONE_ARM
    local h = harness.load(FILE, {symbols = {SYM}, params = params, state = opts.state,
                                  capital = 20000,
                                  instruments = {[SYM] = {tick = 0.01, lot = 0.001}}})
    h:start()
    h:bbo(SYM, {bid = 100, ask = 100.02, bid_qty = 50, ask_qty = 50})
    return h
end

-- Liquidations of one side, one per notional given, at `price`.
local function liqs(h, side, notionals, price)
    price = price or 100
    for _, n in ipairs(notionals) do
        h:liquidation(SYM, {side = side, price = price, qty = n / price})
    end
end

local function burst(h, side) liqs(h, side or "sell", {100000, 50000, 50000}) end

-- One trade entered (entry filled completely at its limit).
local function entered(opts)
    local h = load(opts)
    burst(h)
    local o = h:last_intent("order")
    h:fill(o.cloid)
    return h, o
end

-- ---- bursts ------------------------------------------------------------------------------

test("a burst needs burst_count liquidations and burst_notional within the window", function()
    local h = load()
    liqs(h, "sell", {150000, 100000})             -- 250k, but only 2
    expect_eq(#h:intents("order"), 0)
    liqs(h, "sell", {100})                        -- the third
    expect_eq(#h:intents("order"), 1)
end)

test("burst notional at 200,000 decides, just below does not", function()
    local h = load()
    liqs(h, "sell", {100000, 50000, 49999.99})
    expect_eq(#h:intents("order"), 0)
    expect_eq(#h:records("decisions"), 0)
    h = load()
    liqs(h, "sell", {100000, 50000, 50000})
    expect_eq(#h:intents("order"), 1)
    expect_eq(h:records("decisions")[1].notional, 200000)
end)

test("liquidations older than burst_window_s fall out of the burst", function()
    local h = load()
    liqs(h, "sell", {100000, 100000})
    h:advance(10)                                 -- the window is (now - 10 s, now]
    liqs(h, "sell", {100000})
    expect_eq(#h:intents("order"), 0)
    liqs(h, "sell", {1, 1})
    expect_eq(#h:intents("order"), 0, "two old ones expired: only 3 inside, 100002")
    liqs(h, "sell", {100000})
    expect_eq(#h:intents("order"), 1)
end)

test("one decision per burst: its liquidations are used up", function()
    local h = load({params = {deltas_bps = {10}, horizons_s = {60}, prior_edge_bps = 7}})
    burst(h)                                      -- decided: E = 7 - 7 = 0, no order
    liqs(h, "sell", {100000, 100000})
    expect_eq(#h:records("decisions"), 1)
    liqs(h, "sell", {100000})
    expect_eq(#h:records("decisions"), 2)
end)

-- ---- side, price, gate ---------------------------------------------------------------------

test("forced sells: a post-only buy delta below the bid", function()
    local h = load()
    burst(h, "sell")
    local o = h:last_intent("order")
    expect_eq({o.side, o.tif, o.type, o.reduce_only}, {"buy", "post_only", "limit", false})
    expect_near(o.requested_price, 100 * (1 - 10 / 1e4))
    expect_eq(o.price, 99.9)
    expect_eq(o.qty, 10.01)                       -- 1000 / 99.9, down to the lot
end)

test("forced buys: a post-only sell delta above the ask", function()
    local h = load()
    burst(h, "buy")
    local o = h:last_intent("order")
    expect_eq(o.side, "sell")
    expect_near(o.requested_price, 100.02 * (1 + 10 / 1e4))
    expect_eq(o.price, 100.13)                    -- rounded up to the tick, as the host does
end)

test("a balanced burst has no side: no order", function()
    local h = load()
    liqs(h, "sell", {60000, 40000})
    liqs(h, "buy", {100000})
    expect_eq(#h:intents("order"), 0)
    expect_eq(h:records("decisions")[1].reason, "balanced")
end)

test("no order when E[return] - fees <= 0", function()
    local h = load({params = {deltas_bps = {10}, horizons_s = {60}, prior_edge_bps = 7, fee_bps = 7}})
    burst(h)
    expect_eq(#h:intents("order"), 0)
    local d = h:records("decisions")[1]
    expect_eq(d.expected_bps, 0)
    expect_match(d.reason, "<= 0")
    h = load({params = {deltas_bps = {10}, horizons_s = {60}, prior_edge_bps = 7.5, fee_bps = 7}})
    burst(h)
    expect_eq(#h:intents("order"), 1)
    expect_near(h:records("decisions")[1].expected_bps, 0.5, 1e-12)
end)

test("features: burst notional and count, long window, imbalance, spread, depth, time of day", function()
    local h = load()
    h:set_now(1767225600000 + 6 * 3600000)        -- 06:00 UTC
    liqs(h, "sell", {30000, 10000})
    liqs(h, "buy", {10000})
    local S = h.module
    local b = S.burst(h.ctx, SYM, h:now())
    expect_eq({b.notional, b.count, b.long}, {50000, 3, 50000})
    expect_near(b.imbalance, -0.6)
    local f = S.features(h.ctx, SYM, h:now(), "buy", b)
    expect_eq(#f, #S.FEATURES)
    expect_eq(f[1], 1)
    expect_near(f[2], math.log(1 + 5))
    expect_near(f[3], math.log(4))
    expect_near(f[5], 0.6)
    expect_near(f[6], 0.02 / 100.01 * 1e4)
    expect_near(f[7], math.log(1 + 100 * 100.01 / 1e4))
    expect_near(f[10], 0, 1e-12)                  -- cos(06:00)
    expect_near(f[11], 1, 1e-12)                  -- sin(06:00)
end)

-- ---- Thompson sampling and the posterior ----------------------------------------------------------

local TWO = {deltas_bps = {5, 20}, horizons_s = {60}}

test("Thompson sampling favours a strong arm and still explores even ones", function()
    local h = load({params = TWO, state = {arms = {
        ["5/60"] = {alpha = 12, beta = 4, trades = 14, pnl_bps = 40},
        ["20/60"] = {alpha = 4, beta = 12, trades = 14, pnl_bps = -40}}}})
    local strong = 0
    for _ = 1, 400 do
        if h.module.choose(h.ctx).delta == 5 then strong = strong + 1 end
    end
    expect_true(strong >= 380, "strong arm chosen " .. strong .. " of 400")
    burst(h)
    expect_eq(h:last_intent("order").price, 99.95) -- the 5 bps arm
    local even = load({params = TWO})
    local first = 0
    for _ = 1, 400 do
        if even.module.choose(even.ctx).delta == 5 then first = first + 1 end
    end
    expect_true(first > 140 and first < 260, "uniform posteriors: " .. first .. " of 400")
end)

test("a winning trade adds to alpha, a losing one to beta; the regression learns", function()
    local h = load()
    local S = h.module
    local arm = h.ctx.state.arms["10/60"]
    expect_eq({arm.alpha, arm.beta}, {1, 1})
    local f = {1, 2, 1, 2, 1, 2, 3, 1, 0, 1, 0}
    local before = S.expected(h.ctx, arm, f)
    S.update(h.ctx, "10/60", f, 15, 22)
    expect_eq({arm.alpha, arm.beta, arm.trades}, {2, 1, 1})
    local after = S.expected(h.ctx, arm, f)
    expect_true(after > before, "the estimate moves toward the 22 bps outcome")
    S.update(h.ctx, "10/60", f, -3, 4)
    expect_eq({arm.alpha, arm.beta, arm.trades, arm.pnl_bps}, {2, 2, 2, 12})
end)

test("exit at the target: reduce-only limit at entry + target_bps, the win updates the posterior", function()
    local h, o = entered()
    local t = h:last_intent("order")
    expect_eq({t.side, t.reduce_only, t.qty, t.type}, {"sell", true, 10.01, "limit"})
    expect_near(t.requested_price, 99.9 * (1 + 25 / 1e4))
    h:fill(t.cloid)                               -- the target fills: flat
    local arm = h.ctx.state.arms["10/60"]
    expect_eq({arm.alpha, arm.beta, arm.trades}, {2, 1, 1})
    local tr = h:records("trades")[1]
    expect_eq(tr.exit, "target")
    expect_near(tr.gross_bps, (t.price - o.price) / o.price * 1e4, 1e-9)
    -- maker fees in and out (2 bps of each side's notional), over the entry notional
    expect_near(tr.net_bps, tr.gross_bps - (o.price + t.price) * 0.0002 / o.price * 1e4, 1e-9)
    expect_nil(h.ctx.state.trades[SYM])
end)

test("exit at the horizon: target cancelled, reduce-only market order; the loss adds to beta", function()
    local h = entered()
    local target = h:last_intent("order")
    h:advance(59)
    expect_eq(#h:intents("order"), 2)
    h:advance(1)                                  -- T = 60 s after the fill
    expect_eq(h:last_intent("cancel").cloid, target.cloid)
    local x = h:last_intent("order")
    expect_eq({x.side, x.type, x.reduce_only, x.qty}, {"sell", "market", true, 10.01})
    h:order_update(target.cloid, {status = "canceled"})
    h:fill(x.cloid, {price = 99.8})
    local arm = h.ctx.state.arms["10/60"]
    expect_eq({arm.alpha, arm.beta}, {1, 2})
    expect_eq(h:records("trades")[1].exit, "horizon")
    h:advance(1)
    expect_eq(h:timers(), {}, "the tick timer stops when nothing is live")
end)

test("more of the entry filling enlarges the target", function()
    local h = load()
    burst(h)
    local o = h:last_intent("order")
    h:fill(o.cloid, {qty = 5})
    local t = h:last_intent("order")
    expect_eq(t.qty, 5)
    h:fill(o.cloid, {qty = 5.01})
    expect_eq(h:last_intent("amend"), {kind = "amend", cloid = t.cloid, symbol = SYM, qty = 10.01,
                                       seq = h:last_intent("amend").seq, ts = h:now(),
                                       callback = "on_fill"})
end)

test("an entry not filled within entry_timeout_s is cancelled, with no outcome", function()
    local h = load()
    burst(h)
    local o = h:last_intent("order")
    h:advance(30)
    expect_eq(h:last_intent("cancel").cloid, o.cloid)
    h:order_update(o.cloid, {status = "canceled"})
    expect_nil(h.ctx.state.trades[SYM])
    expect_eq(h.ctx.state.arms["10/60"].trades, 0)
    burst(h)                                      -- free for the next burst
    expect_eq(#h:intents("order"), 2)
end)

test("posteriors persist across a reload and a restart", function()
    local h, o = entered()
    h:fill(h:last_intent("order").cloid)          -- a win
    local ok, err = h:reload()
    expect_true(ok, err)
    expect_eq(h.ctx.state.arms["10/60"].alpha, 2)
    burst(h)                                      -- the reloaded version trades on
    local e = h:last_intent("order")
    expect_ne(e.cloid, o.cloid)
    h:fill(e.cloid)
    h:advance(60)
    h:fill(h:last_intent({kind = "order", type = "market"}).cloid, {price = 99.5})
    expect_eq({h.ctx.state.arms["10/60"].alpha, h.ctx.state.arms["10/60"].beta}, {2, 2})
    local saved = h:saved_state()
    local again = harness.load(FILE, {symbols = {SYM}, params = ONE_ARM, state = saved})
    again:start()
    local arm = again.ctx.state.arms["10/60"]
    expect_eq({arm.alpha, arm.beta, arm.trades}, {2, 2, 2})
    expect_eq(arm.w, saved.arms["10/60"].w)
end)
