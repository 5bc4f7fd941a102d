-- Funding-rate arbitrage: long spot + short perp, delta-neutral, collecting funding.
--
-- Scanner (every scan_s): USDT markets whose funding, normalized to 8 hours, is at least
-- min_funding_8h, with enough 24h volume and a positive premium (perp over spot); ranked
-- by expected net daily return after fees, slippage and borrow, the round trip amortized
-- over the expected holding time. Entries go through a leg group (both legs at market,
-- concurrently; the host unwinds a leg that fills alone). A guardian (every guard_s)
-- watches margin and delta. Exits on low or flipped funding and on a premium collapse.
-- In observer mode it only scans, prices and records opportunities.
local S = {}

S.params = {
    quote = "USDT",
    scan_s = 60,                 -- scanner period, seconds
    guard_s = 10,                -- guardian period, seconds
    min_funding_8h = 0.0003,     -- 0.03% per 8 h equivalent
    min_volume_24h = 10000000,   -- quote currency
    min_premium = 0.002,         -- (perp - spot) / spot, and positive
    use_premium_filter = true,   -- false: no premium filter (data without spot prices)
    require_positive_periods = 0, -- e.g. 3: funding positive for 3 settlements in a row
    max_positions = 3,
    capital_fraction = 0.9,      -- share of capital deployed across all positions
    expected_hold_days = 7,      -- round-trip costs are amortized over this
    slippage_bps = 2,            -- assumed per market order
    borrow_daily = 0,            -- cost of carry of the spot leg, per day (fraction)
    exit_funding_8h = 0.00005,   -- 0.005%: exit at or below
    flip_tolerance_s = 7200,     -- negative funding tolerated this long
    emergency_premium = -0.01,   -- exit at once when the premium falls to -1%
    min_margin_ratio = 0.20,     -- futures equity / perp notional
    target_margin_ratio = 0.30,  -- what a top-up restores
    max_delta_drift = 0.002,     -- |spot qty + perp qty| / spot qty
    rebalance_cost_alert = 0.30, -- rebalance fees as a share of net income
    open_timeout_ms = 5000,
    max_slippage_bps = 50,
}

local function spot_of(perp)      -- "BTC/USDT:USDT" -> "BTC/USDT"
    return (perp:gsub(":.*$", ""))
end

-- Expected net daily return of holding one unit of notional (a fraction per day).
function S.net_daily(p, m, spot)
    local f8 = m.funding_rate_8h or 0
    local fees = 2 * ((m.taker_fee or 0) + (spot.taker_fee or 0))   -- open + close, both legs
    local slip = 4 * p.slippage_bps / 1e4
    return f8 * 3 - (fees + slip) / p.expected_hold_days - p.borrow_daily
end

-- Candidate markets, best first. Each entry: {perp, spot, funding_8h, premium, net_daily}.
function S.scan(ctx)
    local p = ctx.params
    local out = {}
    local perps = ctx.markets{kind = "perp", quote = p.quote, min_volume_24h = p.min_volume_24h,
                              min_funding_8h = p.min_funding_8h}
    for _, m in ipairs(perps) do
        local spot = ctx.market(spot_of(m.symbol))
        if spot and spot.mid and m.mid then
            local premium = (m.mid - spot.mid) / spot.mid
            local hist = ctx.state.funding_hist[m.symbol] or {}
            local positive_run = 0
            for i = #hist, 1, -1 do
                if hist[i] > 0 then positive_run = positive_run + 1 else break end
            end
            local ok = true
            if p.use_premium_filter and (premium < p.min_premium or premium <= 0) then
                ok = false
            end
            if p.require_positive_periods > 0 and positive_run < p.require_positive_periods then
                ok = false
            end
            if ok then
                out[#out + 1] = {perp = m.symbol, spot = spot.symbol,
                                 funding_8h = m.funding_rate_8h, premium = premium,
                                 net_daily = S.net_daily(p, m, spot), price = spot.mid,
                                 lot = math.max(m.lot, spot.lot),
                                 min_notional = math.max(m.min_notional, spot.min_notional),
                                 min_qty = math.max(m.min_qty, spot.min_qty)}
            end
        end
    end
    table.sort(out, function(a, b) return a.net_daily > b.net_daily end)
    return out
end

