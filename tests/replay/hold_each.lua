-- Test strategy: on the first ticker with a mark of every configured symbol, opens a
-- fixed position (params.side, params.qty) at market, then holds it to the end. The
-- replay tests compare the funding it is paid against an independent computation.
local S = {}

S.params = {side = "buy", qty = 1}

local opened = {}

function S.on_ticker(ctx, t)
    if opened[t.symbol] or not t.mark then
        return
    end
    opened[t.symbol] = true
    local cloid, err = ctx.order{symbol = t.symbol, side = ctx.params.side, qty = ctx.params.qty}
    if not cloid then
        ctx.log("warn", t.symbol .. ": " .. tostring(err))
    end
end

return S
