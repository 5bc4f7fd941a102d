-- Oracle/mark dislocation taking (Hyperliquid HIP-3 style): when the best bid is above the
-- oracle price (sell) or the best ask below it (buy) by more than fee_bps + edge_bps,
-- take the touch with an IOC limit order; back to flat with a time stop (hold_s after the
-- position opened) and reduce-only market orders. The host's risk gates (stale oracle,
-- stale BBO, mark/mid divergence, spread shock, OI cap, parameter change, halt, time
-- regression) refuse or shrink orders; this strategy also skips a market whose oracle or
-- BBO is older than its own thresholds, keeps one order in flight per market, and after a
-- refusal by the risk chain ("risk.<module>: ...") waits refusal_backoff_ms (doubling
-- while refusals repeat, up to 60 s) before it tries that market again: no retry storm.
--
-- Daily per-market statistics go to the record "daily_stats" (one row per market and UTC
-- day, written when the first event of the next day arrives and at stop): checks (BBO
-- updates), cross_count (crosses started: consecutive BBO updates where the signal holds),
-- bbo_null_rate (updates without a bid or an ask), ctx_age_ms p50/p95/p99 (age of the
-- oracle price, else of the ticker, at each BBO update), bbo_recv_interval p50/p95/p99 (ms
-- between BBO updates, host clock), cross_duration_ticks p50/p95/max (BBO updates per
-- finished cross), max_dislocation_bps (the most the touch crossed the oracle: negative
-- when it never did; -1e9 without an oracle), orders, gate_refusals, stale_skips.
-- Quantiles are nearest-rank on values rounded to 1 ms (ticks: exact); -1 where there was
-- no sample.
local stats = require("kstats")

local S = {}

S.params = {
    fee_bps = 4.5,              -- taker fee, one way
    edge_bps = 5,               -- required on top of fees
    order_notional = 500,
    max_position_notional = 2000,
    hold_s = 30,                -- time stop
    max_oracle_age_ms = 3000,
    max_bbo_age_ms = 2000,
    seed = 1,                   -- unused (no randomness); kept for existing configs
    refusal_backoff_ms = 1000,  -- first wait after a risk refusal; doubles up to 60 s
}

local EPS = 1e-9 -- bps: a dislocation computed from prices equal to the threshold is "at" it
local FINAL = {filled = true, canceled = true, rejected = true, expired = true}
local MAX_BACKOFF_MS = 60000

-- Rolling state, rebuilt from the feed (a reload starts it afresh; the time stops live in
-- ctx.state and in the host's timers).
S.day, S.stats, S.last_bbo, S.cross, S.inflight, S.backoff = nil, {}, {}, {}, {}, {}

local function day_of(ms) return math.floor(ms / 86400000) end

-- "YYYY-MM-DD" of a day number since the epoch (civil calendar, proleptic Gregorian).
local function date_of(day)
    local z = day + 719468
    local era = math.floor(z / 146097)
    local doe = z - era * 146097
    local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
        - math.floor(doe / 146096)) / 365)
    local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
    local mp = math.floor((5 * doy + 2) / 153)
    local d = doy - math.floor((153 * mp + 2) / 5) + 1
    local m = mp < 10 and mp + 3 or mp - 9
    local y = yoe + era * 400 + (m <= 2 and 1 or 0)
    return string.format("%04d-%02d-%02d", y, m, d)
end
S.date_of = date_of

local function new_day_stats()
    return {checks = 0, bbo_null = 0, crosses = 0, orders = 0, gate_refusals = 0,
            stale_skips = 0, ctx_age = stats.hist(1), bbo_interval = stats.hist(1),
            cross_ticks = stats.hist(1)}
end

function S.on_start(ctx)
    ctx.state.opened = ctx.state.opened or {}   -- symbol -> ms the position opened
    for _, sym in ipairs(ctx.symbols) do ctx.subscribe(sym) end
end

function S.on_reload(ctx, old)
    ctx.state.opened = ctx.state.opened or {}
end

