-- Liquidation-driven entries: fade forced flow after a liquidation burst.
--
-- Features per market, from the public liquidation feed and the book: burst notional and
-- count over short and long windows, the side imbalance of the forced orders, spread and
-- top-of-book depth, volatility and momentum of the mid, and the time of day. After a
-- burst, a resting limit order is placed at an offset delta from the touch on the side
-- that takes the other side of the forced flow; it is exited after a horizon T or at a
-- target. Each (delta, T) pair is an arm; the arm is chosen by Thompson sampling from Beta
-- posteriors (success = the trade made money after fees), and an order is placed only when
-- the estimated E[return | features, delta, T] minus fees is positive. The estimate is an
-- online ridge regression per arm on the features, started from a prior edge. Posteriors
-- and weights persist in ctx.state, so they survive reloads and restarts.
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

S.mkt = {} -- per-market rolling state (rebuilt from the feed; a reload starts it afresh)

local NF = 8 -- features: 1, log burst, imbalance, spread, depth, vol, momentum, hour cycle

local function arms(p)
    local out = {}
    for _, d in ipairs(p.deltas_bps) do
        for _, t in ipairs(p.horizons_s) do out[#out + 1] = {delta = d, horizon = t} end
    end
    return out
end

local function key(a) return a.delta .. "/" .. a.horizon end

function S.on_start(ctx)
    local p = ctx.params
    math.randomseed(p.seed)
    local st = ctx.state
    st.arms = st.arms or {}
    for _, a in ipairs(arms(p)) do
        local k = key(a)
        if not st.arms[k] then
            local w = {}
            for i = 1, NF do w[i] = 0 end
            w[1] = p.prior_edge_bps
            st.arms[k] = {alpha = 1, beta = 1, w = w, trades = 0, pnl_bps = 0}
        end
    end
    st.trades = st.trades or {}   -- symbol -> live trade
    for _, sym in ipairs(ctx.symbols) do ctx.subscribe(sym) end
    ctx.timer("tick", 1, 1)
end

-- Per-market rolling state (not persisted: rebuilt from the feed).
local function m(ctx, sym)
    local x = S.mkt[sym]
    if not x then
        x = {burst = stats.window(ctx.params.burst_window_s * 1000),
             long = stats.window(ctx.params.long_window_s * 1000),
             buys = stats.window(ctx.params.burst_window_s * 1000),
             mids = {}, var = 0, last_mid = nil}
        S.mkt[sym] = x
    end
    return x
end

function S.on_liquidation(ctx, l)
    local x = m(ctx, l.symbol)
    local notional = l.price * l.qty
    stats.push(x.burst, l.ts, notional)
    stats.push(x.long, l.ts, notional)
    stats.push(x.buys, l.ts, l.side == "buy" and notional or -notional)
end

function S.on_bbo(ctx, b)
    local x = m(ctx, b.symbol)
    local mid = (b.bid + b.ask) / 2
    if x.last_mid then
        local r = math.log(mid / x.last_mid)
        x.var = 0.99 * x.var + 0.01 * r * r
    end
    x.last_mid = mid
    -- momentum reference: one mid sample every 5 s over the last minute
    local n = #x.mids
    if n == 0 or b.ts - x.mids[n].t >= 5000 then
        x.mids[n + 1] = {t = b.ts, mid = mid}
        if #x.mids > 13 then table.remove(x.mids, 1) end
    end
end

-- The feature vector of a market now, or nil without enough data.
function S.features(ctx, sym, now)
    local x, mk = m(ctx, sym), ctx.market(sym)
    if not (mk and mk.bid and mk.ask and mk.mid) then return nil end
    local burst, count = stats.sum(x.burst, now)
    local long = stats.sum(x.long, now)
    local signed = stats.sum(x.buys, now)
    local imbalance = burst > 0 and signed / burst or 0   -- +1: all forced buys
    local spread_bps = (mk.ask - mk.bid) / mk.mid * 1e4
    local depth = (mk.bid_qty + mk.ask_qty) * mk.mid
    local mom = 0
    if #x.mids > 0 then mom = (mk.mid - x.mids[1].mid) / x.mids[1].mid * 1e4 end
    local hour = (now / 3.6e6) % 24
    return {1, math.log(1 + burst / 1e4), imbalance, spread_bps, math.log(1 + depth / 1e4),
            math.sqrt(x.var) * 1e4, mom, math.cos(hour / 24 * 2 * math.pi)},
           {burst = burst, count = count, long = long, imbalance = imbalance}
end

-- Expected net return (bps) of an arm on a feature vector.
function S.expected(ctx, arm, f)
    local e = 0
    for i = 1, NF do e = e + arm.w[i] * f[i] end
    return e - ctx.params.fee_bps
end

-- Thompson sampling: the arm with the highest Beta draw.
function S.choose(ctx)
    local best, best_draw
    for _, a in ipairs(arms(ctx.params)) do
        local st = ctx.state.arms[key(a)]
        local draw = stats.beta(st.alpha, st.beta)
        if not best_draw or draw > best_draw then best, best_draw = a, draw end
    end
    return best
end

-- Posterior and regression update from a finished trade's net return (bps).
function S.update(ctx, k, features, net_bps)
    local a = ctx.state.arms[k]
    if net_bps > 0 then a.alpha = a.alpha + 1 else a.beta = a.beta + 1 end
    a.trades = a.trades + 1
    a.pnl_bps = a.pnl_bps + net_bps
    local p = ctx.params
    local pred = 0
    for i = 1, NF do pred = pred + a.w[i] * features[i] end
    local err = (net_bps + p.fee_bps) - pred
    for i = 1, NF do
        a.w[i] = a.w[i] + p.learning_rate * (err * features[i] - p.ridge * a.w[i])
    end
end

local function enter(ctx, sym, f, info)
    local p = ctx.params
    local arm = S.choose(ctx)
    local k = key(arm)
    local e = S.expected(ctx, ctx.state.arms[k], f)
    ctx.metric("expected_bps", e)
    if e <= 0 then return end
    local mk = ctx.market(sym)
    -- Forced sells (longs liquidated) push the price down: buy below the bid; and the
    -- reverse after forced buys.
    local side = info.imbalance <= 0 and "buy" or "sell"
    local px = side == "buy" and mk.bid * (1 - arm.delta / 1e4) or mk.ask * (1 + arm.delta / 1e4)
    local qty = p.order_notional / px
    local cloid, err = ctx.order{symbol = sym, side = side, qty = qty, price = px,
                                 tif = "post_only"}
    if not cloid then
        ctx.log("debug", sym .. ": entry refused: " .. err)
        return
    end
    ctx.state.trades[sym] = {arm = k, side = side, entry = cloid, placed = ctx.now(),
                             horizon = arm.horizon, features = f, state = "entering"}
end

local function exit_now(ctx, sym, t)
    local pos = ctx.position(sym)
    if t.target then ctx.cancel(t.target) end
    if pos and pos.qty ~= 0 then
        ctx.order{symbol = sym, side = pos.qty > 0 and "sell" or "buy", qty = math.abs(pos.qty),
                  reduce_only = true}
    end
    t.state = "exiting"
end

function S.on_timer(ctx)
    local now = ctx.now()
    for sym, t in pairs(ctx.state.trades) do
        if t.state == "entering" and now - t.placed > ctx.params.entry_timeout_s * 1000 then
            ctx.cancel(t.entry)
            ctx.state.trades[sym] = nil                  -- no fill: no outcome
        elseif t.state == "open" and now - t.filled_at >= t.horizon * 1000 then
            exit_now(ctx, sym, t)
        end
    end
    for _, sym in ipairs(ctx.symbols) do
        if not ctx.state.trades[sym] then
            -- The burst test is cheap; the full feature vector only after a burst.
            local burst, count = stats.sum(m(ctx, sym).burst, now)
            if burst >= ctx.params.burst_notional and count >= ctx.params.burst_count then
                local f, info = S.features(ctx, sym, now)
                if f then enter(ctx, sym, f, info) end
            end
        end
    end
end

function S.on_fill(ctx, fl)
    local t = ctx.state.trades[fl.symbol]
    if not t then return end
    if fl.cloid == t.entry then
        t.entry_px = fl.price
        t.qty = (t.qty or 0) + fl.qty
        t.fees = (t.fees or 0) + fl.fee
        if t.state == "entering" then
            t.state = "open"
            t.filled_at = ctx.now()
            local px = t.side == "buy" and fl.price * (1 + ctx.params.target_bps / 1e4)
                or fl.price * (1 - ctx.params.target_bps / 1e4)
            t.target = ctx.order{symbol = fl.symbol, side = t.side == "buy" and "sell" or "buy",
                                 qty = fl.qty, price = px, reduce_only = true}
        end
    else
        t.exit_notional = (t.exit_notional or 0) + fl.price * fl.qty
        t.exit_qty = (t.exit_qty or 0) + fl.qty
        t.fees = (t.fees or 0) + fl.fee
    end
end

function S.on_position(ctx, pos)
    local t = ctx.state.trades[pos.symbol]
    if not t or t.state == "entering" or pos.qty ~= 0 or not t.exit_qty then return end
    -- Flat again: score the trade.
    local exit_px = t.exit_notional / t.exit_qty
    local gross = (t.side == "buy" and (exit_px - t.entry_px) or (t.entry_px - exit_px))
        / t.entry_px * 1e4
    local net = gross - (t.fees / (t.entry_px * t.qty)) * 1e4
    S.update(ctx, t.arm, t.features, net)
    ctx.record("trades", {symbol = pos.symbol, arm = t.arm, side = t.side, net_bps = net})
    if t.target then ctx.cancel(t.target) end
    ctx.state.trades[pos.symbol] = nil
end

return S
