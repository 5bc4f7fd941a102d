-- Oracle/mark dislocation taking (Hyperliquid HIP-3 style): when the best bid is above the
-- oracle price (sell) or the best ask below it (buy) by more than fees plus an edge,
-- take with IOC; return to flat with a time stop and reduce-only orders. The host's risk
-- gates (stale oracle, stale BBO, mark/mid divergence, spread shock, OI cap, parameter
-- change, halt, time regression) refuse or shrink orders; this strategy also skips a
-- market whose oracle or BBO is stale by its own thresholds and counts gate refusals.
-- Daily per-market statistics go to the record "daily_stats": cross_count, bbo_null_rate,
-- ctx_age_ms p50/p95/p99, bbo_recv_interval p50/p95/p99, cross_duration_ticks.
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
    seed = 1,
}

-- Rolling state, rebuilt from the feed (a reload starts it afresh).
S.day, S.stats, S.last_bbo, S.cross, S.opened = nil, {}, {}, {}, {}

local function day_of(ms) return math.floor(ms / 86400000) end

local function new_day_stats()
    return {checks = 0, bbo_null = 0, crosses = 0, ctx_age = stats.sample(2000),
            bbo_interval = stats.sample(2000), cross_ticks = stats.sample(2000),
            gate_refusals = 0}
end

function S.on_start(ctx)
    math.randomseed(ctx.params.seed)
    for _, sym in ipairs(ctx.symbols) do ctx.subscribe(sym) end
end

local function flush_day(ctx)
    for sym, d in pairs(S.stats) do
        local function q(s, p) return stats.quantile(s, p) or -1 end
        ctx.record("daily_stats", {
            day = S.day, symbol = sym, checks = d.checks, cross_count = d.crosses,
            bbo_null_rate = d.checks > 0 and d.bbo_null / d.checks or 0,
            ctx_age_ms_p50 = q(d.ctx_age, 0.5), ctx_age_ms_p95 = q(d.ctx_age, 0.95),
            ctx_age_ms_p99 = q(d.ctx_age, 0.99),
            bbo_recv_interval_p50 = q(d.bbo_interval, 0.5),
            bbo_recv_interval_p95 = q(d.bbo_interval, 0.95),
            bbo_recv_interval_p99 = q(d.bbo_interval, 0.99),
            cross_duration_ticks_p50 = q(d.cross_ticks, 0.5),
            cross_duration_ticks_max = q(d.cross_ticks, 1),
            gate_refusals = d.gate_refusals})
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

-- The signal on one market: "buy", "sell" or nil, with the dislocation in bps.
function S.signal(p, m)
    if not (m.bid and m.ask and m.oracle) then return nil, 0 end
    local need = p.fee_bps + p.edge_bps
    local up = (m.bid - m.oracle) / m.oracle * 1e4
    local down = (m.oracle - m.ask) / m.oracle * 1e4
    if up > need then return "sell", up end
    if down > need then return "buy", down end
    return nil, 0
end

function S.check(ctx, sym)
    local p, now = ctx.params, ctx.now()
    local d = day_stats(ctx, sym, now)
    local m = ctx.market(sym)
    d.checks = d.checks + 1
    if not m or not m.bid or not m.ask then
        d.bbo_null = d.bbo_null + 1
        return
    end
    if m.oracle_age_ms then stats.add(d.ctx_age, m.oracle_age_ms) end
    local side = S.signal(p, m)
    -- cross bookkeeping (a cross lasts while the signal holds, counted in BBO ticks)
    local c = S.cross[sym]
    if side and not c then
        S.cross[sym] = {ticks = 1}
        d.crosses = d.crosses + 1
    elseif side then
        c.ticks = c.ticks + 1
    elseif c then
        stats.add(d.cross_ticks, c.ticks)
        S.cross[sym] = nil
    end
    if not side then return end
    if (m.oracle_age_ms or 1e9) > p.max_oracle_age_ms or (m.bbo_age_ms or 1e9) > p.max_bbo_age_ms
    then return end
    local pos = ctx.position(sym)
    local pos_notional = math.abs(pos.qty) * m.mid
    if pos_notional + p.order_notional > p.max_position_notional then return end
    local px = side == "buy" and m.ask or m.bid
    local cloid, err = ctx.order{symbol = sym, side = side, qty = p.order_notional / px,
                                 price = px, tif = "ioc"}
    if not cloid then
        if err:find("^risk") then d.gate_refusals = d.gate_refusals + 1 end
        ctx.log("debug", sym .. ": " .. err)
    elseif not S.opened[sym] then
        S.opened[sym] = now
    end
end

-- Declares the oracle feed (ctx.market serves it); the work happens on BBO updates.
function S.on_oracle(ctx, o) end

function S.on_bbo(ctx, b)
    local d = day_stats(ctx, b.symbol, ctx.now())
    local last = S.last_bbo[b.symbol]
    if last then stats.add(d.bbo_interval, ctx.now() - last) end
    S.last_bbo[b.symbol] = ctx.now()
    S.check(ctx, b.symbol)
    -- time stop: back to flat with a reduce-only order
    local since = S.opened[b.symbol]
    if since and ctx.now() - since >= ctx.params.hold_s * 1000 then
        local pos = ctx.position(b.symbol)
        if pos.qty ~= 0 then
            ctx.order{symbol = b.symbol, side = pos.qty > 0 and "sell" or "buy",
                      qty = math.abs(pos.qty), reduce_only = true}
        end
        S.opened[b.symbol] = nil
    end
end

function S.on_stop(ctx)
    flush_day(ctx)
end

return S
