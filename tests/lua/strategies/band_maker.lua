-- Sample strategy for the harness tests: quotes one bid and one ask `spread_bps` around
-- the mid of one symbol, requotes when the mid moved more than `requote_bps`, and stops
-- quoting the side that would push the position past `max_position`.
local qm = require("quote_math")

local S = {}

S.params = {
    symbol = "BTC/USDT:USDT",
    spread_bps = 10,
    size = 0.01,
    max_position = 0.02,
    requote_bps = 2,
}

function S.on_start(ctx)
    ctx.state.fills = ctx.state.fills or 0
    ctx.state.quotes = {}
    ctx.log("info", "quoting " .. ctx.params.symbol)
end

local function requote(ctx, mid)
    local p, st = ctx.params, ctx.state
    for side, cloid in pairs(st.quotes) do
        ctx.cancel(cloid)
        st.quotes[side] = nil
    end
    local pos = ctx.position(p.symbol).qty
    if pos + p.size <= p.max_position + 1e-12 then
        st.quotes.buy = ctx.order{symbol = p.symbol, side = "buy", qty = p.size,
                                  price = qm.below(mid, p.spread_bps), tif = "post_only"}
    end
    if pos - p.size >= -p.max_position - 1e-12 then
        st.quotes.sell = ctx.order{symbol = p.symbol, side = "sell", qty = p.size,
                                   price = qm.above(mid, p.spread_bps), tif = "post_only"}
    end
    st.quoted_mid = mid
end

function S.on_bbo(ctx, bbo)
    if bbo.symbol ~= ctx.params.symbol then return end
    local mid = (bbo.bid + bbo.ask) / 2
    local last = ctx.state.quoted_mid
    if not last or qm.moved_bps(last, mid) > ctx.params.requote_bps then
        requote(ctx, mid)
    end
end

function S.on_order(ctx, o)
    local st = ctx.state
    if o.status == "filled" or o.status == "canceled" or o.status == "rejected" then
        for side, cloid in pairs(st.quotes) do
            if cloid == o.cloid then st.quotes[side] = nil end
        end
    end
end

function S.on_fill(ctx, f)
    ctx.state.fills = ctx.state.fills + 1
    ctx.metric("fills", ctx.state.fills)
    ctx.log("info", string.format("fill %s %g @ %g", f.side, f.qty, f.price))
end

function S.on_position(ctx, p)
    ctx.metric("position", p.qty)
end

function S.on_stop(ctx)
    ctx.cancel_all()
end

return S
