-- hostile: an infinite loop in on_fill
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_start(ctx)
    ctx.order{symbol = "ETH/USDT:USDT", side = "buy", qty = 0.01}
end
function S.on_fill(ctx, arg)
    while true do end
end
return S