local function flush_day(ctx, final)
    local function q(h, p) return stats.hist_quantile(h, p) or -1 end
    local syms = {}
    for sym in pairs(S.stats) do syms[#syms + 1] = sym end
    table.sort(syms)
    for _, sym in ipairs(syms) do
        local d = S.stats[sym]
        if final and S.cross[sym] then stats.hist_add(d.cross_ticks, S.cross[sym].ticks) end
        ctx.record("daily_stats", {
            day = date_of(S.day), symbol = sym, checks = d.checks, cross_count = d.crosses,
            bbo_null_rate = d.checks > 0 and d.bbo_null / d.checks or 0,
            ctx_age_ms_p50 = q(d.ctx_age, 0.5), ctx_age_ms_p95 = q(d.ctx_age, 0.95),
            ctx_age_ms_p99 = q(d.ctx_age, 0.99),
            bbo_recv_interval_p50 = q(d.bbo_interval, 0.5),
            bbo_recv_interval_p95 = q(d.bbo_interval, 0.95),
            bbo_recv_interval_p99 = q(d.bbo_interval, 0.99),
            cross_duration_ticks_p50 = q(d.cross_ticks, 0.5),
            cross_duration_ticks_p95 = q(d.cross_ticks, 0.95),
            cross_duration_ticks_max = d.cross_ticks.max or -1,
            max_dislocation_bps = d.max_dislocation or -1e9,
            orders = d.orders, gate_refusals = d.gate_refusals, stale_skips = d.stale_skips})
    end
    S.stats = {}
end

local function day_stats(ctx, sym, now)
    local day = day_of(now)
    if S.day and day ~= S.day then flush_day(ctx) end
    S.day = day
    local d = S.stats[sym]
    if not d then d = new_day_stats(); S.stats[sym] = d end
    return d
end

-- How far the touch crosses the oracle, in bps: (bid - oracle) / oracle and
-- (oracle - ask) / oracle; nil without a two-sided quote and an oracle.
function S.dislocation(m)
    if not (m.bid and m.ask and m.oracle and m.bid > 0 and m.ask > 0 and m.oracle > 0) then
        return nil
    end
    return (m.bid - m.oracle) / m.oracle * 1e4, (m.oracle - m.ask) / m.oracle * 1e4
end

-- The signal on one market: "buy", "sell" or nil, with the dislocation in bps. Strictly
-- more than fee_bps + edge_bps.
function S.signal(p, m)
    local up, down = S.dislocation(m)
    if not up then return nil, 0 end
    local need = p.fee_bps + p.edge_bps
    if up > need + EPS then return "sell", up end
    if down > need + EPS then return "buy", down end
    return nil, 0
end

-- Takes the touch on a signal, unless the market is stale, an order is in flight, a risk
-- refusal is being waited out, or the position is at its cap.
function S.try_trade(ctx, sym, m, side, d)
    local p, now = ctx.params, ctx.now()
    if (m.oracle_age_ms or math.huge) > p.max_oracle_age_ms
        or (m.bbo_age_ms or math.huge) > p.max_bbo_age_ms then
        d.stale_skips = d.stale_skips + 1
        return
    end
    if S.inflight[sym] then return end
    local b = S.backoff[sym]
    if b and now < b.at then return end
    local px = side == "buy" and m.ask or m.bid
    local pos = ctx.position(sym)
    local held = pos and pos.qty or 0
    local cap = p.max_position_notional / px
    local room = side == "buy" and cap - held or cap + held
    local qty = math.min(p.order_notional / px, room)
    local touch = side == "buy" and m.ask_qty or m.bid_qty
    if touch and touch > 0 then qty = math.min(qty, touch) end
    if qty <= 0 or qty * px < 1e-9 then return end
    local cloid, err = ctx.order{symbol = sym, side = side, qty = qty, price = px, tif = "ioc"}
    if cloid then
        S.inflight[sym] = cloid
        S.backoff[sym] = nil
        d.orders = d.orders + 1
        return
    end
    if tostring(err):find("^risk%.") then
        d.gate_refusals = d.gate_refusals + 1
        local wait = b and math.min(b.wait * 2, MAX_BACKOFF_MS) or p.refusal_backoff_ms
        S.backoff[sym] = {wait = wait, at = now + wait}
        if not b then ctx.log("info", sym .. ": " .. err) end
    else
        ctx.log("debug", sym .. ": " .. tostring(err))
    end
end

function S.on_bbo(ctx, bbo)
    local sym, now = bbo.symbol, ctx.now()
    local d = day_stats(ctx, sym, now)
    d.checks = d.checks + 1
    local last = S.last_bbo[sym]
    if last then stats.hist_add(d.bbo_interval, now - last) end
    S.last_bbo[sym] = now
    local m = ctx.market(sym)
    local c = S.cross[sym]
    if not (bbo.bid and bbo.ask and bbo.bid > 0 and bbo.ask > 0) or not m then
        d.bbo_null = d.bbo_null + 1
        if c then stats.hist_add(d.cross_ticks, c.ticks); S.cross[sym] = nil end
        return
    end
    local age = m.oracle_age_ms or m.ticker_age_ms
    if age then stats.hist_add(d.ctx_age, age) end
    local up, down = S.dislocation(m)
    if up then
        local x = math.max(up, down)
        if not d.max_dislocation or x > d.max_dislocation then d.max_dislocation = x end
    end
    local side = S.signal(ctx.params, m)
    -- a cross lasts while the signal holds, counted in BBO updates
    if side and not (c and c.side == side) then
        if c then stats.hist_add(d.cross_ticks, c.ticks) end
        S.cross[sym] = {ticks = 1, side = side}
        d.crosses = d.crosses + 1
    elseif side then
        c.ticks = c.ticks + 1
    elseif c then
        stats.hist_add(d.cross_ticks, c.ticks)
        S.cross[sym] = nil
    end
    if side then S.try_trade(ctx, sym, m, side, d) end
end

-- An oracle update can open a dislocation too (the statistics count BBO updates only).
function S.on_oracle(ctx, o)
    local m = ctx.market(o.symbol)
    if not m then return end
    local side = S.signal(ctx.params, m)
    if side then S.try_trade(ctx, o.symbol, m, side, day_stats(ctx, o.symbol, ctx.now())) end
end

function S.on_order(ctx, o)
    if S.inflight[o.symbol] == o.cloid and FINAL[o.status] then S.inflight[o.symbol] = nil end
end

-- The time stop: armed when a position opens, cleared when it is flat again.
function S.on_position(ctx, pos)
    local opened = ctx.state.opened
    if pos.qty ~= 0 and not opened[pos.symbol] then
        opened[pos.symbol] = ctx.now()
        ctx.timer("stop:" .. pos.symbol, ctx.params.hold_s)
    elseif pos.qty == 0 and opened[pos.symbol] then
        opened[pos.symbol] = nil
        ctx.cancel_timer("stop:" .. pos.symbol)
    end
end

-- Back to flat with a reduce-only market order; checked again every second until flat.
function S.time_stop(ctx, sym)
    local pos = ctx.position(sym)
    if not pos or pos.qty == 0 then
        ctx.state.opened[sym] = nil
        return
    end
    local inflight = S.inflight[sym] and ctx.get_order(S.inflight[sym])
    if not (inflight and not FINAL[inflight.status]) then
        local cloid, err = ctx.order{symbol = sym, side = pos.qty > 0 and "sell" or "buy",
                                     qty = math.abs(pos.qty), reduce_only = true}
        if cloid then
            S.inflight[sym] = cloid
        else
            ctx.log("warn", sym .. ": time stop order refused: " .. tostring(err))
        end
    end
    ctx.timer("stop:" .. sym, 1)
end

function S.on_timer(ctx, name)
    local sym = name:match("^stop:(.+)$")
    if sym then S.time_stop(ctx, sym) end
end

function S.on_stop(ctx)
    flush_day(ctx, true)
end

return S
