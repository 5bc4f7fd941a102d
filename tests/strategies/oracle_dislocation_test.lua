-- strategies/oracle_dislocation.lua through the harness: the signal exactly at fees +
-- edge, IOC at the touch, the time stop with reduce-only orders, stale oracle/BBO,
-- refusals by the risk gates without a retry storm, and the daily statistics of a
-- scripted day.
local FILE = "../../strategies/oracle_dislocation.lua"
local SYM = "HYPE/USDC:USDC"
local DAY0 = 1767225600000 -- 2026-01-01T00:00:00Z

local function load(opts)
    opts = opts or {}
    local h = harness.load(FILE, {symbols = {SYM}, params = opts.params, risk = opts.risk,
                                  capital = 10000, now = DAY0,
                                  instruments = {[SYM] = {tick = 0.001, lot = 0.01,
                                                          taker_fee = 0.00045}}})
    h:start()
    h:oracle(SYM, 100)
    return h
end

local function bbo(h, bid, ask, q)
    h:bbo(SYM, {bid = bid, ask = ask, bid_qty = q or 1000, ask_qty = q or 1000})
end

local function orders(h) return h:intents("order") end

-- ---- the signal ------------------------------------------------------------------------------

test("sell when the bid is above the oracle by more than fees + edge (9.5 bps), not at it", function()
    local h = load()
    bbo(h, 100.095, 100.105)                      -- exactly 9.5 bps
    expect_eq(#orders(h), 0)
    bbo(h, 100.096, 100.105)                      -- 9.6 bps
    local o = h:last_intent("order")
    expect_eq({o.side, o.type, o.tif, o.price, o.reduce_only}, {"sell", "limit", "ioc", 100.096, false})
    expect_eq(o.qty, 4.99)                        -- 500 / 100.096, down to the lot
end)

test("buy when the ask is below the oracle by more than fees + edge, not at it", function()
    local h = load()
    bbo(h, 99.895, 99.905)                        -- exactly 9.5 bps
    expect_eq(#orders(h), 0)
    bbo(h, 99.894, 99.904)
    local o = h:last_intent("order")
    expect_eq({o.side, o.tif, o.price}, {"buy", "ioc", 99.904})
end)

test("the threshold follows the params: fee_bps + edge_bps", function()
    local h = load({params = {fee_bps = 2, edge_bps = 1}})
    bbo(h, 100.03, 100.04)                        -- 3 bps: at the threshold
    expect_eq(#orders(h), 0)
    bbo(h, 100.031, 100.04)
    expect_eq(#orders(h), 1)
end)

test("IOC at the touch takes no more than the touch shows", function()
    local h = load()
    bbo(h, 100.2, 100.21, 2.5)
    expect_eq(h:last_intent("order").qty, 2.5)
end)

test("one order in flight per market; the position cap bounds the size", function()
    local h = load({params = {max_position_notional = 700}})
    bbo(h, 100.2, 100.21)
    local o = h:last_intent("order")
    bbo(h, 100.2, 100.21)
    expect_eq(#orders(h), 1, "in flight")
    h:fill(o.cloid)                               -- 4.99 short, IOC done
    bbo(h, 100.2, 100.21)
    local o2 = h:last_intent("order")
    expect_near(o2.qty, 1.99)                     -- 700 / 100.2 = 6.98 - 4.99 held
    h:fill(o2.cloid)
    bbo(h, 100.2, 100.21)
    expect_eq(#orders(h), 2, "at the cap")
end)

-- ---- staleness --------------------------------------------------------------------------------

test("a stale oracle is skipped (older than max_oracle_age_ms)", function()
    local h = load()
    h:set_now(DAY0 + 3001)
    bbo(h, 100.2, 100.21)
    expect_eq(#orders(h), 0)
    h:oracle(SYM, 100)
    bbo(h, 100.2, 100.21)
    expect_eq(#orders(h), 1)
end)

test("a stale BBO is skipped when an oracle update shows the dislocation", function()
    local h = load()
    h:oracle(SYM, 99.505)
    bbo(h, 99.5, 99.51)                           -- no signal
    h:set_now(DAY0 + 2001)
    h:oracle(SYM, 99.0)                           -- now the bid is 50 bps over, but 2.001 s old
    expect_eq(#orders(h), 0)
    h = load()
    h:oracle(SYM, 99.505)
    bbo(h, 99.5, 99.51)
    h:set_now(DAY0 + 2000)
    h:oracle(SYM, 99.0)
    expect_eq(#orders(h), 1)
end)

-- ---- the time stop ------------------------------------------------------------------------------

test("time stop: hold_s after the position opened, a reduce-only market order back to flat", function()
    local h = load()
    bbo(h, 100.2, 100.21)
    local o = h:last_intent("order")
    h:fill(o.cloid)                               -- short 4.99
    expect_eq(h.ctx.state.opened[SYM], DAY0)
    h:advance(29.999)
    expect_eq(#orders(h), 1)
    h:advance(0.001)
    local x = h:last_intent("order")
    expect_eq({x.side, x.type, x.reduce_only, x.qty}, {"buy", "market", true, 4.99})
    h:advance(1)
    expect_eq(#orders(h), 2, "the exit is in flight")
    h:order_update(x.cloid, {status = "canceled"}) -- nothing filled: try again
    h:advance(1)
    expect_eq(#orders(h), 3)
    h:fill(h:last_intent("order").cloid)
    expect_nil(h.ctx.state.opened[SYM])
    expect_eq(h:timers(), {})
end)

test("the time stop survives a reload", function()
    local h = load()
    bbo(h, 100.2, 100.21)
    h:fill(h:last_intent("order").cloid)
    h:advance(10)
    local ok, err = h:reload()
    expect_true(ok, err)
    h:advance(20)
    expect_true(h:last_intent("order").reduce_only)
end)

-- ---- risk gates -----------------------------------------------------------------------------------

test("a gate refusal is counted and not retried on every tick (backoff doubles)", function()
    local refused = 0
    local h = load({risk = function(intent)
        if intent.reduce_only then return nil end
        refused = refused + 1
        return "risk.gates: OracleFresh on HYPE/USDC:USDC: oracle age 3001 ms > 3000 ms"
    end})
    for i = 1, 100 do                             -- 100 BBO updates in 990 ms, signal held
        h:set_now(DAY0 + (i - 1) * 10)
        h:oracle(SYM, 100)
        bbo(h, 100.2, 100.21)
    end
    expect_eq(refused, 1)
    expect_eq(#h:refusals("order"), 1)
    expect_match(h:refusals("order")[1].reason, "^risk%.gates: OracleFresh")
    h:set_now(DAY0 + 1000)                        -- the first wait (1 s) is over
    h:oracle(SYM, 100)
    bbo(h, 100.2, 100.21)
    expect_eq(refused, 2)
    for i = 1, 199 do                             -- the next wait is 2 s
        h:set_now(DAY0 + 1000 + i * 10)
        h:oracle(SYM, 100)
        bbo(h, 100.2, 100.21)
    end
    expect_eq(refused, 2)
    h:set_now(DAY0 + 3000)
    h:oracle(SYM, 100)
    bbo(h, 100.2, 100.21)
    expect_eq(refused, 3)
    h:set_now(DAY0 + 86400000)                    -- next day: the row is written
    bbo(h, 99.99, 100.01)
    expect_eq(h:records("daily_stats")[1].gate_refusals, 3)
    expect_eq(h:records("daily_stats")[1].orders, 0)
end)

test("after the refusals end, orders flow again", function()
    local block = true
    local h = load({risk = function() if block then return "risk.gates: NoBboUpdate" end end})
    bbo(h, 100.2, 100.21)
    block = false
    bbo(h, 100.2, 100.21)
    expect_eq(#orders(h), 0, "still waiting")
    h:set_now(DAY0 + 1000)
    h:oracle(SYM, 100)
    bbo(h, 100.2, 100.21)
    expect_eq(#orders(h), 1)
end)

-- ---- daily statistics ---------------------------------------------------------------------------------

test("daily stats of a scripted day", function()
    local h = load()
    local function at(ms) h:set_now(DAY0 + ms) end
    at(0);    bbo(h, 99.99, 100.01)               -- age 0
    at(100);  bbo(h, 99.99, 100.01)               -- interval 100, age 100
    at(300);  bbo(h, 100.2, 100.22)               -- cross 1 starts (sell): an order
    local o = h:last_intent("order")
    h:order_update(o.cloid, {status = "canceled"}) -- IOC, nothing filled
    at(400);  bbo(h, 100.2, 100.22)               -- cross 1, tick 2
    at(1400); bbo(h, 99.99, 100.01)               -- cross 1 ends: 2 ticks
    at(1500); bbo(h, 0, 100.01)                   -- a null BBO (no bid)
    at(2000); h:oracle(SYM, 100)
              bbo(h, 99.7, 99.8)                  -- cross 2 (buy): an order
    at(2100); bbo(h, 99.99, 100.01)               -- cross 2 ends: 1 tick
    at(86400000); bbo(h, 99.99, 100.01)           -- the next day flushes the first
    local rows = h:records("daily_stats")
    expect_eq(#rows, 1)
    local r = rows[1]
    expect_eq(r.day, "2026-01-01")
    expect_eq(r.symbol, SYM)
    expect_eq(r.checks, 8)
    expect_eq(r.cross_count, 2)
    expect_eq(r.bbo_null_rate, 1 / 8)
    -- oracle ages at the 7 non-null updates: 0 100 300 400 1400 0 100
    expect_eq({r.ctx_age_ms_p50, r.ctx_age_ms_p95, r.ctx_age_ms_p99}, {100, 1400, 1400})
    -- intervals: 100 200 100 1000 100 500 100
    expect_eq({r.bbo_recv_interval_p50, r.bbo_recv_interval_p95, r.bbo_recv_interval_p99},
              {100, 1000, 1000})
    expect_eq({r.cross_duration_ticks_p50, r.cross_duration_ticks_p95, r.cross_duration_ticks_max},
              {1, 2, 2})
    expect_near(r.max_dislocation_bps, 20, 1e-9) -- bid 100.2 and ask 99.8 against 100
    expect_eq(r.orders, 2)
    expect_eq(r.gate_refusals, 0)
    expect_eq(r.stale_skips, 0)
    h:stop()                                      -- the second day's partial row
    rows = h:records("daily_stats")
    expect_eq(#rows, 2)
    expect_eq({rows[2].day, rows[2].checks, rows[2].ctx_age_ms_p50, rows[2].cross_count,
               rows[2].cross_duration_ticks_p50}, {"2026-01-02", 1, 86400000 - 2000, 0, -1})
end)

test("a cross still open at stop counts its ticks so far", function()
    local h = load()
    bbo(h, 100.2, 100.21)
    h:set_now(DAY0 + 10)
    bbo(h, 100.2, 100.21)
    h:stop()
    local r = h:records("daily_stats")[1]
    expect_eq({r.cross_count, r.cross_duration_ticks_max, r.stale_skips}, {1, 2, 0})
end)

test("date_of turns day numbers into UTC dates", function()
    local h = load()
    expect_eq(h.module.date_of(0), "1970-01-01")
    expect_eq(h.module.date_of(math.floor(DAY0 / 86400000)), "2026-01-01")
    expect_eq(h.module.date_of(19782), "2024-02-29")
    expect_eq(h.module.date_of(11016), "2000-02-29")
end)
