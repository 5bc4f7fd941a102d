-- Raises in every on_bbo: repeated errors disable it. Keeps an order open so the
-- on_disable policy has something to cancel.
local S = {}
function S.on_start(ctx)
    ctx.order{symbol = ctx.symbols[1], side = "buy", qty = 1, price = 50}
end
function S.on_bbo(ctx, bbo)
    error("no good at " .. bbo.bid)
end
return S
