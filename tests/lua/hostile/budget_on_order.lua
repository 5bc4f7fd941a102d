-- hostile: an infinite loop in on_order
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_start(ctx)
    ctx.order{symbol = "ETH/USDT:USDT", side = "buy", qty = 0.01}
end
function S.on_order(ctx, arg)
    while true do end
end
return S
