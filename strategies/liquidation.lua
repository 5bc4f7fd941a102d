-- Liquidation-driven entries: fade forced flow after a liquidation burst.
--
-- Features per market: burst notional and count over burst_window_s, notional over
-- long_window_s, the side imbalance of the forced orders, spread and top-of-book depth,
-- volatility and momentum of the mid, and the time of day. A burst is at least
-- burst_notional of forced orders and burst_count of them within burst_window_s; it is
-- decided on once (its liquidations are then forgotten). The side takes the other side of
-- the forced flow (forced sells: buy; forced buys: sell; balanced: nothing). A resting
-- post-only limit order is placed delta bps beyond the touch (a buy below the bid, a sell
-- above the ask); once filled it is exited at a target (target_bps from the entry,
-- reduce-only limit) or after the horizon T (reduce-only market). Each (delta, T) pair is
-- an arm, chosen by Thompson sampling from Beta posteriors (success = the trade made money
-- after fees). The chosen arm trades only when its estimate of E[gross return | features]
-- minus fee_bps is positive; the estimate is an online linear regression per arm
-- (normalized LMS with a little ridge shrinkage) started from prior_edge_bps. Posteriors
-- and weights persist in ctx.state, so they survive reloads and restarts.
--
-- Records: "trades" (one row per finished trade: arm, prices, gross and net bps, the
-- estimate, how it exited), "decisions" (every burst: the arm drawn, the estimate, whether
-- an order went out). Metrics: expected_bps, arm_<delta>_<T>_mean.
local stats = require("kstats")

local S = {}

S.params = {
    seed = 7,
    deltas_bps = {2, 5, 10, 20},     -- entry offset from the touch
    horizons_s = {30, 120, 600},     -- exit after
    target_bps = 25,                 -- take profit at entry +/- this
    burst_window_s = 10,
    long_window_s = 300,
    burst_notional = 200000,         -- quote currency liquidated within burst_window_s
    burst_count = 3,
    order_notional = 1000,
    fee_bps = 7,                     -- round trip estimate: maker in, taker out
    prior_edge_bps = 12,             -- the regression's starting intercept (gross bps)
    learning_rate = 0.05,
    ridge = 0.001,
    entry_timeout_s = 30,
}

-- Features: 1, log burst notional, log burst count, log long-window notional,
-- |imbalance|, spread (bps), log depth, volatility (bps per update), momentum in the
-- trade's direction (bps over the last minute), time of day (cos, sin).
S.FEATURES = {"bias", "burst", "count", "long", "imbalance", "spread_bps", "depth", "vol_bps",
              "momentum_bps", "hour_cos", "hour_sin"}
local NF = #S.FEATURES

local FINAL = {filled = true, canceled = true, rejected = true, expired = true}

S.mkt = {} -- per-market rolling state (rebuilt from the feed; a reload starts it afresh)