-- Quantity for one position: an equal share of the deployable capital, rounded down to
-- the coarser lot of the two legs; nil when that is below the venue's minimums.
function S.size(ctx, c)
    local p = ctx.params
    local notional = ctx.capital * p.capital_fraction / p.max_positions / 2 -- two legs
    local qty = math.floor(notional / c.price / c.lot + 1e-9) * c.lot
    if qty < c.min_qty or qty * c.price < c.min_notional then return nil end
    return qty
end

local function count_open(ctx)
    local n = 0
    for _ in pairs(ctx.state.open) do n = n + 1 end
    return n
end

local function record_opportunity(ctx, c, taken)
    local row = {ts = ctx.now(), perp = c.perp, funding_8h = c.funding_8h, premium = c.premium,
                 net_daily = c.net_daily, taken = taken}
    ctx.record("opportunities", row)
end

function S.on_start(ctx)
    ctx.state.open = ctx.state.open or {}          -- hedge id -> {perp, spot, qty, since}
    ctx.state.funding_hist = ctx.state.funding_hist or {}
    ctx.state.last_rate = ctx.state.last_rate or {}
    ctx.state.negative_since = ctx.state.negative_since or {}
    ctx.state.rebalance_fees = ctx.state.rebalance_fees or 0
    ctx.state.alerted = ctx.state.alerted or false
    -- The universe: every market of the quote currency (tickers feed the scanner).
    for _, m in ipairs(ctx.markets{quote = ctx.params.quote}) do ctx.subscribe(m.symbol) end
    ctx.timer("scan", 1, ctx.params.scan_s)
    ctx.timer("guard", ctx.params.guard_s, ctx.params.guard_s)
end

function S.on_reload(ctx, old) end   -- ctx.state carries over as it is

