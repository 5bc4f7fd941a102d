-- The healthy strategy that trades next to every hostile one: a small market order on
-- BTC every 10 s, alternating sides. Its fills must be the same with or without the
-- hostile neighbour (the sim is deterministic for a seed).
local S = {}

function S.on_start(ctx)
    ctx.state.n = 0
    ctx.timer("trade", 10, 10)
end

function S.on_timer(ctx, name)
    local n = ctx.state.n + 1
    ctx.state.n = n
    local cloid, err = ctx.order{symbol = "BTC/USDT:USDT", side = n % 2 == 1 and "buy" or "sell",
                                 qty = 0.002}
    if not cloid then ctx.log("warn", "order refused: " .. err) end
end

return S
