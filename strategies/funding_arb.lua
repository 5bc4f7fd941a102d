-- Funding-rate arbitrage: long spot + short perp, delta-neutral, collecting funding.
--
-- Scanner (every scan_s): the venue's perps of the quote currency whose funding,
-- normalized to 8 hours (rate / interval_h * 8), is at least min_funding_8h, with at least
-- min_volume_24h of 24 h quote volume, a spot market, a premium (perp - spot) / spot of at
-- least min_premium and positive (use_premium_filter), and optionally funding positive for
-- require_positive_periods settlements in a row; ranked by the expected net daily return:
-- daily funding - (fees + slippage of the round trip) / expected_hold_days - borrow.
-- Entries go through a leg group (both legs at market, concurrently; the host unwinds a
-- leg that fills alone), sized from the strategy's capital and rounded down to the lot;
-- below the minimum quantity or notional nothing is sent. At most max_positions pairs.
--
-- Guardian (every guard_s): exits (funding at or below exit_funding_8h; negative funding
-- held for flip_tolerance_s, reset by any non-negative tick; premium at or below
-- emergency_premium at once); margin (futures equity / perp notional below
-- min_margin_ratio: a spot -> futures transfer back to target_margin_ratio where the venue
-- has separate wallets, else, or when the transfer is refused, every pair reduced in
-- proportion with close_hedge(id, fraction)); delta drift |spot + perp| / spot above
-- max_delta_drift: the perp leg is topped up or trimmed; rebalance cost (fees and
-- slippage against the mid) as a share of net income (funding - fees), warned at
-- rebalance_cost_alert. In observer mode it only scans, prices and records opportunities.
--
-- A close the host could not complete (the pair is restored) is retried after guard_s,
-- then after a doubling wait (at most an hour); the third failure is an alert.
--
-- Records: "opportunities" (every candidate of every scan in observer mode; every entry
-- attempt otherwise), "exits", "alerts" (rebalance_cost, close_failed). Metrics:
-- candidates, open_pairs, margin_ratio, rebalance_fees, rebalance_cost_share, net_income.
local S = {}

S.params = {
    quote = "USDT",
    scan_s = 60,                 -- scanner period, seconds
    guard_s = 10,                -- guardian period, seconds
    min_funding_8h = 0.0003,     -- 0.03% per 8 h equivalent, at or above
    min_volume_24h = 10000000,   -- quote currency, at or above
    min_premium = 0.002,         -- (perp - spot) / spot, at or above, and positive
    use_premium_filter = true,   -- false: no premium filter (data without spot prices)
    require_positive_periods = 0, -- e.g. 3: funding positive for 3 settlements in a row
    max_positions = 3,
    capital_fraction = 0.9,      -- share of capital deployed across all positions
    expected_hold_days = 7,      -- round-trip costs are amortized over this
    slippage_bps = 2,            -- assumed per market order
    borrow_daily = 0,            -- cost of carry of the spot leg, per day (fraction)
    exit_funding_8h = 0.00005,   -- 0.005%: exit at or below
    flip_tolerance_s = 7200,     -- negative funding tolerated this long
    emergency_premium = -0.01,   -- exit at once when the premium falls to -1% or below
    min_margin_ratio = 0.20,     -- futures equity / perp notional
    target_margin_ratio = 0.30,  -- what a transfer or a reduction restores
    max_delta_drift = 0.002,     -- |spot qty + perp qty| / spot qty, above
    rebalance_cost_alert = 0.30, -- rebalance costs as a share of net income
    open_timeout_ms = 5000,
    max_slippage_bps = 50,
}

-- Comparisons at a boundary: a rate computed as rate / interval * 8, or a premium from two
-- prices, is off from the decimal the config names by a few ulps; this much is "equal".
local EPS = 1e-12

local FINAL = {filled = true, canceled = true, rejected = true, expired = true}

-- Settlement tracking: the last (rate, next_funding_ts) seen per perp, rebuilt from the
-- feed (not persisted: ctx.state is serialized every second, keep it small).
S.last_rate = {}
-- Perps whose entry was refused (sizing, risk, venue): not tried again before this time
-- (ms), so a lasting refusal costs one attempt, one log line and one record per 10 scans.
S.cooldown = {}

local function spot_of(perp)      -- "BTC/USDT:USDT" -> "BTC/USDT"
    return (perp:gsub(":.*$", ""))
end