-- Settlement history: when next_funding_ts moves on, the rate before it was settled.
function S.on_ticker(ctx, t)
    if not t.funding_rate or not t.next_funding_ts then return end
    local last = ctx.state.last_rate[t.symbol]
    if last and t.next_funding_ts > last.next then
        local hist = ctx.state.funding_hist[t.symbol] or {}
        hist[#hist + 1] = last.rate
        if #hist > 24 then table.remove(hist, 1) end
        ctx.state.funding_hist[t.symbol] = hist
    end
    ctx.state.last_rate[t.symbol] = {rate = t.funding_rate, next = t.next_funding_ts}
end

function S.enter(ctx)
    local p = ctx.params
    local candidates = S.scan(ctx)
    local held = {}
    for _, h in pairs(ctx.state.open) do held[h.perp] = true end
    for _, c in ipairs(candidates) do
        if count_open(ctx) >= p.max_positions then break end
        if not held[c.perp] and c.net_daily > 0 then
            local qty = S.size(ctx, c)
            if ctx.mode == "observer" then
                record_opportunity(ctx, c, false)
            elseif qty then
                local id, err = ctx.hedge{legs = {{symbol = c.spot, side = "buy", qty = qty},
                                                  {symbol = c.perp, side = "sell", qty = qty}},
                                          open_timeout_ms = p.open_timeout_ms,
                                          max_slippage_bps = p.max_slippage_bps,
                                          tag = "funding_arb"}
                record_opportunity(ctx, c, id ~= nil)
                if id then
                    ctx.state.open[id] = {perp = c.perp, spot = c.spot, qty = qty,
                                          since = ctx.now()}
                    held[c.perp] = true
                    ctx.log(string.format("enter %s: funding %.4f%%/8h, premium %.3f%%, "
                        .. "net %.4f%%/day, qty %g", c.perp, c.funding_8h * 100,
                        c.premium * 100, c.net_daily * 100, qty))
                else
                    ctx.log("warn", "enter " .. c.perp .. " refused: " .. err)
                end
            end
        end
    end
end

-- Why a position should be closed now, or nil.
function S.exit_reason(ctx, h)
    local p = ctx.params
    local m, spot = ctx.market(h.perp), ctx.market(h.spot)
    if not (m and spot and m.mid and spot.mid) then return nil end
    local premium = (m.mid - spot.mid) / spot.mid
    if premium <= p.emergency_premium then
        return string.format("emergency: premium %.3f%%", premium * 100)
    end
    local f8 = m.funding_rate_8h
    if f8 == nil then return nil end
    if f8 < 0 then
        local since = ctx.state.negative_since[h.perp]
        if not since then
            ctx.state.negative_since[h.perp] = ctx.now()
        elseif ctx.now() - since >= p.flip_tolerance_s * 1000 then
            return string.format("funding negative for %.1f h", (ctx.now() - since) / 3.6e6)
        end
        return nil
    end
    ctx.state.negative_since[h.perp] = nil
    if f8 <= p.exit_funding_8h then
        return string.format("funding %.4f%%/8h at or below the exit level", f8 * 100)
    end
    return nil
end

function S.guard(ctx)
    local p = ctx.params
    -- Exits.
    for id, h in pairs(ctx.state.open) do
        local why = S.exit_reason(ctx, h)
        if why then
            local ok, err = ctx.close_hedge(id)
            ctx.log(ok and "info" or "warn",
                    "exit " .. h.perp .. ": " .. why .. (ok and "" or (" (" .. err .. ")")))
        end
    end
    -- Margin: futures equity against perp notional.
    local perp_notional = 0
    for _, h in pairs(ctx.state.open) do
        local m = ctx.market(h.perp)
        if m and m.mark then perp_notional = perp_notional + h.qty * m.mark end
    end
    local bal = ctx.balance(p.quote, "futures")
    if perp_notional > 0 and bal then
        local ratio = (bal.equity or bal.total) / perp_notional
        if ratio < p.min_margin_ratio then
            local need = (p.target_margin_ratio - ratio) * perp_notional
            local id, err = ctx.transfer{asset = p.quote, amount = need, from = "spot",
                                         to = "futures"}
            if id then
                ctx.log("warn", string.format("margin ratio %.1f%%: moving %.2f %s to futures",
                                              ratio * 100, need, p.quote))
            else
                -- No separate wallets: reduce both legs of every position in proportion.
                local keep = ratio / p.target_margin_ratio
                ctx.log("warn", string.format("margin ratio %.1f%% and no transfer (%s): "
                        .. "reducing every position to %.0f%%", ratio * 100, err, keep * 100))
                for hid in pairs(ctx.state.open) do
                    ctx.close_hedge(hid, 1 - keep)
                end
            end
        end
    end
    -- Delta drift per pair (quantities: long spot vs short perp).
    for _, h in pairs(ctx.state.open) do
        local sp, pp = ctx.position(h.spot), ctx.position(h.perp)
        if sp and pp and sp.qty > 0 then
            local drift = (sp.qty + pp.qty) / sp.qty
            if math.abs(drift) > p.max_delta_drift then
                local m = ctx.market(h.perp)
                local diff = sp.qty + pp.qty            -- > 0: perp short too small
                local qty = math.floor(math.abs(diff) / m.lot + 1e-9) * m.lot
                if qty >= m.min_qty then
                    ctx.order{symbol = h.perp, side = diff > 0 and "sell" or "buy", qty = qty,
                              reduce_only = diff < 0}
                    ctx.state.rebalancing = true
                    ctx.log(string.format("rebalance %s: drift %.3f%%", h.perp, drift * 100))
                end
            end
        end
    end
    -- Rebalance cost against net income.
    local income = 0
    for _, pos in ipairs(ctx.positions()) do income = income + pos.funding - pos.fees end
    ctx.metric("rebalance_fees", ctx.state.rebalance_fees)
    if income > 0 then
        local share = ctx.state.rebalance_fees / income
        ctx.metric("rebalance_cost_share", share)
        if share >= p.rebalance_cost_alert and not ctx.state.alerted then
            ctx.state.alerted = true
            ctx.log("warn", string.format("rebalance costs are %.0f%% of net income", share * 100))
        end
    end
end

function S.on_fill(ctx, f)
    if ctx.state.rebalancing then
        ctx.state.rebalance_fees = ctx.state.rebalance_fees + f.fee
        ctx.state.rebalancing = nil
    end
end

function S.on_timer(ctx, name)
    if name == "scan" then S.enter(ctx) else S.guard(ctx) end
end

function S.on_hedge(ctx, h)
    if h.state == "closed" or h.state == "failed" then
        if ctx.state.open[h.id] then
            ctx.log((h.state == "failed") and "warn" or "info",
                    "hedge " .. h.id .. " " .. h.state .. ": " .. (h.reason or ""))
        end
        ctx.state.open[h.id] = nil
    elseif h.state == "active" and ctx.state.open[h.id] then
        ctx.state.open[h.id].qty = h.legs[1].filled
    end
end

return S
