-- Demo strategy: small trades around a moving average of the mid price.
-- Buys when the mid dips band_bps below its average, sells back (reduce-only) when it
-- rises band_bps above. Not a money maker: it shows the callbacks and ctx calls.
local S = {}

-- Defaults; the config's "params" override them (with the same types).
S.params = {
    notional = 200,    -- USDT per order
    band_bps = 3,      -- deviation from the average that triggers a trade, bps
    max_orders = 5,    -- position cap per symbol, in orders
    interval_s = 1,    -- how often to look for trades
    alpha = 0.1,       -- weight of the newest mid in the moving average
    cooldown_s = 30,   -- minimum time between two trades on one symbol
}

local avg, last_trade = {}, {}

function S.on_start(ctx)
    ctx.log(string.format("demo started on %d symbols, %g USDT per order",
                          #ctx.symbols, ctx.params.notional))
    ctx.timer("trade", ctx.params.interval_s, ctx.params.interval_s)
end

function S.on_bbo(ctx, bbo)
    local mid = (bbo.bid + bbo.ask) / 2
    local a = avg[bbo.symbol]
    avg[bbo.symbol] = a and (a + ctx.params.alpha * (mid - a)) or mid
end

function S.on_timer(ctx, name)
    local p = ctx.params
    for _, sym in ipairs(ctx.symbols) do
        local m, a = ctx.market(sym), avg[sym]
        local now = ctx.now()
        if m and m.mid and a and now - (last_trade[sym] or -1e15) >= p.cooldown_s * 1000 then
            local dev_bps = (m.mid - a) / a * 1e4
            local pos = ctx.position(sym).qty
            local qty = p.notional / m.mid
            if dev_bps < -p.band_bps and pos < qty * p.max_orders then
                local cloid, err = ctx.order{symbol = sym, side = "buy", qty = qty}
                if not cloid then ctx.log("warn", sym .. ": " .. err) end
                last_trade[sym] = now
            elseif dev_bps > p.band_bps and pos > 0 then
                -- Sell everything when what would remain is too small to trade later.
                local sell = pos < 2 * qty and pos or qty
                ctx.order{symbol = sym, side = "sell", qty = sell, reduce_only = true}
                last_trade[sym] = now
            end
        end
    end
end

function S.on_fill(ctx, f)
    ctx.log(string.format("fill %s %s %.6g @ %.8g (fee %.4g)", f.symbol, f.side, f.qty,
                          f.price, f.fee))
end

return S