local function round_lot(q, lot)
    local n = math.floor(q / lot + 1e-9)
    return tonumber(string.format("%.12g", n * lot))
end

-- ---- the cost model ----------------------------------------------------------------------

-- Daily costs of holding one unit of notional, as fractions: fees and slippage of the round
-- trip (open and close, both legs at market) amortized over expected_hold_days, and borrow.
function S.costs(p, m, spot)
    local fees = 2 * ((m.taker_fee or 0) + (spot.taker_fee or 0))
    local slip = 4 * p.slippage_bps / 1e4
    return {fees_daily = fees / p.expected_hold_days, slippage_daily = slip / p.expected_hold_days,
            borrow_daily = p.borrow_daily}
end

-- Expected net daily return of holding one unit of notional (a fraction per day).
function S.net_daily(p, m, spot)
    local c = S.costs(p, m, spot)
    return (m.funding_rate_8h or 0) * 3 - c.fees_daily - c.slippage_daily - c.borrow_daily
end

function S.premium(m, spot)
    if not (m and spot and m.mid and spot.mid and spot.mid > 0) then return nil end
    return (m.mid - spot.mid) / spot.mid
end

-- ---- the scanner ---------------------------------------------------------------------------

-- Why a market fails the entry filters, or nil when it passes (with its premium).
function S.filter(ctx, m, spot)
    local p = ctx.params
    if m.quote ~= p.quote then return "quote " .. tostring(m.quote) end
    if not m.volume_24h or m.volume_24h < p.min_volume_24h then return "volume" end
    local f8 = m.funding_rate_8h
    if not f8 or f8 < p.min_funding_8h - EPS then return "funding" end
    if not spot then return "no spot market" end
    local premium = S.premium(m, spot)
    if not premium then return "no quotes" end
    if p.use_premium_filter and (premium < p.min_premium - EPS or premium <= 0) then
        return "premium", premium
    end
    if p.require_positive_periods > 0
        and (ctx.state.pos_run[m.symbol] or 0) < p.require_positive_periods then
        return "positive periods", premium
    end
    return nil, premium
end

-- Candidate markets, best first. Each: {perp, spot, funding_rate, interval_h, funding_8h,
-- premium, volume_24h, fees_daily, slippage_daily, borrow_daily, net_daily, price, lot,
-- min_qty, min_notional}.
function S.scan(ctx)
    local p = ctx.params
    local out = {}
    -- The host filters volume and funding (8 h equivalent) first; the checks are repeated
    -- here with the boundary tolerance.
    local perps = ctx.markets{kind = "perp", quote = p.quote, min_volume_24h = p.min_volume_24h,
                              min_funding_8h = p.min_funding_8h - EPS}
    for _, m in ipairs(perps) do
        local spot = ctx.market(spot_of(m.symbol))
        local why, premium = S.filter(ctx, m, spot)
        if not why then
            local c = S.costs(p, m, spot)
            out[#out + 1] = {perp = m.symbol, spot = spot.symbol, funding_rate = m.funding_rate,
                             interval_h = m.funding_interval_h, funding_8h = m.funding_rate_8h,
                             premium = premium, volume_24h = m.volume_24h,
                             fees_daily = c.fees_daily, slippage_daily = c.slippage_daily,
                             borrow_daily = c.borrow_daily, net_daily = S.net_daily(p, m, spot),
                             price = spot.mid, spot_ask = spot.ask or spot.mid,
                             perp_bid = m.bid or m.mid, lot = math.max(m.lot, spot.lot),
                             min_notional = math.max(m.min_notional or 0, spot.min_notional or 0),
                             min_qty = math.max(m.min_qty or 0, spot.min_qty or 0)}
        end
    end
    table.sort(out, function(a, b)
        if a.net_daily ~= b.net_daily then return a.net_daily > b.net_daily end
        return a.perp < b.perp
    end)
    return out
end

-- Quantity for one pair: an equal share of the deployable capital per leg, rounded down
-- to the coarser lot of the two legs; nil, reason when that is below a minimum quantity
-- or notional (each leg checked at the touch it would take).
function S.size(ctx, c)
    local p = ctx.params
    if not ctx.capital or ctx.capital <= 0 then return nil, "no capital configured" end
    local notional = ctx.capital * p.capital_fraction / p.max_positions / 2 -- two legs
    local qty = round_lot(notional / c.price, c.lot)
    if qty <= 0 or qty < c.min_qty - 1e-12 then
        return nil, string.format("qty %g below the minimum %g", qty, c.min_qty)
    end
    local n = qty * math.min(c.spot_ask, c.perp_bid)
    if n < c.min_notional then
        return nil, string.format("notional %.2f below the minimum %g", n, c.min_notional)
    end
    return qty
