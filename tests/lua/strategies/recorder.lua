-- Records every callback it receives in ctx.state.seen (for the harness API tests), and
-- tries a few things where they are not allowed.
local S = {}
S.params = {label = "x", limit = 3}

local function seen(ctx, what)
    local t = ctx.state.seen or {}
    t[#t + 1] = what
    ctx.state.seen = t
end

function S.on_start(ctx)
    seen(ctx, "start")
    ctx.timer("slow", 5)
    ctx.timer("fast", 1, 2)
end
function S.on_timer(ctx, name) seen(ctx, "timer:" .. name .. "@" .. ctx.now()) end
function S.on_hedge(ctx, h) seen(ctx, "hedge:" .. h.state) end
function S.on_transfer(ctx, r) seen(ctx, "transfer:" .. r.id .. ":" .. tostring(r.ok)) end
function S.on_params(ctx, p) seen(ctx, "params:" .. p.label) end
function S.on_risk(ctx, n) seen(ctx, "risk:" .. n.module .. ":" .. n.reason) end
function S.on_liquidation(ctx, l) seen(ctx, "liq:" .. l.side .. ":" .. l.qty) end
function S.on_oracle(ctx, o) seen(ctx, "oracle:" .. o.price) end
function S.on_trade(ctx, t) seen(ctx, "trade:" .. t.price) end
function S.on_book(ctx, b) seen(ctx, "book:" .. #b.bids) end
function S.on_stop(ctx)
    local ok, err = pcall(ctx.order, {symbol = ctx.symbols[1], side = "buy", qty = 1})
    ctx.state.stop_order = err
end
return S
