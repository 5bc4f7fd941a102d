-- Funding carry, the worked example of docs/strategies.md.
--
-- Every `scan_s` seconds: find the USDT perpetual paying the richest funding (as an 8 h
-- equivalent) above `min_funding_8h` that also has a spot market, and hold one
-- delta-neutral pair on it: long spot, short perp (with positive funding, shorts are
-- paid). The pair is a ctx.hedge leg group, so the host opens both legs at once and
-- never leaves one side naked. Close it when funding drops below `exit_funding_8h`.
-- At most one pair at a time; the open pair lives in ctx.state, so it survives hot
-- reloads and restarts.
local S = {}

-- Defaults; the config's "params" override them with values of the same types.
S.params = {
    notional = 1000,          -- USDT per leg
    min_funding_8h = 0.0003,  -- enter above 3 bps per 8 h
    exit_funding_8h = 0.0001, -- leave below 1 bp per 8 h
    min_volume_24h = 1e6,     -- skip thin markets (24 h volume, USDT)
    max_slippage_bps = 20,    -- refuse to open when a touch is this far from mid
    scan_s = 60,
}

-- "BTC/USDT:USDT" -> "BTC/USDT"
local function spot_of(perp)
    return (perp:gsub(":.*$", ""))
end

function S.on_start(ctx)
    ctx.state.pairs_opened = ctx.state.pairs_opened or 0
    ctx.timer("scan", 0, ctx.params.scan_s)
    ctx.log("info", string.format("carry: %g USDT per leg, enter above %.2f bps / 8h",
                                  ctx.params.notional, ctx.params.min_funding_8h * 1e4))
end

local function best_candidate(ctx)
    local p, best = ctx.params, nil
    local perps = ctx.markets{kind = "perp", quote = "USDT", min_volume_24h = p.min_volume_24h,
                              min_funding_8h = p.min_funding_8h}
    for _, m in ipairs(perps) do
        local spot = ctx.market(spot_of(m.symbol))
        if spot and spot.mid and m.mid and (not best or m.funding_rate_8h > best.funding_rate_8h) then
            best = m
        end
    end
    return best
end

local function maybe_close(ctx)
    local open = ctx.state.open
    local h = ctx.get_hedge(open.id)
    if not h then -- the host no longer knows it (closed before a restart)
        ctx.state.open = nil
        return
    end
    local m = ctx.market(open.perp)
    if h.state == "active" and m and m.funding_rate_8h and
        m.funding_rate_8h < ctx.params.exit_funding_8h then
        local ok, err = ctx.close_hedge(open.id)
        if ok then
            ctx.log("info", string.format("%s: funding %.2f bps / 8h, closing", open.perp,
                                          m.funding_rate_8h * 1e4))
        else
            ctx.log("warn", "close refused: " .. err)
        end
    end
end

function S.on_timer(ctx, name)
    if name ~= "scan" then
        return
    end
    if ctx.state.open then
        return maybe_close(ctx)
    end
    local m = best_candidate(ctx)
    if not m then
        return
    end
    local qty = ctx.params.notional / m.mid
    local id, err = ctx.hedge{
        legs = {{symbol = spot_of(m.symbol), side = "buy", qty = qty},
                {symbol = m.symbol, side = "sell", qty = qty}},
        max_slippage_bps = ctx.params.max_slippage_bps,
        tag = "carry",
    }
    if not id then
        ctx.log("warn", m.symbol .. ": hedge refused: " .. err)
        return
    end
    ctx.state.open = {id = id, perp = m.symbol}
    ctx.state.pairs_opened = ctx.state.pairs_opened + 1
    ctx.metric("pairs_opened", ctx.state.pairs_opened)
end

function S.on_hedge(ctx, h)
    ctx.log("info", string.format("hedge %s: %s (%s)", h.id, h.state, h.reason or ""))
    local open = ctx.state.open
    if open and open.id == h.id and (h.state == "closed" or h.state == "failed") then
        ctx.state.open = nil
    end
end

-- A hot reload keeps ctx.state. The first version of this file kept the open pair as
-- `hedge_id` and `symbol`; move them to the new shape before taking over.
function S.on_reload(ctx, old_state)
    if old_state.hedge_id then
        ctx.state.open = {id = old_state.hedge_id, perp = old_state.symbol}
        ctx.state.hedge_id, ctx.state.symbol = nil, nil
    end
end

return S