end

local function count_open(ctx)
    local n = 0
    for _ in pairs(ctx.state.open) do n = n + 1 end
    return n
end

local function record_opportunity(ctx, c, rank, qty, taken, why)
    ctx.record("opportunities", {ts = ctx.now(), mode = ctx.mode, rank = rank, perp = c.perp,
                                 funding_rate = c.funding_rate, interval_h = c.interval_h or 0,
                                 funding_8h = c.funding_8h, premium = c.premium,
                                 volume_24h = c.volume_24h, fees_daily = c.fees_daily,
                                 slippage_daily = c.slippage_daily, borrow_daily = c.borrow_daily,
                                 net_daily = c.net_daily, qty = qty or 0, taken = taken,
                                 reason = why or ""})
end

function S.enter(ctx)
    local p = ctx.params
    local candidates = S.scan(ctx)
    ctx.metric("candidates", #candidates)
    if next(ctx.state.traded) then ctx.metric("net_income", S.net_income(ctx)) end
    if ctx.mode == "observer" then
        -- Signals and the cost model only: every candidate, ranked; nothing is sent.
        for rank, c in ipairs(candidates) do
            local qty, why = S.size(ctx, c)
            record_opportunity(ctx, c, rank, qty, false, why or "observer")
        end
        return
    end
    local held = {}
    for _, h in pairs(ctx.state.open) do held[h.perp] = true end
    for rank, c in ipairs(candidates) do
        if count_open(ctx) >= p.max_positions then break end
        if not held[c.perp] and c.net_daily > 0 and ctx.now() >= (S.cooldown[c.perp] or 0) then
            local qty, why = S.size(ctx, c)
            local id, err
            if qty then
                id, err = ctx.hedge{legs = {{symbol = c.spot, side = "buy", qty = qty},
                                            {symbol = c.perp, side = "sell", qty = qty}},
                                    open_timeout_ms = p.open_timeout_ms,
                                    max_slippage_bps = p.max_slippage_bps,
                                    tag = "funding_arb"}
            else
                err = why
            end
            record_opportunity(ctx, c, rank, qty, id ~= nil, err)
            if id then
                ctx.state.open[id] = {perp = c.perp, spot = c.spot, qty = qty, since = ctx.now(),
                                      state = "opening"}
                ctx.state.traded[c.perp], ctx.state.traded[c.spot] = true, true
                held[c.perp] = true
                ctx.log(string.format("enter %s: funding %.4f%%/8h, premium %.3f%%, "
                    .. "net %.4f%%/day, qty %g", c.perp, c.funding_8h * 100,
                    c.premium * 100, c.net_daily * 100, qty))
            else
                S.cooldown[c.perp] = ctx.now() + 10 * p.scan_s * 1000
                ctx.log("warn", "enter " .. c.perp .. " refused: " .. tostring(err))
            end
        end
    end
    ctx.metric("open_pairs", count_open(ctx))
end

-- ---- exits ---------------------------------------------------------------------------------

-- Flip tolerance bookkeeping from a funding rate seen now (negative starts the clock, a
-- non-negative rate resets it).
local function note_funding(ctx, perp, rate)
    if rate == nil then return end
    local neg = ctx.state.negative_since
    if rate < 0 then
        if not neg[perp] then neg[perp] = ctx.now() end
    else
        neg[perp] = nil
    end
end

-- Why a position should be closed now, or nil.
function S.exit_reason(ctx, h)
    local p = ctx.params
    local m, spot = ctx.market(h.perp), ctx.market(h.spot)
    if not m then return nil end
    local premium = S.premium(m, spot)
    if premium and premium <= p.emergency_premium + EPS then
        return string.format("emergency: premium %.3f%%", premium * 100), "emergency"
    end
    local f8 = m.funding_rate_8h
    if f8 == nil then return nil end
    note_funding(ctx, h.perp, f8)
    if f8 < 0 then
        local since = ctx.state.negative_since[h.perp]
        if ctx.now() - since >= p.flip_tolerance_s * 1000 then
            return string.format("funding negative for %.2f h", (ctx.now() - since) / 3.6e6),
                "flip"
        end
        return nil
    end
    if f8 <= p.exit_funding_8h + EPS then
        return string.format("funding %.4f%%/8h at or below the exit level", f8 * 100), "funding"
    end
    return nil
end

local function close(ctx, id, h, fraction, why)
    local ok, err = ctx.close_hedge(id, fraction)
    if ok then
        h.state = "closing"
        if fraction and fraction < 1 then h.reducing = true else h.exit_reason = why end
    end
    ctx.log(ok and "info" or "warn", string.format("%s %s: %s%s",
        (fraction and fraction < 1) and string.format("reduce %.1f%% of", fraction * 100) or "exit",
        h.perp, why, ok and "" or (" (" .. tostring(err) .. ")")))
    return ok
end

-- ---- margin --------------------------------------------------------------------------------

-- Futures equity / perp notional of the open pairs, and that notional (nil when flat).
function S.margin_ratio(ctx)
    local notional = 0
    for _, h in pairs(ctx.state.open) do
        local pos, m = ctx.position(h.perp), ctx.market(h.perp)
        local px = m and (m.mark or m.mid)
        if pos and px then notional = notional + math.abs(pos.qty) * px end
    end
    if notional <= 0 then return nil end
    local bal = ctx.balance(ctx.params.quote, "futures")
    if not bal then return nil end
    return (bal.equity or bal.total) / notional, notional
end

-- Reduces every active pair in proportion, back to the target margin ratio.
local function reduce_all(ctx, ratio, why)
    local p = ctx.params
    local fraction = 1 - ratio / p.target_margin_ratio
    fraction = math.min(1, math.max(0.000001, math.floor(fraction * 1e6 + 0.5) / 1e6))
    ctx.log("warn", string.format("margin ratio %.1f%%, %s: reducing every pair by %.1f%%",
                                  ratio * 100, why, fraction * 100))
    for id, h in pairs(ctx.state.open) do
        if h.state == "active" then
            close(ctx, id, h, fraction, string.format("margin ratio %.1f%%", ratio * 100))
        end
    end
end

local function guard_margin(ctx)
    local p, st = ctx.params, ctx.state
    if st.margin_transfer then return end -- its result comes in on_transfer
    for _, h in pairs(st.open) do
        if h.reducing then return end      -- a reduction is under way
    end
    local ratio, notional = S.margin_ratio(ctx)
    if not ratio then return end
    ctx.metric("margin_ratio", ratio)
    if ratio >= p.min_margin_ratio - EPS then return end -- "below 20%": strictly
    local need = (p.target_margin_ratio - ratio) * notional
    -- Separate wallets: a spot wallet of the quote and no unified one.
    local unified, spot = ctx.balance(p.quote, "unified"), ctx.balance(p.quote, "spot")
    local why
    if unified then
        why = "one unified wallet (no transfer)"
    elseif not spot or (spot.available or 0) <= 0 then
        why = "nothing to transfer from the spot wallet"
    else
        local amount = math.floor(math.min(need, spot.available) * 1e6) / 1e6
        local id, err = ctx.transfer{asset = p.quote, amount = amount, from = "spot",
                                     to = "futures"}
        if id then
            st.margin_transfer = {id = id, amount = amount}
            ctx.log("warn", string.format("margin ratio %.1f%%: moving %.2f %s to futures",
                                          ratio * 100, amount, p.quote))
            return
        end
        why = "transfer refused: " .. tostring(err)
    end
    reduce_all(ctx, ratio, why)
end

function S.on_transfer(ctx, r)
    local t = ctx.state.margin_transfer
    if not t or r.id ~= t.id then return end
    ctx.state.margin_transfer = nil
    if r.ok then return end
    local ratio = S.margin_ratio(ctx)
    if ratio and ratio < ctx.params.min_margin_ratio - EPS then
        reduce_all(ctx, ratio, "transfer refused: " .. tostring(r.reason))
    end
end

-- ---- delta drift and rebalance cost -----------------------------------------------------------

local function guard_drift(ctx)
    local p, st = ctx.params, ctx.state
    for id, h in pairs(st.open) do
        local busy = h.rebalance and ctx.get_order(h.rebalance)
        if busy and FINAL[busy.status] then busy, h.rebalance = nil, nil end
        local sp, pp = ctx.position(h.spot), ctx.position(h.perp)
        if h.state == "active" and not busy and sp and pp and sp.qty > 0 then
            local diff = sp.qty + pp.qty            -- > 0: the perp short is too small
            local drift = diff / sp.qty
            if math.abs(drift) > p.max_delta_drift + EPS then
                local m = ctx.market(h.perp)
                local qty = round_lot(math.abs(diff), m.lot)
                if qty >= m.min_qty then
                    local cloid, err = ctx.order{symbol = h.perp, side = diff > 0 and "sell" or "buy",
                                                 qty = qty, reduce_only = diff < 0}
                    if cloid then
                        h.rebalance = cloid
                        st.rebalance_orders[cloid] = m.mid or m.mark or 0
                        st.rebalances = st.rebalances + 1
                    end
                    ctx.log(cloid and "info" or "warn", string.format(
                        "rebalance %s (%s): drift %.3f%%, %s %g%s", h.perp, id, drift * 100,
                        diff > 0 and "sell" or "buy", qty, cloid and "" or (": " .. tostring(err))))
                end
            end
        end
    end
end

-- Net income of the strategy: funding received minus every fee paid, over every
-- instrument it traded.
function S.net_income(ctx)
    local income = 0
    for sym in pairs(ctx.state.traded) do
        local pos = ctx.position(sym)
        if pos then income = income + pos.funding - pos.fees end
    end
    return income
end

local function guard_costs(ctx)
    local p, st = ctx.params, ctx.state
    if st.rebalance_fees <= 0 then return end
    local income = S.net_income(ctx)
    ctx.metric("net_income", income)
    ctx.metric("rebalance_fees", st.rebalance_fees)
    local share = income > 0 and st.rebalance_fees / income or math.huge
    if share < math.huge then ctx.metric("rebalance_cost_share", share) end
    if share >= p.rebalance_cost_alert - EPS then
        if not st.alerted then
            st.alerted = true
            local text = income > 0 and string.format("%.1f%%", share * 100) or "more than all"
            ctx.log("warn", string.format("rebalance costs (%.2f) are %s of net income (%.2f)",
                                          st.rebalance_fees, text, income))
            ctx.record("alerts", {ts = ctx.now(), kind = "rebalance_cost", perp = "",
                                  value = income > 0 and share or -1,
                                  detail = string.format("rebalance costs %.8g, net income %.8g",
                                                         st.rebalance_fees, income)})
        end
    else
        st.alerted = false -- re-armed: the next crossing warns again
    end
end

function S.guard(ctx)
    local st = ctx.state
    if next(st.open) == nil and st.rebalance_fees <= 0 then return end -- nothing to guard
    local now = ctx.now()
    for id, h in pairs(st.open) do
        if h.state == "active" and not h.reducing and now >= (h.retry_at or 0) then
            local why = S.exit_reason(ctx, h)
            if why then close(ctx, id, h, nil, why) end
        end
    end
    guard_margin(ctx)
    guard_drift(ctx)
    guard_costs(ctx)
end

-- ---- callbacks -------------------------------------------------------------------------------

-- ctx.state of an earlier version (funding_hist, last_rate, open entries without state)
-- into this one's shape; open entries follow the host's leg groups.
local function migrate(ctx)
    local st = ctx.state
    st.open = st.open or {}
    st.negative_since = st.negative_since or {}
    st.rebalance_fees = st.rebalance_fees or 0
    st.rebalance_orders = st.rebalance_orders or {}
    st.rebalances = st.rebalances or 0
    st.alerted = st.alerted or false
    st.traded = st.traded or {}
    st.pos_run = st.pos_run or {}
    if st.funding_hist then
        for sym, hist in pairs(st.funding_hist) do
            local run = 0
            for i = #hist, 1, -1 do
                if hist[i] > 0 then run = run + 1 else break end
            end
            st.pos_run[sym] = run
        end
        st.funding_hist = nil
    end
    st.last_rate = nil
    st.rebalancing = nil
    for id, h in pairs(st.open) do
        local g = ctx.get_hedge(id)
        if not g or g.state == "closed" or g.state == "failed" then
            st.open[id] = nil
        else
            h.state = g.state
            st.traded[h.perp], st.traded[h.spot] = true, true
        end
    end
end

function S.on_start(ctx)
    local p = ctx.params
    migrate(ctx)
    if not p.use_premium_filter then
        local why = "premium filter off (use_premium_filter = false): entries ignore the "
                    .. "spot/perp basis"
        ctx.log("warn", why)
        ctx.report_note(why)
    end
    -- The universe: every market of the quote currency (tickers feed the scanner).
    for _, m in ipairs(ctx.markets{quote = p.quote}) do ctx.subscribe(m.symbol) end
    ctx.timer("scan", 1, p.scan_s)
    ctx.timer("guard", p.guard_s, p.guard_s)
end

function S.on_reload(ctx, old)
    migrate(ctx)
end

function S.on_params(ctx, p)
    ctx.timer("scan", p.scan_s, p.scan_s)
    ctx.timer("guard", p.guard_s, p.guard_s)
end

-- Settlement history (when next_funding_ts moves on, the rate before it was settled) and
-- the flip tolerance of held perps.
function S.on_ticker(ctx, t)
    if t.funding_rate == nil then return end
    local last = S.last_rate[t.symbol]
    if t.next_funding_ts then
        if last and t.next_funding_ts > last.next then
            local run = ctx.state.pos_run
            run[t.symbol] = last.rate > 0 and math.min((run[t.symbol] or 0) + 1, 1000) or 0
        end
        S.last_rate[t.symbol] = {rate = t.funding_rate, next = t.next_funding_ts}
    end
    for _, h in pairs(ctx.state.open) do
        if h.perp == t.symbol then note_funding(ctx, h.perp, t.funding_rate) end
    end
end

function S.on_fill(ctx, f)
    local st = ctx.state
    local mid = st.rebalance_orders[f.cloid]
    if mid then
        local fee = f.fee_asset == ctx.params.quote and f.fee or f.fee * f.price
        local slip = mid > 0 and math.abs(f.price - mid) * f.qty or 0
        st.rebalance_fees = st.rebalance_fees + fee + slip
    end
end

function S.on_order(ctx, o)
    if FINAL[o.status] then ctx.state.rebalance_orders[o.cloid] = nil end
end

function S.on_timer(ctx, name)
    if name == "scan" then S.enter(ctx) elseif name == "guard" then S.guard(ctx) end
end

-- A closed pair may leave a perp residual from rebalance orders (the leg group closes what
-- it opened): flattened with a reduce-only order when no other pair holds that perp.
local function flatten_residual(ctx, h)
    for _, o in pairs(ctx.state.open) do
        if o.perp == h.perp then return end
    end
    local pos = ctx.position(h.perp)
    if pos and pos.qty ~= 0 then
        local cloid, err = ctx.order{symbol = h.perp, side = pos.qty > 0 and "sell" or "buy",
                                     qty = math.abs(pos.qty), reduce_only = true}
        ctx.log(cloid and "info" or "warn", string.format("flatten the %g residual of %s%s",
                pos.qty, h.perp, cloid and "" or (": " .. tostring(err))))
    end
end

function S.on_hedge(ctx, g)
    local st = ctx.state
    local h = st.open[g.id]
    if not h then return end
    if g.state == "closed" or g.state == "failed" then
        st.open[g.id] = nil
        ctx.log(g.state == "failed" and "warn" or "info",
                "hedge " .. g.id .. " " .. g.state .. ": " .. (g.reason or ""))
        if g.state == "closed" then
            ctx.record("exits", {ts = ctx.now(), perp = h.perp, reason = h.exit_reason or g.reason
                                 or "", held_h = (ctx.now() - h.since) / 3.6e6, qty = h.qty})
        end
        local still = false
        for _, o in pairs(st.open) do still = still or o.perp == h.perp end
        if not still then st.negative_since[h.perp] = nil end
        flatten_residual(ctx, h)
    elseif g.state == "active" then
        if h.state == "closing" and not h.reducing then
            -- The close failed and the host restored the pair: retry with a doubling wait
            -- (each attempt may trade a leg out and back: no storm), and say so.
            local n = (h.close_fails or 0) + 1
            local wait = math.min(ctx.params.guard_s * 2 ^ (n - 1), 3600)
            h.close_fails, h.retry_at = n, ctx.now() + wait * 1000
            ctx.log("warn", string.format("close of %s failed (%d): %s; retry in %g s", h.perp, n,
                                          tostring(g.reason), wait))
            if n == 3 then
                ctx.record("alerts", {ts = ctx.now(), kind = "close_failed", perp = h.perp,
                                      value = n, detail = tostring(g.reason)})
            end
        end
        h.state, h.reducing = "active", nil
        if g.legs[1] and g.legs[1].filled then h.qty = g.legs[1].filled end
    else
        h.state = g.state
    end
    ctx.metric("open_pairs", count_open(ctx))
end

return S