local function arms(p)
    local out = {}
    for _, d in ipairs(p.deltas_bps) do
        for _, t in ipairs(p.horizons_s) do out[#out + 1] = {delta = d, horizon = t} end
    end
    return out
end

local function key(a) return a.delta .. "/" .. a.horizon end
S.key = key

-- Every arm of the params has a posterior and weights; weights of another feature set (an
-- earlier version) start again from the prior, the posterior is kept.
local function ensure_arms(ctx)
    local p, st = ctx.params, ctx.state
    st.arms = st.arms or {}
    for _, a in ipairs(arms(p)) do
        local k = key(a)
        local arm = st.arms[k]
        if not arm then
            arm = {alpha = 1, beta = 1, trades = 0, pnl_bps = 0}
            st.arms[k] = arm
        end
        if type(arm.w) ~= "table" or #arm.w ~= NF then
            local w = {}
            for i = 1, NF do w[i] = 0 end
            w[1] = p.prior_edge_bps
            arm.w = w
        end
    end
end

function S.on_start(ctx)
    math.randomseed(ctx.params.seed)
    ensure_arms(ctx)
    ctx.state.trades = ctx.state.trades or {}   -- symbol -> live trade
    for _, sym in ipairs(ctx.symbols) do ctx.subscribe(sym) end
    if next(ctx.state.trades) then ctx.timer("tick", 1, 1) end
end

function S.on_reload(ctx, old)
    math.randomseed(ctx.params.seed + (ctx.now() % 100000))
    ensure_arms(ctx)
    ctx.state.trades = ctx.state.trades or {}
end

function S.on_params(ctx)
    ensure_arms(ctx)
    S.mkt = {} -- windows of the new lengths, rebuilt from the feed
end

-- Per-market rolling state (not persisted: rebuilt from the feed).
local function mk(ctx, sym)
    local x = S.mkt[sym]
    if not x then
        x = {burst = stats.window(ctx.params.burst_window_s * 1000),
             long = stats.window(ctx.params.long_window_s * 1000),
             signed = stats.window(ctx.params.burst_window_s * 1000),
             mids = {}, var = 0, last_mid = nil}
        S.mkt[sym] = x
    end
    return x
end

function S.on_bbo(ctx, b)
    if not (b.bid and b.ask and b.bid > 0 and b.ask > 0) then return end
    local x = mk(ctx, b.symbol)
    local mid = (b.bid + b.ask) / 2
    if x.last_mid then
        local r = math.log(mid / x.last_mid)
        x.var = 0.99 * x.var + 0.01 * r * r
    end
    x.last_mid = mid
    -- momentum reference: one mid sample every 5 s over the last minute
    local now, n = ctx.now(), #x.mids
    if n == 0 or now - x.mids[n].t >= 5000 then
        x.mids[n + 1] = {t = now, mid = mid}
        if #x.mids > 13 then table.remove(x.mids, 1) end
    end
end

-- Burst statistics of a market now: notional, count, long-window notional, imbalance
-- (+1: every forced order a buy, -1: every one a sell).
function S.burst(ctx, sym, now)
    local x = mk(ctx, sym)
    local notional, count = stats.sum(x.burst, now)
    local long = stats.sum(x.long, now)
    local signed = stats.sum(x.signed, now)
    return {notional = notional, count = count, long = long,
            imbalance = notional > 0 and signed / notional or 0}
end

-- The side that takes the other side of the forced flow, or nil when it is balanced.
function S.side(imbalance)
    if imbalance < 0 then return "buy" end   -- longs liquidated: forced sells pushed it down
    if imbalance > 0 then return "sell" end
    return nil
end

-- The entry price: delta bps beyond the touch.
function S.entry_price(side, bid, ask, delta_bps)
    if side == "buy" then return bid * (1 - delta_bps / 1e4) end
    return ask * (1 + delta_bps / 1e4)
end

-- The feature vector of a market now for a trade on `side`, or nil without a quote.
function S.features(ctx, sym, now, side, b)
    local x, m = mk(ctx, sym), ctx.market(sym)
    if not (m and m.bid and m.ask and m.bid > 0 and m.ask > 0) then return nil end
    local mid = (m.bid + m.ask) / 2
    local spread_bps = (m.ask - m.bid) / mid * 1e4
    local depth = ((m.bid_qty or 0) + (m.ask_qty or 0)) * mid
    local mom = 0
    if #x.mids > 0 then mom = (mid - x.mids[1].mid) / x.mids[1].mid * 1e4 end
    local dir = side == "buy" and 1 or -1
    local hour = (now / 3.6e6) % 24
    local a = hour / 24 * 2 * math.pi
    return {1, math.log(1 + b.notional / 1e4), math.log(1 + b.count), math.log(1 + b.long / 1e4),
            math.abs(b.imbalance), spread_bps, math.log(1 + depth / 1e4),
            math.sqrt(x.var) * 1e4, mom * dir, math.cos(a), math.sin(a)}
end

-- Expected net return (bps) of an arm on a feature vector: the regression's gross
-- estimate minus fee_bps.
function S.expected(ctx, arm, f)
    local e = 0
    for i = 1, NF do e = e + arm.w[i] * f[i] end
    return e - ctx.params.fee_bps
end

-- Thompson sampling: the arm with the highest draw from its Beta posterior.
function S.choose(ctx)
    local best, best_draw
    for _, a in ipairs(arms(ctx.params)) do
        local st = ctx.state.arms[key(a)]
        local draw = stats.beta(st.alpha, st.beta)
        if not best_draw or draw > best_draw then best, best_draw = a, draw end
    end
    return best, best_draw
end

-- Posterior and regression update from a finished trade: success when net_bps > 0; the
-- regression learns the gross return (bps) on the trade's features.
function S.update(ctx, k, features, net_bps, gross_bps)
    local a = ctx.state.arms[k]
    if not a then return end
    if net_bps > 0 then a.alpha = a.alpha + 1 else a.beta = a.beta + 1 end
    a.trades = a.trades + 1
    a.pnl_bps = a.pnl_bps + net_bps
    if type(features) ~= "table" or #features ~= NF then return end
    local p = ctx.params
    local pred, norm = 0, 1
    for i = 1, NF do
        pred = pred + a.w[i] * features[i]
        norm = norm + features[i] * features[i]
    end
    local err = (gross_bps or (net_bps + p.fee_bps)) - pred
    for i = 1, NF do
        a.w[i] = a.w[i] + p.learning_rate * (err * features[i] / norm - p.ridge * a.w[i])
    end
end

local function start_ticking(ctx)
    ctx.timer("tick", 1, 1)
end

-- A burst on `sym`: one decision (arm, estimate, maybe an order).
function S.decide(ctx, sym, now, b)
    local p = ctx.params
    local side = S.side(b.imbalance)
    local row = {ts = now, symbol = sym, notional = b.notional, count = b.count,
                 imbalance = b.imbalance, side = side or "", arm = "", expected_bps = 0,
                 ordered = false, reason = ""}
    local function done(reason)
        row.reason = reason or ""
        ctx.record("decisions", row)
    end
    if not side then return done("balanced") end
    local f = S.features(ctx, sym, now, side, b)
    if not f then return done("no quote") end
    local arm = S.choose(ctx)
    local k = key(arm)
    local e = S.expected(ctx, ctx.state.arms[k], f)
    row.arm, row.expected_bps = k, e
    ctx.metric("expected_bps", e)
    if e <= 0 then return done("expected return after fees <= 0") end
    local m = ctx.market(sym)
    local px = S.entry_price(side, m.bid, m.ask, arm.delta)
    local cloid, err = ctx.order{symbol = sym, side = side, qty = p.order_notional / px, price = px,
                                 tif = "post_only"}
    if not cloid then
        ctx.log("debug", sym .. ": entry refused: " .. tostring(err))
        return done("refused: " .. tostring(err))
    end
    row.ordered = true
    ctx.state.trades[sym] = {arm = k, delta = arm.delta, side = side, entry = cloid, placed = now,
                             horizon = arm.horizon, features = f, expected = e,
                             state = "entering", qty = 0, cost = 0, fees = 0, exit_qty = 0,
                             exit_cost = 0}
    start_ticking(ctx)
    done()
end

function S.on_liquidation(ctx, l)
    local now = ctx.now()
    local x = mk(ctx, l.symbol)
    local notional = l.price * l.qty
    stats.push(x.burst, now, notional)
    stats.push(x.long, now, notional)
    stats.push(x.signed, now, l.side == "buy" and notional or -notional)
    if ctx.state.trades[l.symbol] then return end
    local p = ctx.params
    local b = S.burst(ctx, l.symbol, now)
    if b.notional >= p.burst_notional and b.count >= p.burst_count then
        -- One decision per burst: its liquidations are used up.
        stats.clear(x.burst)
        stats.clear(x.signed)
        S.decide(ctx, l.symbol, now, b)
    end
end

local function cancel_if_open(ctx, cloid)
    if not cloid then return end
    local o = ctx.get_order(cloid)
    if o and not FINAL[o.status] then ctx.cancel(cloid) end
end

-- Exit now: the target and what is left of the entry are cancelled, the position closed
-- with a reduce-only market order.
local function exit_now(ctx, sym, t, why)
    cancel_if_open(ctx, t.entry)
    cancel_if_open(ctx, t.target)
    t.state, t.exit_why, t.exit_at = "exiting", why, ctx.now()
    local pos = ctx.position(sym)
    if pos and pos.qty ~= 0 then
        local cloid, err = ctx.order{symbol = sym, side = pos.qty > 0 and "sell" or "buy",
                                     qty = math.abs(pos.qty), reduce_only = true}
        t.exit = cloid
        if not cloid then ctx.log("warn", sym .. ": exit refused: " .. tostring(err)) end
    end
end

function S.on_timer(ctx, name)
    if name ~= "tick" then return end
    local now = ctx.now()
    local any = false
    for sym, t in pairs(ctx.state.trades) do
        any = true
        if t.state == "entering" and now - t.placed >= ctx.params.entry_timeout_s * 1000 then
            local o = ctx.get_order(t.entry)
            if o and not FINAL[o.status] then
                ctx.cancel(t.entry)
                t.state = "canceling"
            else
                ctx.state.trades[sym] = nil               -- no fill: no outcome
            end
        elseif t.state == "open" and now - t.filled_at >= t.horizon * 1000 then
            exit_now(ctx, sym, t, "horizon")
        elseif t.state == "exiting" then
            -- the exit order died and a position is left: send another
            local o = t.exit and ctx.get_order(t.exit)
            local pos = ctx.position(sym)
            if (not o or FINAL[o.status]) and pos and pos.qty ~= 0 and now - t.exit_at >= 1000 then
                exit_now(ctx, sym, t, t.exit_why)
            end
        end
    end
    if not any then ctx.cancel_timer("tick") end
end

function S.on_order(ctx, o)
    local t = ctx.state.trades[o.symbol]
    if not t or o.cloid ~= t.entry or not FINAL[o.status] then return end
    if t.qty == 0 then
        ctx.state.trades[o.symbol] = nil                  -- never filled: no outcome
    end
end

-- A fill's fee in the quote currency (a fee in the base asset is valued at the fill price).
local function quote_fee(ctx, fl)
    local m = ctx.market(fl.symbol)
    if fl.fee_asset and fl.fee_asset ~= "" and m and fl.fee_asset ~= m.quote then
        return fl.fee * fl.price
    end
    return fl.fee
end

function S.on_fill(ctx, fl)
    local t = ctx.state.trades[fl.symbol]
    local p = ctx.params
    if not t then
        -- A fill with no trade (the rest of an entry after the trade was scored): flatten.
        local pos = ctx.position(fl.symbol)
        if pos and pos.qty ~= 0 then
            ctx.order{symbol = fl.symbol, side = pos.qty > 0 and "sell" or "buy",
                      qty = math.abs(pos.qty), reduce_only = true}
        end
        return
    end
    t.fees = t.fees + quote_fee(ctx, fl)
    if fl.cloid == t.entry then
        t.qty = t.qty + fl.qty
        t.cost = t.cost + fl.price * fl.qty
        local entry_px = t.cost / t.qty
        if t.state == "entering" or t.state == "canceling" then
            t.state = "open"
            t.filled_at = ctx.now()
            local px = t.side == "buy" and entry_px * (1 + p.target_bps / 1e4)
                or entry_px * (1 - p.target_bps / 1e4)
            t.target = ctx.order{symbol = fl.symbol, side = t.side == "buy" and "sell" or "buy",
                                 qty = t.qty, price = px, reduce_only = true}
        elseif t.state == "open" and t.target then
            -- more of the entry filled: the target covers all of it
            if not ctx.amend(t.target, {qty = t.qty}) then
                cancel_if_open(ctx, t.target)
                t.target = ctx.order{symbol = fl.symbol, side = t.side == "buy" and "sell" or "buy",
                                     qty = t.qty, price = entry_px * (t.side == "buy" and
                                     (1 + p.target_bps / 1e4) or (1 - p.target_bps / 1e4)),
                                     reduce_only = true}
            end
        end
    else
        t.exit_qty = t.exit_qty + fl.qty
        t.exit_cost = t.exit_cost + fl.price * fl.qty
        if fl.cloid == t.target and t.state == "open" then t.exit_why = "target" end
    end
end

function S.on_position(ctx, pos)
    local t = ctx.state.trades[pos.symbol]
    if not t or pos.qty ~= 0 or t.qty == 0 or t.exit_qty == 0 then return end
    -- Flat again: score the trade.
    cancel_if_open(ctx, t.entry)
    cancel_if_open(ctx, t.target)
    local entry_px = t.cost / t.qty
    local exit_px = t.exit_cost / t.exit_qty
    local gross = (t.side == "buy" and (exit_px - entry_px) or (entry_px - exit_px)) / entry_px * 1e4
    local net = gross - t.fees / (entry_px * t.qty) * 1e4
    S.update(ctx, t.arm, t.features, net, gross)
    local a = ctx.state.arms[t.arm]
    ctx.metric("arm_" .. t.arm:gsub("/", "_") .. "_mean", a.alpha / (a.alpha + a.beta))
    ctx.record("trades", {ts = ctx.now(), symbol = pos.symbol, arm = t.arm, side = t.side,
                          entry_px = entry_px, exit_px = exit_px, qty = t.qty,
                          gross_bps = gross, net_bps = net, expected_bps = t.expected,
                          exit = t.exit_why or "target",
                          held_s = (ctx.now() - (t.filled_at or t.placed)) / 1000})
    ctx.state.trades[pos.symbol] = nil
end

return S
