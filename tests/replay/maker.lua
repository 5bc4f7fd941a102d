-- Test strategy: quotes one lot inside or at the touch of every symbol, re-quoting every
-- params.every_s seconds (cancel, then post-only bid and ask around the mid), and flattens
-- anything that fills. It exercises the queue model and latency on recorded books.
local S = {}

S.params = {every_s = 2, qty = 0.01}

function S.on_start(ctx)
    ctx.timer("quote", ctx.params.every_s, ctx.params.every_s)
end

function S.on_timer(ctx, name)
    ctx.cancel_all()
    for _, sym in ipairs(ctx.symbols) do
        local m = ctx.market(sym)
        if m and m.bid and m.ask and m.ask > m.bid then
            local pos = ctx.position(sym).qty
            local q = ctx.params.qty
            if pos > 0 then
                ctx.order{symbol = sym, side = "sell", qty = pos, price = m.ask, tif = "post_only",
                          reduce_only = m.kind == "perp"}
            elseif pos < 0 then
                ctx.order{symbol = sym, side = "buy", qty = -pos, price = m.bid, tif = "post_only",
                          reduce_only = true}
            else
                ctx.order{symbol = sym, side = "buy", qty = q, price = m.bid, tif = "post_only"}
            end
        end
    end
end

return S
