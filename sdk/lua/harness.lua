-- Kestrel strategy test harness: the implementation behind `kestrel test`, with LuaLS
-- annotations (put sdk/lua in your editor's "workspace.library" for completion).
--
-- A test file (*_test.lua) registers tests with test(name, fn) (or returns a table of
-- functions) and drives a strategy through a FAKE ctx:
--
--   test("buys the dip", function()
--     local h = harness.load("../strategies/dip.lua", {params = {notional = 100},
--                                                      symbols = {"BTC/USDT:USDT"}})
--     h:start()
--     h:bbo("BTC/USDT:USDT", {bid = 100, ask = 100.1})
--     h:advance(60)                           -- fires ctx.timer timers on a virtual clock
--     local o = h:intents("order")[1]         -- what the strategy asked for
--     expect_eq(o.side, "buy")
--     h:fill(o.cloid)                         -- on_fill, on_position, on_order
--     expect_near(h:position("BTC/USDT:USDT").qty, o.qty)
--   end)
--
-- The strategy runs in the host's own sandbox (same whitelist, text-only load, require
-- from strategies/lib) under the host's instruction budget; every ctx function has the
-- host's signature, phase rules and return conventions (nil, err for refusals; errors
-- for programmer mistakes). Nothing leaves the process: orders, cancels, hedges and
-- transfers are recorded as intents, and the test plays the venue's part.

local native = ...

---@alias harness.Phase "load"|"start"|"event"|"stop"|"closed"|"reload"

local M = {}
local DEFAULT_NOW = 1767225600000 -- 2026-01-01T00:00:00Z, the backtest default start
local MAX_TIMERS, NAME_LEN, ASSET_LEN, LEGS_MAX = 64, 64, 16, 4
local TEST_BUDGET = 2e9 -- instructions per test function (test code itself)

local fmt, unpack, floor = string.format, unpack, math.floor

-- ---- small helpers --------------------------------------------------------------------

local function pack(...)
    return {n = select("#", ...), ...}
end

local function shallow_copy(t)
    local c = {}
    for k, v in pairs(t) do c[k] = v end
    return c
end

local function deep_copy(v, seen)
    if type(v) ~= "table" then return v end
    seen = seen or {}
    if seen[v] then return seen[v] end
    local c = {}
    seen[v] = c
    for k, x in pairs(v) do c[deep_copy(k, seen)] = deep_copy(x, seen) end
    return c
end

local function sorted_keys(t)
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b)
        local ta, tb = type(a), type(b)
        if ta ~= tb then return ta < tb end
        if ta == "number" or ta == "string" then return a < b end
        return tostring(a) < tostring(b)
    end)
    return keys
end

-- A readable rendering of a value for failure messages (no metamethods run).
local function show(v, depth, seen)
    local t = type(v)
    if t == "string" then return (fmt("%q", v):gsub("\\\n", "\\n")) end
    if t == "number" then
        if v ~= v then return "nan" end
        if v == floor(v) and math.abs(v) < 1e15 then return fmt("%d", v) end
        return fmt("%.17g", v)
    end
    if t ~= "table" then return tostring(v) end
    depth, seen = depth or 0, seen or {}
    if seen[v] then return "<cycle>" end
    if depth > 3 then return "{...}" end
    seen[v] = true
    local parts, n = {}, #v
    for i = 1, n do parts[#parts + 1] = show(v[i], depth + 1, seen) end
    for _, k in ipairs(sorted_keys(v)) do
        if not (type(k) == "number" and k >= 1 and k <= n and k == floor(k)) then
            local ks = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. show(k) .. "]"
            parts[#parts + 1] = ks .. " = " .. show(v[k], depth + 1, seen)
        end
        if #parts > 40 then parts[#parts + 1] = "..."; break end
    end
    seen[v] = nil
    return "{" .. table.concat(parts, ", ") .. "}"
end

-- nil when equal, else the path of the first difference.
local function diff(a, b, path, seen)
    if a == b then return nil end
    if type(a) ~= "table" or type(b) ~= "table" then return path end
    seen = seen or {}
    if seen[a] == b then return nil end
    seen[a] = b
    for k, v in pairs(a) do
        local p = diff(v, b[k], path .. (type(k) == "string" and "." .. k or "[" .. show(k) .. "]"), seen)
        if p then return p end
    end
    for k, v in pairs(b) do
        if a[k] == nil then
            return path .. (type(k) == "string" and "." .. k or "[" .. show(k) .. "]")
        end
    end
    return nil
end

local function get_path(v, path)
    for part in path:gmatch("[^%.%[%]]+") do
        if type(v) ~= "table" then return nil end
        local n = tonumber(part)
        v = v[part] ~= nil and v[part] or (n and v[n]) or v[part:match('^"(.*)"$') or part]
    end
    return v
end

local function round_to(x, step, mode)
    if not step or step <= 0 then return x end
    local q = x / step
    local n = mode == "up" and math.ceil(q - 1e-9) or floor(q + 1e-9)
    return tonumber(fmt("%.12g", n * step))
end

local function first_line(s)
    s = tostring(s)
    return (s:match("^([^\n]*)"))
end

local function dirname(path)
    return path:match("^(.*)/[^/]*$") or "."
end

-- ---- argument checks with the Lua C API's messages ---------------------------------------

local function typename(v)
    return type(v)
end

local function argerr(n, fname, expected, v)
    error(fmt("bad argument #%d to '%s' (%s expected, got %s)", n, fname, expected, typename(v)), 0)
end

local function check_string(v, n, fname)
    if type(v) == "number" then return tostring(v) end
    if type(v) ~= "string" then argerr(n, fname, "string", v) end
    return v
end

local function opt_string(v, n, fname, default)
    if v == nil then return default end
    return check_string(v, n, fname)
end

local function check_number(v, n, fname)
    local x = tonumber(v)
    if type(v) ~= "number" and (type(v) ~= "string" or x == nil) then argerr(n, fname, "number", v) end
    return x
end

local function opt_number(v, n, fname, default)
    if v == nil then return default end
    return check_number(v, n, fname)
end

local function check_table(v, n, fname)
    if type(v) ~= "table" then argerr(n, fname, "table", v) end
    return v
end

local function check_fields(t, known, what)
    for k in pairs(t) do
        if type(k) ~= "string" or not known[k] then
            error(fmt("%s: unknown field '%s'", what, type(k) == "string" and k or "?"), 0)
        end
    end
end

local function set_of(list)
    local s = {}
    for _, v in ipairs(list) do s[v] = true end
    return s
end

local SIDES = set_of {"buy", "sell"}
local TYPES = set_of {"market", "limit"}
local TIFS = set_of {"gtc", "ioc", "fok", "post_only"}
local WALLETS = set_of {"spot", "futures", "unified"}
local STATUSES = set_of {"new", "sent", "acked", "partial", "filled", "canceled", "rejected",
                         "expired", "unknown"}
local FINAL = set_of {"filled", "canceled", "rejected", "expired"}
local HEDGE_STATES = set_of {"idle", "opening", "active", "closing", "closed", "failed"}
local LEVELS = set_of {"debug", "info", "warn", "error"}
local ON_DISABLE = set_of {"hold", "cancel", "flatten"}
local MODES = set_of {"live", "paper", "observer"}

local PHASE_NAME = {
    load = "the strategy's top level", start = "on_start", event = "a callback",
    stop = "on_stop", closed = "a disabled strategy", reload = "on_reload",
}
local ANY = set_of {"load", "start", "event", "stop", "reload"}
local RUNNING = set_of {"start", "event", "stop", "reload"}
local SENDING = set_of {"start", "event", "reload"}
local CANCELING = set_of {"start", "event", "stop", "reload"}

-- The callbacks the host may call, in the order kestrel.lua documents them.
M.CALLBACKS = {"on_start", "on_stop", "on_bbo", "on_book", "on_trade", "on_ticker", "on_oracle",
               "on_liquidation", "on_order", "on_fill", "on_position", "on_timer", "on_hedge",
               "on_transfer", "on_risk", "on_reload", "on_params"}

-- ---- the harness object ----------------------------------------------------------------

---A strategy loaded against a fake ctx. Create with harness.load().
---@class kestrel.Harness
---@field ctx kestrel.Ctx the strategy's ctx (ctx.state, ctx.params... are live)
---@field module table the table the strategy file returned
---@field file string the strategy file
---@field name string ctx.name
---@field metrics table<string, number> values set with ctx.metric
---@field notes string[] texts given to ctx.report_note, in order, each once
local H = {}
H.__index = H

---@class harness.Options
---@field name? string ctx.name (default: the file's name without .lua)
---@field params? table the config's params (type-checked against the strategy's defaults)
---@field symbols? string[] ctx.symbols; each becomes a known instrument
---@field mode? kestrel.Mode default "live"; "observer" refuses orders, hedges, transfers
---@field capital? number|string ctx.capital (nil: not configured)
---@field venue? string default "sim"
---@field venues? string[] other venue names ctx functions accept
---@field state? table the stored ctx.state to start from (as after a restart)
---@field now? number virtual time, ms since the epoch (default 2026-01-01T00:00:00Z)
---@field instruments? table<string, harness.Spec> instrument specs by symbol
---@field instruction_budget? integer per callback (default 10,000,000, like the host)
---@field max_errors? integer errors within error_window_s that disable (default 10)
---@field error_window_s? number default 60
---@field on_disable? "hold"|"cancel"|"flatten" default "cancel"
---@field errors? "raise"|"host" "raise" (default): a callback error fails the test
---   (after being recorded); "host": recorded, counted and auto-disabled like the host
---@field risk? fun(intent: table): string|nil return a reason to refuse an order or hedge leg

---Instrument spec. Defaults: tick 0.01, lot 0.001, min_qty = lot, min_notional 0,
---maker_fee 0.0002, taker_fee 0.0005, spec_version 1, funding_interval_h 8 for perps.
---@class harness.Spec
---@field tick? number
---@field lot? number
---@field min_qty? number
---@field min_notional? number
---@field maker_fee? number
---@field taker_fee? number
---@field spec_version? integer
---@field funding_interval_h? number
---@field kind? "spot"|"perp"
---@field venue? string

local function file_stem(path)
    return (path:match("([^/]+)%.lua$") or path:match("([^/]+)$") or "test"):gsub("[^%w_]", "_")
end

local function resolve(path, base_dir)
    if path:sub(1, 1) == "/" then return path end
    local candidate = base_dir .. "/" .. path
    if native.readable(candidate) then return candidate end
    return path
end

function H:_inst(symbol, venue)
    venue = venue or self.venue
    if not self._venues[venue] then return nil end
    return self._insts[venue .. "\31" .. symbol]
end

---Declares (or changes) an instrument. Unknown symbols are refused like on the venue.
---@param symbol string
---@param spec? harness.Spec
---@return kestrel.Harness self
function H:instrument(symbol, spec)
    spec = spec or {}
    local venue = spec.venue or self.venue
    self._venues[venue] = true
    local key = venue .. "\31" .. symbol
    local r = self._insts[key]
    if not r then
        local base, quote, settle = symbol:match("^([^/]+)/([^:]+):?(.*)$")
        r = {symbol = symbol, venue = venue, base = base or symbol, quote = quote or "USDT",
             kind = (settle and settle ~= "") and "perp" or "spot", tick = 0.01, lot = 0.001,
             min_notional = 0, maker_fee = 0.0002, taker_fee = 0.0005, spec_version = 1,
             state = {}}
        r.funding_interval_h = r.kind == "perp" and 8 or nil
        self._insts[key] = r
    end
    for k, v in pairs(spec) do
        if k ~= "venue" then r[k] = v end
    end
    if spec.lot and not spec.min_qty then r.min_qty = nil end
    r.min_qty = r.min_qty or r.lot
    return self
end

-- The host's kestrel.Market table for an instrument record.
function H:_market(r)
    local s, now = r.state, self._now
    local m = {symbol = r.symbol, venue = r.venue, base = r.base, quote = r.quote, kind = r.kind,
               tick = r.tick, lot = r.lot, min_qty = r.min_qty, min_notional = r.min_notional,
               maker_fee = r.maker_fee, taker_fee = r.taker_fee, spec_version = r.spec_version}
    if s.bbo_ts then
        m.bid, m.ask, m.bid_qty, m.ask_qty = s.bid, s.ask, s.bid_qty, s.ask_qty
        m.bbo_age_ms = now - s.bbo_ts
    end
    if s.bid and s.ask and s.bid > 0 and s.ask > 0 then
        m.mid = (s.bid + s.ask) / 2
    elseif s.last then
        m.mid = s.last
    end
    m.last, m.mark, m.index = s.last, s.mark, s.index
    m.funding_rate, m.next_funding_ts, m.open_interest = s.funding_rate, s.next_funding_ts,
        s.open_interest
    m.volume_24h = s.volume_24h
    m.funding_interval_h = s.funding_interval_h or r.funding_interval_h
    if m.funding_rate and m.funding_interval_h and m.funding_interval_h > 0 then
        m.funding_rate_8h = m.funding_rate / m.funding_interval_h * 8
    end
    if s.ticker_ts then m.ticker_age_ms = now - s.ticker_ts end
    if s.oracle then
        m.oracle = s.oracle
        m.oracle_age_ms = now - (s.oracle_ts or now)
    end
    return m
end

function H:_check_phase(allowed, fname)
    if not allowed[self._phase] then
        error(fmt("ctx.%s is not allowed in %s", fname, PHASE_NAME[self._phase]), 0)
    end
end

function H:_intent(kind, t)
    self._seq = self._seq + 1
    t.kind, t.seq, t.ts, t.callback = kind, self._seq, floor(self._now), self._cb
    self._intents[#self._intents + 1] = t
    return t
end

function H:_refuse(kind, reason, spec)
    self._refusals[#self._refusals + 1] = {kind = kind, reason = reason, spec = deep_copy(spec),
                                           ts = floor(self._now), callback = self._cb}
    return nil, reason
end

function H:_log(level, msg)
    self._logs[#self._logs + 1] = {level = level, msg = msg, ts = floor(self._now)}
    if self._echo then native.write(fmt("        [%s] %s\n", level, msg)) end
end

local function position_table(h, r)
    local p = h._positions[r.venue .. "\31" .. r.symbol] or {}
    local qty, avg = p.qty or 0, p.avg_entry or 0
    local m = r.state
    local px = m.mark or (m.bid and m.ask and (m.bid + m.ask) / 2) or m.last or avg
    return {symbol = r.symbol, qty = qty, avg_entry = avg, realized_pnl = p.realized_pnl or 0,
            unrealized_pnl = qty ~= 0 and (px - avg) * qty or 0, fees = p.fees or 0,
            funding = p.funding or 0}
end

local function order_table(o)
    return {cloid = o.cloid, symbol = o.symbol, status = o.status, side = o.side, type = o.type,
            price = o.price, qty = o.qty, filled = o.filled, avg_price = o.avg_price, fee = o.fee,
            reason = o.reason, reject = o.reject, ts = o.ts}
end

local function hedge_table(g)
    local legs = {}
    for i, l in ipairs(g.legs) do
        legs[i] = {symbol = l.symbol, side = l.side, qty = l.qty, filled = l.filled,
                   avg_price = l.avg_price}
    end
    return {id = g.id, state = g.state, reason = g.reason, tag = g.tag, legs = legs}
end

-- ---- the fake ctx ------------------------------------------------------------------------

local api = {}

function api.now(h)
    h:_check_phase(ANY, "now")
    return floor(h._now)
end

function api.log(h, ...)
    h:_check_phase(ANY, "log")
    local n, a, b = select("#", ...), ...
    local level, msg, argn = "info", a, 1
    if n >= 2 and type(a) == "string" and LEVELS[a] then level, msg, argn = a, b, 2 end
    msg = check_string(msg, argn, "log")
    if #msg > 2000 then msg = msg:sub(1, 2000) end
    h:_log(level, msg)
end

function api.report_note(h, text)
    h:_check_phase(ANY, "report_note")
    text = check_string(text, 1, "report_note")
    if #text == 0 or #text > 300 or text:find("%z") then
        error("ctx.report_note: text must be 1..300 bytes of text", 0)
    end
    for _, t in ipairs(h.notes) do
        if t == text then return end
    end
    if #h.notes >= 32 then error("ctx.report_note: too many notes (32)", 0) end
    h.notes[#h.notes + 1] = text
end

function api.metric(h, name, value)
    h:_check_phase(ANY, "metric")
    name = check_string(name, 1, "metric")
    value = check_number(value, 2, "metric")
    if #name == 0 or #name >= NAME_LEN then
        error(fmt("ctx.metric: name must be 1..%d characters", NAME_LEN - 1), 0)
    end
    if name:find("[^%w_]") then error("ctx.metric: name must match [A-Za-z0-9_]+", 0) end
    if h.metrics[name] == nil then
        local count = 0
        for _ in pairs(h.metrics) do count = count + 1 end
        if count >= 256 then error("ctx.metric: too many metrics (256)", 0) end
    end
    h.metrics[name] = value
end

function api.market(h, symbol, venue)
    h:_check_phase(RUNNING, "market")
    symbol = check_string(symbol, 1, "market")
    venue = opt_string(venue, 2, "market")
    local r = h:_inst(symbol, venue)
    if not r then return nil, "unknown symbol " .. symbol end
    return h:_market(r)
end

local MARKET_FILTERS = set_of {"venue", "kind", "quote", "base", "min_volume_24h",
                               "min_funding_8h", "max_funding_8h", "symbols"}

function api.markets(h, filter)
    h:_check_phase(RUNNING, "markets")
    local venue = h.venue
    local kind, quote, base, min_vol, min_f, max_f, symbols
    if filter ~= nil then
        check_table(filter, 1, "markets")
        for k in pairs(filter) do
            if type(k) ~= "string" or not MARKET_FILTERS[k] then
                error(fmt("ctx.markets: unknown filter '%s'", type(k) == "string" and k or "?"), 0)
            end
        end
        if filter.venue ~= nil then
            venue = check_string(filter.venue, -1, "markets")
            if not h._venues[venue] then error(fmt("ctx.markets: unknown venue '%s'", venue), 0) end
        end
        kind = opt_string(filter.kind, -1, "markets")
        if kind and kind ~= "spot" and kind ~= "perp" then
            error('ctx.markets: kind must be "spot" or "perp"', 0)
        end
        quote = opt_string(filter.quote, -1, "markets")
        base = opt_string(filter.base, -1, "markets")
        min_vol = opt_number(filter.min_volume_24h, -1, "markets")
        min_f = opt_number(filter.min_funding_8h, -1, "markets")
        max_f = opt_number(filter.max_funding_8h, -1, "markets")
        if filter.symbols ~= nil then symbols = set_of(check_table(filter.symbols, -1, "markets")) end
    end
    local out = {}
    for _, r in pairs(h._insts) do
        local m = r.venue == venue and h:_market(r)
        local ok = m and (not kind or m.kind == kind) and (not quote or m.quote == quote)
            and (not base or m.base == base)
            and (not min_vol or (m.volume_24h and m.volume_24h >= min_vol))
            and (not symbols or symbols[m.symbol])
        if ok and (min_f or max_f) then
            local f8 = m.funding_rate_8h
            ok = f8 ~= nil and (not min_f or f8 >= min_f) and (not max_f or f8 <= max_f)
        end
        if ok then out[#out + 1] = m end
    end
    table.sort(out, function(a, b) return a.symbol < b.symbol end)
    return out
end

function api.subscribe(h, symbol, venue)
    h:_check_phase(SENDING, "subscribe")
    symbol = check_string(symbol, 1, "subscribe")
    venue = opt_string(venue, 2, "subscribe")
    if venue and not h._venues[venue] then return nil, "unknown venue " .. venue end
    h._subscriptions[#h._subscriptions + 1] = {symbol = symbol, venue = venue or h.venue}
    return true
end

local ORDER_FIELDS = set_of {"symbol", "side", "qty", "price", "type", "tif", "reduce_only", "venue"}

local function enum(v, set, field, what)
    v = check_string(v, -1, what)
    if not set[v] then
        error(fmt("ctx.order: %s must be one of the documented values, got '%s'", field, v), 0)
    end
    return v
end

-- Rounds and checks an order like the host's order path; returns the shaped fields or
-- nil, reason.
function H:_shape(r, side, otype, qty, price, reduce_only)
    local q = round_to(qty, r.lot, "down")
    local px = price and round_to(price, r.tick, side == "buy" and "down" or "up")
    if q <= 0 or q < (r.min_qty or 0) - 1e-12 then
        return nil, fmt("qty %s (after rounding to lot) is below the minimum %s of %s",
                        show(q), show(r.min_qty or 0), r.symbol)
    end
    local ref = px
    if otype == "market" then
        local s = r.state
        ref = side == "buy" and s.ask or s.bid
        if not ref or ref <= 0 then ref = s.mark end
        if not ref then
            return nil, fmt("no price yet for %s: a market order needs a quote", r.symbol)
        end
    end
    if (r.min_notional or 0) > 0 and not reduce_only and q * ref < r.min_notional then
        return nil, fmt("notional %s is below the minimum %s of %s", show(q * ref),
                        show(r.min_notional), r.symbol)
    end
    return q, px
end

function api.order(h, spec)
    h:_check_phase(SENDING, "order")
    check_table(spec, 1, "order")
    check_fields(spec, ORDER_FIELDS, "ctx.order")
    local symbol = check_string(spec.symbol, -1, "order")
    local venue = spec.venue ~= nil and check_string(spec.venue, -1, "order") or nil
    local side = enum(spec.side, SIDES, "side", "order")
    local qty = check_number(spec.qty, -1, "order")
    local has_price = spec.price ~= nil
    local price = has_price and check_number(spec.price, -1, "order") or nil
    local otype = spec.type == nil and (has_price and "limit" or "market")
        or enum(spec.type, TYPES, "type", "order")
    local tif = spec.tif == nil and (otype == "market" and "ioc" or "gtc")
        or enum(spec.tif, TIFS, "tif", "order")
    local reduce_only = spec.reduce_only and true or false
    if otype == "limit" and not has_price then error("ctx.order: a limit order needs a price", 0) end
    if not (qty > 0) or qty == math.huge then error("ctx.order: qty must be a positive number", 0) end
    if has_price and (not (price > 0) or price == math.huge) then
        error("ctx.order: price must be a positive number", 0)
    end
    if h.mode == "observer" then
        return h:_refuse("order", "observer mode: orders are never sent", spec)
    end
    local r = h:_inst(symbol, venue)
    if not r then return h:_refuse("order", "unknown symbol " .. symbol, spec) end
    local q, px = h:_shape(r, side, otype, qty, otype == "limit" and price or nil, reduce_only)
    if not q then return h:_refuse("order", px, spec) end
    local intent = {cloid = nil, symbol = symbol, venue = r.venue, side = side, type = otype,
                    tif = tif, qty = q, price = px, reduce_only = reduce_only,
                    requested_qty = qty, requested_price = price}
    if h._risk then
        local reason = h._risk(deep_copy(intent))
        if reason then return h:_refuse("order", reason, spec) end
    end
    h._cloid_seq = h._cloid_seq + 1
    intent.cloid = fmt("%s-test-%d", h.name, h._cloid_seq)
    h:_intent("order", intent)
    local o = {cloid = intent.cloid, symbol = symbol, venue = r.venue, status = "sent", side = side,
               type = otype, tif = tif, price = px or 0, qty = q, filled = 0, avg_price = 0,
               fee = 0, reduce_only = reduce_only, ts = floor(h._now)}
    h._orders[o.cloid] = o
    h._order_list[#h._order_list + 1] = o
    return o.cloid
end

function H:_cancel_order(o, via)
    self:_intent("cancel", {cloid = o.cloid, symbol = o.symbol, via = via})
end

function api.cancel(h, cloid)
    h:_check_phase(CANCELING, "cancel")
    cloid = check_string(cloid, 1, "cancel")
    local o = h._orders[cloid]
    if not o then return h:_refuse("cancel", "no such order " .. cloid, {cloid = cloid}) end
    if FINAL[o.status] then
        return h:_refuse("cancel", fmt("order %s is already %s", cloid, o.status), {cloid = cloid})
    end
    h:_cancel_order(o, "cancel")
    return true
end

function api.cancel_all(h, symbol)
    h:_check_phase(CANCELING, "cancel_all")
    symbol = opt_string(symbol, 1, "cancel_all")
    local n = 0
    for _, o in ipairs(h._order_list) do
        if not FINAL[o.status] and (not symbol or o.symbol == symbol) then
            h:_cancel_order(o, "cancel_all")
            n = n + 1
        end
    end
    return n
end

function api.amend(h, cloid, changes)
    h:_check_phase(SENDING, "amend")
    cloid = check_string(cloid, 1, "amend")
    check_table(changes, 2, "amend")
    local price = changes.price ~= nil and check_number(changes.price, -1, "amend") or 0
    local qty = changes.qty ~= nil and check_number(changes.qty, -1, "amend") or 0
    if price < 0 or qty < 0 or (price == 0 and qty == 0) then
        error("ctx.amend: give a positive price and/or qty", 0)
    end
    local o = h._orders[cloid]
    if not o then return h:_refuse("amend", "no such order " .. cloid, {cloid = cloid}) end
    if FINAL[o.status] then
        return h:_refuse("amend", fmt("order %s is already %s", cloid, o.status), {cloid = cloid})
    end
    local r = h:_inst(o.symbol, o.venue)
    local q = qty > 0 and round_to(qty, r.lot, "down") or nil
    if q and q < (r.min_qty or 0) - 1e-12 then
        return h:_refuse("amend", "amended qty is below the minimum of " .. o.symbol, {cloid = cloid})
    end
    local px = price > 0 and round_to(price, r.tick, o.side == "buy" and "down" or "up") or nil
    h:_intent("amend", {cloid = cloid, symbol = o.symbol, price = px, qty = q})
    return true
end

function api.get_order(h, cloid)
    h:_check_phase(RUNNING, "get_order")
    local o = h._orders[check_string(cloid, 1, "get_order")]
    return o and order_table(o) or nil
end

function api.open_orders(h, symbol)
    h:_check_phase(RUNNING, "open_orders")
    symbol = opt_string(symbol, 1, "open_orders")
    local out = {}
    for _, o in ipairs(h._order_list) do
        if not FINAL[o.status] and (not symbol or o.symbol == symbol) then
            out[#out + 1] = order_table(o)
        end
    end
    return out
end

local HEDGE_FIELDS = set_of {"legs", "open_timeout_ms", "max_slippage_bps", "balance", "tag"}
local LEG_FIELDS = set_of {"symbol", "side", "qty", "venue"}

function api.hedge(h, spec)
    h:_check_phase(SENDING, "hedge")
    check_table(spec, 1, "hedge")
    check_fields(spec, HEDGE_FIELDS, "ctx.hedge")
    local timeout = opt_number(spec.open_timeout_ms, -1, "hedge", 5000)
    if not (timeout > 0) or timeout > 3600000 then
        error("ctx.hedge: open_timeout_ms must be in (0, 3600000]", 0)
    end
    local slip = opt_number(spec.max_slippage_bps, -1, "hedge", 50)
    if not (slip >= 0) or slip > 10000 then error("ctx.hedge: max_slippage_bps must be in [0, 10000]", 0) end
    local balance = opt_string(spec.balance, -1, "hedge", "trim")
    if balance ~= "trim" and balance ~= "top_up" then
        error('ctx.hedge: balance must be "trim" or "top_up"', 0)
    end
    local tag = opt_string(spec.tag, -1, "hedge")
    local legs_in = check_table(spec.legs, -1, "hedge")
    local n = #legs_in
    if n < 2 or n > LEGS_MAX then
        error(fmt("ctx.hedge: legs must be a list of 2 to %d legs", LEGS_MAX), 0)
    end
    local legs = {}
    for i = 1, n do
        local leg = check_table(legs_in[i], -1, "hedge")
        for k in pairs(leg) do
            if type(k) ~= "string" or not LEG_FIELDS[k] then
                error(fmt("ctx.hedge: legs[%d]: unknown field '%s'", i, type(k) == "string" and k or "?"), 0)
            end
        end
        local symbol = check_string(leg.symbol, -1, "hedge")
        local venue = leg.venue ~= nil and check_string(leg.venue, -1, "hedge") or nil
        local side = check_string(leg.side, -1, "hedge")
        local qty = check_number(leg.qty, -1, "hedge")
        if not SIDES[side] then error(fmt('ctx.hedge: legs[%d].side must be "buy" or "sell"', i), 0) end
        if not (qty > 0) or qty == math.huge then
            error(fmt("ctx.hedge: legs[%d].qty must be a positive number", i), 0)
        end
        local r = h:_inst(symbol, venue)
        if not r then return h:_refuse("hedge", fmt("legs[%d]: unknown symbol %s", i, symbol), spec) end
        legs[i] = {r = r, symbol = symbol, venue = r.venue, side = side, qty = qty}
    end
    if h.mode == "observer" then return h:_refuse("hedge", "observer mode: orders are never sent", spec) end
    for i, l in ipairs(legs) do
        local s = l.r.state
        local touch = l.side == "buy" and s.ask or s.bid
        if not touch or touch <= 0 or not (s.bid and s.ask) then
            return h:_refuse("hedge", fmt("leg %d (%s): no quote yet", i, l.symbol), spec)
        end
        local mid = (s.bid + s.ask) / 2
        local bps = (touch - mid) / mid * 1e4 * (l.side == "buy" and 1 or -1)
        if slip > 0 and bps > slip then
            return h:_refuse("hedge", fmt("leg %d (%s): touch is %.1f bps from mid, above max_slippage_bps %d",
                                          i, l.symbol, bps, slip), spec)
        end
        local q, err = h:_shape(l.r, l.side, "market", l.qty, nil, false)
        if not q then return h:_refuse("hedge", fmt("leg %d (%s): %s", i, l.symbol, err), spec) end
        l.qty = q
        if h._risk then
            local reason = h._risk({symbol = l.symbol, venue = l.venue, side = l.side, type = "market",
                                    tif = "ioc", qty = q, reduce_only = false, hedge = true})
            if reason then return h:_refuse("hedge", fmt("leg %d (%s): %s", i, l.symbol, reason), spec) end
        end
    end
    h._hedge_seq = h._hedge_seq + 1
    local id = fmt("htest-%d", h._hedge_seq)
    local g = {id = id, state = "opening", reason = "opening", tag = tag, legs = {}}
    local ilegs = {}
    for i, l in ipairs(legs) do
        g.legs[i] = {symbol = l.symbol, venue = l.venue, side = l.side, qty = l.qty, filled = 0,
                     avg_price = 0}
        ilegs[i] = {symbol = l.symbol, venue = l.venue, side = l.side, qty = l.qty}
    end
    h._hedges[id] = g
    h._hedge_list[#h._hedge_list + 1] = g
    h:_intent("hedge", {id = id, legs = ilegs, open_timeout_ms = timeout, max_slippage_bps = slip,
                        balance = balance, tag = tag})
    return id
end

function api.close_hedge(h, id, fraction)
    h:_check_phase(CANCELING, "close_hedge")
    id = check_string(id, 1, "close_hedge")
    if fraction ~= nil and (type(fraction) ~= "number" or not (fraction > 0) or fraction > 1) then
        error("ctx.close_hedge: fraction must be in (0, 1]", 2)
    end
    local g = h._hedges[id]
    if not g then return h:_refuse("close_hedge", "no such hedge " .. id, {id = id}) end
    if g.state ~= "active" then
        return h:_refuse("close_hedge",
                         fmt("hedge %s is %s; only an active hedge can be closed", id, g.state), {id = id})
    end
    local full = fraction == nil or fraction >= 1
    g.state, g.reason = "closing", full and "close requested" or "reduce requested"
    h:_intent("close_hedge", {id = id, fraction = fraction or 1})
    return true
end

function api.get_hedge(h, id)
    h:_check_phase(RUNNING, "get_hedge")
    local g = h._hedges[check_string(id, 1, "get_hedge")]
    return g and hedge_table(g) or nil
end

function api.hedges(h)
    h:_check_phase(RUNNING, "hedges")
    local out = {}
    for _, g in ipairs(h._hedge_list) do
        if g.state ~= "closed" and g.state ~= "failed" then out[#out + 1] = hedge_table(g) end
    end
    return out
end

function api.position(h, symbol, venue)
    h:_check_phase(RUNNING, "position")
    symbol = check_string(symbol, 1, "position")
    local r = h:_inst(symbol, opt_string(venue, 2, "position"))
    if not r then return nil, "unknown symbol " .. symbol end
    return position_table(h, r)
end

function api.positions(h)
    h:_check_phase(RUNNING, "positions")
    local out = {}
    for _, key in ipairs(sorted_keys(h._positions)) do
        local p = h._positions[key]
        if p.qty and p.qty ~= 0 then
            out[#out + 1] = position_table(h, h._insts[key])
        end
    end
    return out
end

function api.balance(h, asset, wallet)
    h:_check_phase(RUNNING, "balance")
    asset = check_string(asset, 1, "balance")
    wallet = opt_string(wallet, 2, "balance", "futures")
    if not WALLETS[wallet] then error("ctx.balance: wallet must be spot, futures or unified", 0) end
    local b = h._balances[wallet .. "\31" .. asset]
    if not b and wallet == "futures" then b = h._balances["unified\31" .. asset] end
    if not b then return nil, fmt("no %s balance for %s", wallet, asset) end
    return shallow_copy(b)
end

function api.margin_level(h, venue)
    h:_check_phase(RUNNING, "margin_level")
    venue = opt_string(venue, 1, "margin_level")
    if venue and not h._venues[venue] then
        error(fmt("ctx.margin_level: unknown venue '%s'", venue), 0)
    end
    return h._margin[venue or h.venue]
end

function api.equity(h)
    h:_check_phase(RUNNING, "equity")
    local e = h.ctx_capital or 0
    for key in pairs(h._positions) do
        local p = position_table(h, h._insts[key])
        e = e + p.realized_pnl + p.unrealized_pnl + p.funding - p.fees
    end
    return e
end

function api.record(h, name, row)
    h:_check_phase(RUNNING, "record")
    name = check_string(name, 1, "record")
    check_table(row, 2, "record")
    if #name == 0 or #name > 32 then error("ctx.record: name must be 1..32 characters", 0) end
    if name:find("[^a-z0-9_]") then error("ctx.record: name must match [a-z0-9_]+", 0) end
    for k, v in pairs(row) do
        local t = type(v)
        if type(k) ~= "string" or not (t == "number" or t == "string" or t == "boolean") then
            error("ctx.record: a row maps names to numbers, strings or booleans", 0)
        end
    end
    local json, err = native.to_json(row, "row")
    if not json then error("ctx.record: " .. err, 0) end
    if #json > 8192 then error("ctx.record: row larger than 8 KiB", 0) end
    local rows = h._records[name] or {}
    h._records[name] = rows
    rows[#rows + 1] = native.from_json(json)
    return true
end

local function wallet_arg(v)
    v = check_string(v, -1, "transfer")
    if not WALLETS[v] then
        error(fmt("ctx.transfer: wallet must be spot, futures or unified, got '%s'", v), 0)
    end
    return v
end

function api.transfer(h, spec)
    h:_check_phase(SENDING, "transfer")
    check_table(spec, 1, "transfer")
    local asset = check_string(spec.asset, -1, "transfer")
    local amount = check_number(spec.amount, -1, "transfer")
    local from, to = wallet_arg(spec.from), wallet_arg(spec.to)
    local venue = h.venue
    if spec.venue ~= nil then
        venue = check_string(spec.venue, -1, "transfer")
        if not h._venues[venue] then error(fmt("ctx.transfer: unknown venue '%s'", venue), 0) end
    end
    if #asset >= ASSET_LEN or from == to then error("ctx.transfer: invalid asset or wallets", 0) end
    if h.mode == "observer" then
        return h:_refuse("transfer", "observer mode: transfers are never sent", spec)
    end
    if not (amount > 0) or amount == math.huge then
        error("ctx.transfer: amount must be a positive number", 0)
    end
    h._transfer_seq = h._transfer_seq + 1
    local id = tostring(h._transfer_seq)
    local t = {id = id, asset = asset, amount = amount, from = from, to = to, venue = venue}
    h._transfers[id] = t
    h:_intent("transfer", shallow_copy(t))
    return id
end

function api.timer(h, name, after, every)
    h:_check_phase(SENDING, "timer")
    name = check_string(name, 1, "timer")
    after = check_number(after, 2, "timer")
    every = opt_number(every, 3, "timer", 0)
    if not (after >= 0) or not (every >= 0) or after > 1e7 or every > 1e7 then
        error("ctx.timer: times must be seconds in [0, 1e7]", 0)
    end
    if every > 0 and every < 0.001 then error("ctx.timer: a repeating timer needs at least 1 ms", 0) end
    if #name >= NAME_LEN then error("ctx.timer: name too long", 0) end
    h:_cancel_timer(name)
    local count = 0
    for _ in pairs(h._timers) do count = count + 1 end
    if count >= MAX_TIMERS then error("ctx.timer: too many timers (64)", 0) end
    h._timer_seq = h._timer_seq + 1
    h._timers[name] = {name = name, at = h._now + after * 1000,
                       every = every > 0 and every or nil, seq = h._timer_seq}
end

function H:_cancel_timer(name)
    self._timers[name] = nil
end

function api.cancel_timer(h, name)
    h:_check_phase(RUNNING, "cancel_timer")
    h:_cancel_timer(check_string(name, 1, "cancel_timer"))
end

-- Builds a ctx table for the running version of the strategy.
function H:_new_ctx(params, state)
    local ctx = {name = self.name, mode = self.mode, venue = self.venue, params = params,
                 capital = self.ctx_capital, state = state}
    ctx.symbols = {}
    for i, s in ipairs(self.symbols) do ctx.symbols[i] = s end
    local h = self
    for name, impl in pairs(api) do
        ctx[name] = function(...)
            return native.free_call(impl, h, ...)
        end
    end
    return ctx
end

-- ---- loading ------------------------------------------------------------------------------

-- Compiles and runs a strategy file in a fresh sandbox; returns module or nil, err.
function H:_compile(path)
    local env = native.new_env(path)
    local h = self
    env.print = function(...)
        local parts = {}
        for i = 1, select("#", ...) do
            local v = select(i, ...)
            local t = type(v)
            parts[i] = (t == "string" or t == "number" or t == "nil" or t == "boolean")
                and tostring(v) or t
        end
        h:_log("info", table.concat(parts, "\t"):sub(1, 4096))
    end
    local fn, err = native.compile(path, env)
    if not fn then return nil, err end
    local saved = self._phase
    self._phase = "load"
    local res = pack(native.run(self._limit, fn))
    self._phase = saved
    if not res[1] then return nil, first_line(res[2]), res[3] end
    local module = res[2]
    if type(module) ~= "table" then
        return nil, fmt("%s: the strategy must return a table of callbacks, got %s", path, type(module))
    end
    return module
end

-- ctx.params: the module's defaults overridden by the configured params (host rules).
function H:_build_params(module, params)
    local defaults = rawget(module, "params")
    local pjson, err = native.to_json(params or {}, "params")
    if not pjson then return nil, err end
    if type(defaults) == "table" then
        local djson
        djson, err = native.to_json(defaults, "params")
        if not djson then return nil, err end
        local ok
        ok, err = native.check_params(self.name, djson, pjson)
        if not ok then return nil, err end
    end
    local out = {}
    if type(defaults) == "table" then
        for k, v in next, defaults do out[k] = v end
    end
    local given = native.from_json(pjson)
    for k, v in pairs(given) do
        if type(defaults) == "table" and rawget(defaults, k) == nil then
            return nil, fmt("strategies.%s.params.%s: unknown parameter (the strategy declares no default for it)",
                            self.name, k)
        end
        out[k] = v
    end
    return out
end

-- ctx.state as the host stores it (a JSON round trip): a copy, or nil, err.
function H:_state_roundtrip(ctx)
    local json, err = native.to_json(rawget(ctx, "state"), "ctx.state")
    if not json then return nil, err end
    local v = native.from_json(json)
    if type(v) ~= "table" then v = {} end
    return v, json
end

---Loads a strategy against a fake ctx (the file runs; no callback yet). Raises when the
---file cannot be loaded (use harness.try_load to test load failures).
---@param path string relative to the test file's directory, else to the current directory
---@param opts? harness.Options
---@return kestrel.Harness
function M.load(path, opts)
    local h, err = M.try_load(path, opts)
    if not h then error("harness.load: " .. err, 2) end
    return h
end

---Like harness.load, but returns nil, err when the host would refuse the strategy
---(syntax error, binary chunk, top-level error, blown budget, params of the wrong type).
---@param path string
---@param opts? harness.Options
---@return kestrel.Harness|nil
---@return string? err
function M.try_load(path, opts)
    opts = opts or {}
    assert(type(path) == "string", "harness.load: path must be a string")
    local file = resolve(path, M._dir or ".")
    local h = setmetatable({}, H)
    h.file = file
    h.name = opts.name or file_stem(file)
    h.mode = opts.mode or "live"
    if not MODES[h.mode] then error("harness.load: mode must be live, paper or observer", 2) end
    h.venue = opts.venue or "sim"
    h.symbols = opts.symbols or {}
    h.ctx_capital = opts.capital ~= nil and tonumber(opts.capital) or nil
    h.on_disable = opts.on_disable or "cancel"
    if not ON_DISABLE[h.on_disable] then error("harness.load: on_disable must be hold, cancel or flatten", 2) end
    h._errors_mode = opts.errors or "raise"
    h._limit = opts.instruction_budget or 10000000
    h._max_errors = opts.max_errors or 10
    h._window_ms = (opts.error_window_s or 60) * 1000
    h._risk = opts.risk
    h._params_cfg = opts.params or {}
    h._now = opts.now or DEFAULT_NOW
    h._venues = {[h.venue] = true}
    for _, v in ipairs(opts.venues or {}) do h._venues[v] = true end
    h._insts, h._positions, h._balances, h._margin = {}, {}, {}, {}
    h._orders, h._order_list, h._hedges, h._hedge_list, h._transfers = {}, {}, {}, {}, {}
    h._intents, h._refusals, h._logs, h._errors, h._journal = {}, {}, {}, {}, {}
    h._subscriptions, h._timers, h._records = {}, {}, {}
    h._seq, h._cloid_seq, h._hedge_seq, h._transfer_seq, h._timer_seq = 0, 0, 0, 0, 0
    h._err_times = {}
    h.metrics = {}
    h.notes = {}
    h.enabled = true
    h._phase = "closed"
    h._echo = M._verbose
    h.stats = {callbacks = 0, errors = 0, reloads = 0, reload_failures = 0}
    for _, s in ipairs(h.symbols) do h:instrument(s) end
    for s, spec in pairs(opts.instruments or {}) do h:instrument(s, spec) end
    local module, err, kind = h:_compile(file)
    if not module then return nil, err, kind end
    local params
    params, err = h:_build_params(module, h._params_cfg)
    if not params then return nil, err end
    local state = {}
    if opts.state ~= nil then
        local json
        json, err = native.to_json(opts.state, "state")
        if not json then return nil, err end
        state = native.from_json(json)
    end
    h.module = module
    h.ctx = h:_new_ctx(params, state)
    h._phase = "start"
    M._live[#M._live + 1] = h
    return h
end

-- ---- callbacks ------------------------------------------------------------------------------

-- Runs callback cb of the running version under the budget, with the host's error
-- accounting. Returns true when it succeeded or is not defined.
function H:_call(cb, ...)
    local fn = rawget(self.module, cb)
    if type(fn) ~= "function" then return true end
    local saved_cb = self._cb
    self._cb = cb
    local res = pack(native.run(self._limit, fn, self.ctx, ...))
    self._cb = saved_cb
    self.stats.callbacks = self.stats.callbacks + 1
    if res[1] then return true end
    local msg, kind = res[2], res[3]
    self.stats.errors = self.stats.errors + 1
    self._errors[#self._errors + 1] = {callback = cb, message = first_line(msg), traceback = msg,
                                       kind = kind, ts = floor(self._now)}
    self:_log("error", cb .. " failed: " .. msg)
    if kind == "budget" then
        self:_disable("instruction budget exceeded")
    elseif kind == "memory" then
        self:_disable("memory limit exceeded")
    elseif self.enabled then
        local t = self._err_times
        t[#t + 1] = self._now
        while #t > self._max_errors do table.remove(t, 1) end
        if #t >= self._max_errors and self._now - t[1] <= self._window_ms then
            self:_disable("too many errors")
        end
    end
    if self._errors_mode == "raise" then
        error(fmt("%s failed (%s): %s", cb, kind, msg), 0)
    end
    return false
end

function H:_running(what)
    if self._phase == "start" then
        error(fmt("h:%s: the strategy has not started (call h:start() first)", what), 3)
    end
    return self.enabled and self._phase == "event"
end

---Calls on_start (phase "start"), then lets events flow. A failure disables the strategy.
---@return boolean ok
function H:start()
    if self._phase ~= "start" then error("h:start: already started", 2) end
    self._phase = "start"
    local ok = self:_call("on_start")
    if not self.enabled then return false end
    self._phase = "event"
    if not ok then self:_disable("on_start failed") end
    return ok
end

---Calls on_stop (as when the host stops); timers stop, no more events are delivered.
function H:stop()
    if self.enabled and self._phase ~= "closed" then
        self._phase = "stop"
        self:_call("on_stop")
        self._saved_state = self:_state_roundtrip(self.ctx) or self._saved_state
    end
    self._timers = {}
end

function H:_apply_disable_policy(reason)
    if self.on_disable == "hold" then return end
    for _, o in ipairs(self._order_list) do
        if not FINAL[o.status] then self:_cancel_order(o, "on_disable") end
    end
    if self.on_disable == "flatten" then
        for _, key in ipairs(sorted_keys(self._positions)) do
            local p = self._positions[key]
            if p.qty and p.qty ~= 0 then
                local r = self._insts[key]
                self._cloid_seq = self._cloid_seq + 1
                self:_intent("order", {cloid = fmt("%s-test-%d", self.name, self._cloid_seq),
                                       symbol = r.symbol, venue = r.venue,
                                       side = p.qty > 0 and "sell" or "buy", type = "market",
                                       tif = "ioc", qty = math.abs(p.qty), reduce_only = true,
                                       reason = reason})
            end
        end
    end
end

function H:_disable(reason, graceful)
    if not self.enabled then return end
    if graceful and self._phase == "event" then
        self._phase = "stop"
        self:_call("on_stop")
        if not self.enabled then return end
    end
    self._saved_state = self:_state_roundtrip(self.ctx) or self._saved_state
    self.enabled = false
    self._phase = "closed"
    self._timers = {}
    self.disabled_reason = reason
    self._journal[#self._journal + 1] = {kind = "strategy.disabled", reason = reason,
                                         on_disable = self.on_disable, ts = floor(self._now)}
    self:_log(graceful and "warn" or "error", fmt("disabled: %s (on_disable=%s)", reason, self.on_disable))
    self:_apply_disable_policy(reason)
end

---Disables the strategy like `kestrel ctl disable`: on_stop, then the on_disable policy
---(cancel / flatten intents are recorded).
---@param reason? string
function H:disable(reason)
    self:_disable(reason or "disabled by the test", true)
end

---Enables a disabled strategy like `kestrel ctl enable`: a fresh load of the file with the
---state saved at disable time, then on_start.
---@return boolean ok
---@return string? err
function H:enable()
    if self.enabled then return true end
    local module, err = self:_compile(self.file)
    if not module then return false, err end
    local params
    params, err = self:_build_params(module, self._params_cfg)
    if not params then return false, err end
    self.module = module
    self.ctx = self:_new_ctx(params, deep_copy(self._saved_state or {}))
    self.enabled, self.disabled_reason, self._err_times = true, nil, {}
    self._phase = "start"
    return self:start()
end

function H:_deliver(cb, what, ev)
    if not self:_running(what) then return false end
    return self:_call(cb, ev)
end

local function num_or(v, d)
    if v == nil then return d end
    return v
end

---Sets market state without a callback (spec fields too: tick, lot, min_qty...). Fields:
---bid, ask, bid_qty, ask_qty, last, mark, index, oracle, funding_rate, next_funding_ts,
---funding_interval_h, open_interest, volume_24h.
---@param symbol string
---@param fields table
---@return kestrel.Harness self
function H:market(symbol, fields)
    local r = self:_inst(symbol, fields.venue) or self:instrument(symbol, {venue = fields.venue}):_inst(symbol, fields.venue)
    local s, now = r.state, self._now
    for k, v in pairs(fields) do
        if k == "tick" or k == "lot" or k == "min_qty" or k == "min_notional" or k == "maker_fee"
            or k == "taker_fee" or k == "spec_version" or k == "kind" or k == "base" or k == "quote" then
            r[k] = v
        elseif k == "funding_interval_h" then
            s.funding_interval_h = v
        elseif k ~= "venue" then
            s[k] = v
        end
    end
    if fields.bid or fields.ask then
        s.bid_qty, s.ask_qty = s.bid_qty or 1, s.ask_qty or 1
        s.bbo_ts = now
    end
    if fields.mark or fields.index or fields.funding_rate or fields.volume_24h or fields.open_interest
        or fields.last or fields.next_funding_ts then
        s.ticker_ts = now
    end
    if fields.oracle then s.oracle_ts = now end
    return self
end

---Delivers a BBO: updates the market and calls on_bbo(ctx, bbo).
---@param symbol string
---@param bbo {bid: number, ask: number, bid_qty?: number, ask_qty?: number, ts?: number}
---@return boolean ok false when the callback failed (errors = "host") or the strategy is disabled
function H:bbo(symbol, bbo)
    local r = self:_inst(symbol) or self:instrument(symbol):_inst(symbol)
    local s = r.state
    s.bid, s.ask = bbo.bid, bbo.ask
    s.bid_qty, s.ask_qty = num_or(bbo.bid_qty, 1), num_or(bbo.ask_qty, 1)
    s.bbo_ts = self._now
    return self:_deliver("on_bbo", "bbo", {symbol = symbol, bid = s.bid, bid_qty = s.bid_qty,
                                           ask = s.ask, ask_qty = s.ask_qty,
                                           ts = bbo.ts or floor(self._now)})
end

local TICKER_FIELDS = {"last", "mark", "index", "bid", "ask", "funding_rate", "next_funding_ts",
                       "funding_interval_h", "open_interest", "volume_24h"}

---Delivers a ticker (mark, index, funding...): updates the market and calls on_ticker.
---@param symbol string
---@param t kestrel.Ticker|table
---@return boolean ok
function H:ticker(symbol, t)
    local r = self:_inst(symbol) or self:instrument(symbol):_inst(symbol)
    local s = r.state
    local ev = {symbol = symbol, ts = t.ts or floor(self._now)}
    for _, k in ipairs(TICKER_FIELDS) do
        if t[k] ~= nil then
            ev[k] = t[k]
            if k ~= "bid" and k ~= "ask" then s[k] = t[k] end
        end
    end
    s.ticker_ts = self._now
    return self:_deliver("on_ticker", "ticker", ev)
end

---Delivers an order book snapshot or delta (on_book).
---@param symbol string
---@param book {bids?: number[][], asks?: number[][], snapshot?: boolean, ts?: number}
---@return boolean ok
function H:book(symbol, book)
    return self:_deliver("on_book", "book", {symbol = symbol, snapshot = book.snapshot ~= false,
                                             bids = deep_copy(book.bids or {}),
                                             asks = deep_copy(book.asks or {}),
                                             ts = book.ts or floor(self._now)})
end

---Delivers a public trade (on_trade); sets the market's last price.
---@param symbol string
---@param t {price: number, qty: number, side: kestrel.Side, ts?: number}
---@return boolean ok
function H:trade(symbol, t)
    local r = self:_inst(symbol) or self:instrument(symbol):_inst(symbol)
    r.state.last = t.price
    return self:_deliver("on_trade", "trade", {symbol = symbol, price = t.price, qty = t.qty,
                                               side = t.side, ts = t.ts or floor(self._now)})
end

---Delivers an oracle price (on_oracle).
---@param symbol string
---@param o number|{price: number, ts?: number}
---@return boolean ok
function H:oracle(symbol, o)
    if type(o) == "number" then o = {price = o} end
    local r = self:_inst(symbol) or self:instrument(symbol):_inst(symbol)
    r.state.oracle, r.state.oracle_ts = o.price, self._now
    return self:_deliver("on_oracle", "oracle", {symbol = symbol, price = o.price,
                                                 ts = o.ts or floor(self._now)})
end

---Delivers a liquidation from the venue's public feed (on_liquidation).
---@param symbol string
---@param l {side: kestrel.Side, price: number, qty: number, ts?: number}
---@return boolean ok
function H:liquidation(symbol, l)
    return self:_deliver("on_liquidation", "liquidation", {symbol = symbol, side = l.side,
                                                           price = l.price, qty = l.qty,
                                                           ts = l.ts or floor(self._now)})
end

---Delivers a risk module's notice (on_risk).
---@param notice kestrel.RiskNotice
---@return boolean ok
function H:risk(notice)
    return self:_deliver("on_risk", "risk", shallow_copy(notice))
end

function H:_order(cloid, what)
    local o = self._orders[cloid]
    if not o then error(fmt("h:%s: no order %s (cloids come from h:intents())", what, tostring(cloid)), 3) end
    return o
end

---The venue changed an order: updates it and calls on_order(ctx, order).
---@param cloid string
---@param u {status: kestrel.OrderStatus, filled?: number, avg_price?: number, fee?: number, reason?: string, reject?: string, ts?: number}
---@return boolean ok
function H:order_update(cloid, u)
    local o = self:_order(cloid, "order_update")
    if u.status ~= nil and not STATUSES[u.status] then
        error(fmt("h:order_update: unknown status %s", show(u.status)), 2)
    end
    for _, k in ipairs({"status", "filled", "avg_price", "fee", "reason", "reject", "price", "qty"}) do
        if u[k] ~= nil then o[k] = u[k] end
    end
    o.ts = u.ts or floor(self._now)
    return self:_deliver("on_order", "order_update", order_table(o))
end

function H:_apply_fill(r, side, qty, price, fee)
    local key = r.venue .. "\31" .. r.symbol
    local p = self._positions[key] or {qty = 0, avg_entry = 0, realized_pnl = 0, fees = 0, funding = 0}
    self._positions[key] = p
    local signed = side == "buy" and qty or -qty
    if p.qty == 0 or (p.qty > 0) == (signed > 0) then
        local n = math.abs(p.qty) + qty
        p.avg_entry = (p.avg_entry * math.abs(p.qty) + price * qty) / n
        p.qty = p.qty + signed
    else
        local closing = math.min(math.abs(p.qty), qty)
        p.realized_pnl = p.realized_pnl + (price - p.avg_entry) * closing * (p.qty > 0 and 1 or -1)
        p.qty = p.qty + signed
        if math.abs(p.qty) < 1e-12 then
            p.qty, p.avg_entry = 0, 0
        elseif (p.qty > 0) == (signed > 0) then
            p.avg_entry = price -- flipped: the rest opened at this price
        end
    end
    p.fees = p.fees + fee
end

---The venue filled (part of) an order: updates the order and the strategy's position,
---then calls on_fill(ctx, fill), on_position(ctx, position) and on_order(ctx, order), in
---the host's order. Defaults: qty = what is left, price = the order's limit price (else
---the touch: ask for a buy, bid for a sell, else the mark), fee = price * qty * (maker or
---taker fee), maker = limit order.
---@param cloid string
---@param f? {price?: number, qty?: number, fee?: number, fee_asset?: string, maker?: boolean, trade_id?: string, ts?: number}
---@return boolean ok
function H:fill(cloid, f)
    f = f or {}
    local o = self:_order(cloid, "fill")
    local r = self:_inst(o.symbol, o.venue)
    local s = r.state
    local qty = f.qty or (o.qty - o.filled)
    local price = f.price or (o.type == "limit" and o.price)
        or (o.side == "buy" and s.ask or s.bid) or s.mark or s.last
    if not price then error("h:fill: no price (give {price = ...} or set a quote)", 2) end
    if qty <= 0 then error(fmt("h:fill: order %s has nothing left to fill", cloid), 2) end
    local maker = f.maker
    if maker == nil then maker = o.type == "limit" end
    local fee = f.fee or price * qty * (maker and r.maker_fee or r.taker_fee)
    local total = o.filled + qty
    o.avg_price = (o.avg_price * o.filled + price * qty) / total
    o.filled = total
    o.fee = o.fee + fee
    o.status = total >= o.qty - 1e-12 and "filled" or "partial"
    o.ts = f.ts or floor(self._now)
    self._trade_seq = (self._trade_seq or 0) + 1
    self:_apply_fill(r, o.side, qty, price, fee)
    local fill = {cloid = cloid, symbol = o.symbol, trade_id = f.trade_id or ("t" .. self._trade_seq),
                  side = o.side, price = price, qty = qty, fee = fee,
                  fee_asset = f.fee_asset or r.quote, maker = maker, ts = o.ts}
    if not self:_running("fill") then return false end
    local ok = self:_call("on_fill", fill)
    if self.enabled and self._phase == "event" then
        ok = self:_call("on_position", position_table(self, r)) and ok
    end
    if self.enabled and self._phase == "event" then
        ok = self:_call("on_order", order_table(o)) and ok
    end
    return ok
end

---A leg group changed: updates it and calls on_hedge(ctx, hedge). legs[i] may give
---filled and avg_price.
---@param id string
---@param u {state: kestrel.HedgeState, reason?: string, legs?: {filled?: number, avg_price?: number}[]}
---@return boolean ok
function H:hedge_update(id, u)
    local g = self._hedges[id]
    if not g then error(fmt("h:hedge_update: no hedge %s", tostring(id)), 2) end
    if u.state ~= nil then
        if not HEDGE_STATES[u.state] then error(fmt("h:hedge_update: unknown state %s", show(u.state)), 2) end
        g.state = u.state
    end
    g.reason = u.reason or g.reason
    for i, l in ipairs(u.legs or {}) do
        if g.legs[i] then
            g.legs[i].filled = l.filled or g.legs[i].filled
            g.legs[i].avg_price = l.avg_price or g.legs[i].avg_price
        end
    end
    return self:_deliver("on_hedge", "hedge_update", hedge_table(g))
end

---A wallet transfer finished: calls on_transfer(ctx, result).
---@param id string
---@param r? {ok?: boolean, reason?: string}
---@return boolean ok
function H:transfer_result(id, r)
    r = r or {}
    local t = self._transfers[id]
    if not t then error(fmt("h:transfer_result: no transfer %s", tostring(id)), 2) end
    local ok = r.ok ~= false
    return self:_deliver("on_transfer", "transfer_result", {id = id, ok = ok, asset = t.asset,
                                                            amount = t.amount, from = t.from,
                                                            to = t.to, reason = r.reason})
end

---Advances the virtual clock by `seconds`, firing due ctx.timer timers in time order
---(ties in the order they were armed), each at its own time.
---@param seconds number
---@return integer fired how many on_timer calls were made
function H:advance(seconds)
    assert(type(seconds) == "number" and seconds >= 0, "h:advance: seconds must be >= 0")
    local target, fired = self._now + seconds * 1000, 0
    while true do
        local next_t
        for _, t in pairs(self._timers) do
            if t.at <= target and (not next_t or t.at < next_t.at or (t.at == next_t.at and t.seq < next_t.seq)) then
                next_t = t
            end
        end
        if not next_t then break end
        if next_t.at > self._now then self._now = next_t.at end
        if next_t.every then
            next_t.at = next_t.at + next_t.every * 1000
        else
            self._timers[next_t.name] = nil
        end
        fired = fired + 1
        if fired > 1000000 then error("h:advance: more than a million timer firings", 2) end
        if self.enabled and self._phase == "event" then self:_call("on_timer", next_t.name) end
    end
    self._now = target
    return fired
end

---Sets the clock (ms since the epoch) without firing timers.
---@param ms number
function H:set_now(ms)
    self._now = ms
end

---The virtual clock, ms since the epoch.
---@return number
function H:now()
    return floor(self._now)
end

---New config params (like a config reload): type-checked against the strategy's
---defaults, then ctx.params is replaced and on_params(ctx, new_params) called.
---@param params table
---@return boolean ok
---@return string? err why they were not applied
function H:params(params)
    local p, err = self:_build_params(self.module, params)
    if not p then return false, err end
    self._params_cfg = params
    rawset(self.ctx, "params", p)
    if self.enabled and self._phase == "event" then return self:_call("on_params", p) end
    return true
end

---Hot reload like the host: the (new) file is compiled in a fresh sandbox with the old
---ctx.state (a JSON round trip), its on_reload(ctx, old_state) runs, and only then does it
---take over. On any failure the old version keeps running: returns false, err.
---Timers, orders, positions and hedges carry over.
---@param new_file? string another file (relative to the test file), else the same file
---@return boolean ok
---@return string? err
function H:reload(new_file)
    if not self.enabled then
        return false, fmt("%s is disabled; enable it to load the new version", self.name)
    end
    local file = new_file and resolve(new_file, M._dir or ".") or self.file
    local state, err = self:_state_roundtrip(self.ctx)
    if not state then return self:_reload_failed(err) end
    local module, kind
    module, err, kind = self:_compile(file)
    if not module then return self:_reload_failed(err) end
    local params
    params, err = self:_build_params(module, self._params_cfg)
    if not params then return self:_reload_failed(err) end
    local old_module, old_ctx, saved = self.module, self.ctx, self._phase
    self.module, self.ctx, self._phase = module, self:_new_ctx(params, state), "reload"
    local fn = rawget(module, "on_reload")
    local ok, msg = true, nil
    if type(fn) == "function" then
        self._cb = "on_reload"
        local res = pack(native.run(self._limit, fn, self.ctx, deep_copy(state)))
        self._cb = nil
        ok, msg = res[1], res[2]
    end
    self._phase = saved
    if not ok then
        self.module, self.ctx = old_module, old_ctx
        return self:_reload_failed("on_reload: " .. first_line(msg))
    end
    self.file = file
    self.stats.reloads = self.stats.reloads + 1
    self._journal[#self._journal + 1] = {kind = "strategy.reloaded", ts = floor(self._now)}
    return true
end

function H:_reload_failed(err)
    self.stats.reload_failures = self.stats.reload_failures + 1
    self._journal[#self._journal + 1] = {kind = "strategy.reload_failed", error = err,
                                         ts = floor(self._now)}
    self:_log("error", "reload failed, the running version keeps trading: " .. tostring(err))
    return false, err
end

-- ---- scripted account state ---------------------------------------------------------------

---Sets the strategy's position directly (as after a restart).
---@param symbol string
---@param p {qty: number, avg_entry?: number, realized_pnl?: number, fees?: number, funding?: number}
---@return kestrel.Harness self
function H:set_position(symbol, p)
    local r = self:_inst(symbol, p.venue) or self:instrument(symbol, {venue = p.venue}):_inst(symbol, p.venue)
    self._positions[r.venue .. "\31" .. symbol] = {qty = p.qty or 0, avg_entry = p.avg_entry or 0,
                                                   realized_pnl = p.realized_pnl or 0,
                                                   fees = p.fees or 0, funding = p.funding or 0}
    return self
end

---A funding payment on the strategy's position (received > 0, paid < 0).
---@param symbol string
---@param amount number quote currency
---@return kestrel.Harness self
function H:funding(symbol, amount)
    local r = self:_inst(symbol) or self:instrument(symbol):_inst(symbol)
    local key = r.venue .. "\31" .. symbol
    local p = self._positions[key] or {qty = 0, avg_entry = 0, realized_pnl = 0, fees = 0, funding = 0}
    self._positions[key] = p
    p.funding = p.funding + amount
    return self
end

---Sets a wallet balance as the venue would report it.
---@param asset string
---@param b {wallet?: kestrel.Wallet, total: number, available?: number, equity?: number}
---@return kestrel.Harness self
function H:balance(asset, b)
    local wallet = b.wallet or "futures"
    self._balances[wallet .. "\31" .. asset] = {asset = asset, wallet = wallet, total = b.total,
                                                available = b.available or b.total, equity = b.equity}
    return self
end

---Sets the venue's margin level (ctx.margin_level); nil: unknown.
---@param level number|nil
---@param venue? string
---@return kestrel.Harness self
function H:margin_level(level, venue)
    self._margin[venue or self.venue] = level
    return self
end

---Installs (or removes) a risk check: return a reason to refuse an order or hedge leg.
---@param fn? fun(intent: table): string|nil
---@return kestrel.Harness self
function H:set_risk(fn)
    self._risk = fn
    return self
end

-- ---- inspection -----------------------------------------------------------------------------

local function matches(t, filter)
    if filter == nil then return true end
    if type(filter) == "string" then return t.kind == filter end
    for k, v in pairs(filter) do
        if t[k] ~= v then return false end
    end
    return true
end

---What the strategy asked for, in order: {kind = "order"|"cancel"|"amend"|"hedge"|
---"close_hedge"|"transfer", seq, ts, callback, ...the request's fields}. Orders carry
---cloid, symbol, venue, side, type, tif, qty and price (rounded to lot and tick like the
---host), reduce_only, requested_qty, requested_price.
---@param filter? string|table a kind, or fields that must match ({kind = "order", side = "buy"})
---@return table[]
function H:intents(filter)
    local out = {}
    for _, t in ipairs(self._intents) do
        if matches(t, filter) then out[#out + 1] = deep_copy(t) end
    end
    return out
end

---The last intent matching filter, or nil.
---@param filter? string|table
---@return table|nil
function H:last_intent(filter)
    local all = self:intents(filter)
    return all[#all]
end

---Forgets the intents recorded so far (to assert on what comes next).
function H:clear_intents()
    self._intents = {}
end

---Requests that were refused with nil, err: {kind, reason, spec, ts, callback}.
---@param filter? string|table
---@return table[]
function H:refusals(filter)
    local out = {}
    for _, t in ipairs(self._refusals) do
        if matches(t, filter) then out[#out + 1] = deep_copy(t) end
    end
    return out
end

---The strategy's position as ctx.position returns it.
---@param symbol string
---@param venue? string
---@return kestrel.Position
function H:position(symbol, venue)
    local r = self:_inst(symbol, venue)
    if not r then error("h:position: unknown symbol " .. tostring(symbol), 2) end
    return position_table(self, r)
end

---An order as ctx.get_order returns it, or nil.
---@param cloid string
---@return kestrel.Order|nil
function H:order(cloid)
    local o = self._orders[cloid]
    return o and order_table(o) or nil
end

---Every order, oldest first (final ones included).
---@return kestrel.Order[]
function H:orders()
    local out = {}
    for i, o in ipairs(self._order_list) do out[i] = order_table(o) end
    return out
end

---A leg group as ctx.get_hedge returns it, or nil.
---@param id string
---@return kestrel.Hedge|nil
function H:hedge(id)
    local g = self._hedges[id]
    return g and hedge_table(g) or nil
end

---Log lines (ctx.log and print): {level, msg, ts}.
---@param level? kestrel.LogLevel only this level
---@return {level: string, msg: string, ts: number}[]
function H:logs(level)
    local out = {}
    for _, l in ipairs(self._logs) do
        if not level or l.level == level then out[#out + 1] = shallow_copy(l) end
    end
    return out
end

---True when a log line matches the Lua pattern.
---@param pattern string
---@param level? kestrel.LogLevel
---@return boolean
function H:logged(pattern, level)
    for _, l in ipairs(self._logs) do
        if (not level or l.level == level) and l.msg:find(pattern) then return true end
    end
    return false
end

---A metric set with ctx.metric, or nil.
---@param name string
---@return number|nil
function H:metric(name)
    return self.metrics[name]
end

---Callback failures recorded: {callback, message, traceback, kind = "error"|"budget"|"memory", ts}.
---@return table[]
function H:errors()
    return deep_copy(self._errors)
end

---Why the strategy was disabled ("instruction budget exceeded", "memory limit
---exceeded", "too many errors", "on_start failed", ...), or nil while enabled.
---@return string|nil
function H:disabled()
    return not self.enabled and self.disabled_reason or nil
end

---Journal entries the host would write: strategy.disabled, strategy.reloaded,
---strategy.reload_failed.
---@return table[]
function H:journal()
    return deep_copy(self._journal)
end

---Armed timers: {name, at (ms), every (s)|nil}, soonest first.
---@return table[]
function H:timers()
    local out = {}
    for _, t in pairs(self._timers) do out[#out + 1] = {name = t.name, at = t.at, every = t.every, seq = t.seq} end
    table.sort(out, function(a, b) return a.at < b.at or (a.at == b.at and a.seq < b.seq) end)
    for _, t in ipairs(out) do t.seq = nil end
    return out
end

---Rows appended with ctx.record(name, row), oldest first (as the host would write them
---to <state_dir>/records/<strategy>.<name>.csv).
---@param name string
---@return table[]
function H:records(name)
    return deep_copy(self._records[name] or {})
end

---Symbols the strategy subscribed to with ctx.subscribe.
---@return {symbol: string, venue: string}[]
function H:subscriptions()
    return deep_copy(self._subscriptions)
end

---ctx.state as the host would store it (a JSON round trip). Raises when it cannot be
---stored (functions, cycles, mixed keys...), with the host's message.
---@return table
function H:saved_state()
    local v, err = self:_state_roundtrip(self.ctx)
    if not v then error(err, 2) end
    return v
end

-- ---- assertions ------------------------------------------------------------------------------

-- An assertion failure is a string with this mark in front (error objects that are not
-- strings lose their contents in the host's message handler, which the tests run under).
local FAIL_MARK = "\1expect\1"

-- The test file's line that made the failing call.
local function where()
    for level = 3, 40 do
        local info = debug.getinfo(level, "Sl")
        if not info then break end
        if info.source == M._chunk and info.currentline and info.currentline > 0 then
            return fmt("%s:%d", info.short_src, info.currentline)
        end
    end
    local info = debug.getinfo(3, "Sl")
    return info and fmt("%s:%d", info.short_src, info.currentline or 0) or "?"
end

local function fail(what, lines, msg)
    local text = where() .. ": " .. what .. (msg and (": " .. tostring(msg)) or "")
    if lines then text = text .. "\n" .. lines end
    error(FAIL_MARK .. text, 0)
end

local function both(expected, actual)
    return fmt("    expected: %s\n    actual:   %s", show(expected), show(actual))
end

---Fails unless actual equals expected (tables compared deeply).
---@param actual any
---@param expected any
---@param msg? string
function M.expect_eq(actual, expected, msg)
    local p = diff(actual, expected, "")
    if p then
        local lines = both(expected, actual)
        if p ~= "" then
            lines = fmt("    at %s: expected %s, got %s\n", p, show(get_path(expected, p)),
                        show(get_path(actual, p))) .. lines
        end
        fail("expect_eq", lines, msg)
    end
end

---Fails when actual equals unexpected (deeply).
---@param actual any
---@param unexpected any
---@param msg? string
function M.expect_ne(actual, unexpected, msg)
    if diff(actual, unexpected, "") == nil then
        fail("expect_ne", "    both: " .. show(actual), msg)
    end
end

---Fails unless |actual - expected| <= tol (default 1e-9, relative to |expected| when that
---is larger than 1).
---@param actual number
---@param expected number
---@param tol? number
---@param msg? string
function M.expect_near(actual, expected, tol, msg)
    if type(tol) == "string" and msg == nil then tol, msg = nil, tol end
    if type(actual) ~= "number" or type(expected) ~= "number" then
        fail("expect_near", both(expected, actual) .. "\n    (both must be numbers)", msg)
    end
    tol = tol or 1e-9 * math.max(1, math.abs(expected))
    if not (math.abs(actual - expected) <= tol) then
        fail("expect_near", both(expected, actual) ..
             fmt("\n    off by %.6g (tolerance %.6g)", actual - expected, tol), msg)
    end
end

---Fails unless v is truthy.
---@param v any
---@param msg? string
function M.expect_true(v, msg)
    if not v then fail("expect_true", "    got: " .. show(v), msg) end
end

---Fails unless v is false or nil.
---@param v any
---@param msg? string
function M.expect_false(v, msg)
    if v then fail("expect_false", "    got: " .. show(v), msg) end
end

---Fails unless v is nil.
---@param v any
---@param msg? string
function M.expect_nil(v, msg)
    if v ~= nil then fail("expect_nil", "    got: " .. show(v), msg) end
end

---Fails when v is nil; returns v.
---@generic T
---@param v T
---@param msg? string
---@return T
function M.expect_not_nil(v, msg)
    if v == nil then fail("expect_not_nil", nil, msg) end
    return v
end

---Fails unless the string s matches the Lua pattern.
---@param s string
---@param pattern string
---@param msg? string
function M.expect_match(s, pattern, msg)
    if type(s) ~= "string" or not s:find(pattern) then
        fail("expect_match", fmt("    pattern: %s\n    actual:  %s", show(pattern), show(s)), msg)
    end
end

---Fails unless fn raises an error (whose message matches pattern, a plain substring
---when it has no pattern characters). Returns the message.
---@param fn function
---@param pattern? string
---@param msg? string
---@return string
function M.expect_error(fn, pattern, msg)
    local ok, err = pcall(fn)
    if ok then fail("expect_error", "    the function returned without an error", msg) end
    err = tostring(err)
    if err:sub(1, #FAIL_MARK) == FAIL_MARK then err = err:sub(#FAIL_MARK + 1) end
    if pattern and not err:find(pattern) and not err:find(pattern, 1, true) then
        fail("expect_error", fmt("    pattern: %s\n    error:   %s", show(pattern), show(err)), msg)
    end
    return err
end

-- ---- the runner ---------------------------------------------------------------------------

M._live = {}

local function run_test(name, fn)
    M._live = {}
    local t0 = native.clock()
    local res = pack(native.run(TEST_BUDGET, fn))
    local dt = (native.clock() - t0) * 1000
    if res[1] then return true, nil, dt end
    local err, kind = res[2], res[3]
    return false, err, dt, kind
end

-- Error text for a failed test: an assertion's message, else the error with its
-- traceback trimmed to the frames worth reading.
local function failure_text(err, kind)
    if type(err) ~= "string" then return tostring(err) end
    if err:sub(1, #FAIL_MARK) == FAIL_MARK then
        return (err:sub(#FAIL_MARK + 1):gsub("\nstack traceback:\n.*$", ""))
    end
    local msg, tb = err:match("^(.-)\nstack traceback:\n(.*)$")
    msg = msg or err
    if kind == "budget" then msg = msg .. " (the test itself; tests run under a budget too)" end
    local lines, seen = {msg}, {}
    if tb then
        for line in tb:gmatch("[^\n]+") do
            line = line:gsub("^%s+", "")
            if not line:find("harness.lua", 1, true) and not line:find("^%[C%]")
                and line ~= "stack traceback:" and not seen[line] then
                seen[line] = true
                lines[#lines + 1] = "    " .. line
            end
            if #lines > 8 then break end
        end
    end
    return table.concat(lines, "\n")
end

local function indent(text, prefix)
    return prefix .. tostring(text):gsub("\n", "\n" .. prefix)
end

-- Runs one test file; prints results; returns passed, failed.
function M._run_file(path, filter, verbose)
    M._dir = dirname(path)
    M._chunk = "@" .. path
    M._verbose = verbose
    local tests = {}
    local env = native.new_env(path)
    env.harness = {load = M.load, try_load = M.try_load, CALLBACKS = M.CALLBACKS}
    env.test = function(name, fn)
        assert(type(name) == "string" and type(fn) == "function", "test(name, fn)")
        tests[#tests + 1] = {name = name, fn = fn}
    end
    for _, k in ipairs({"expect_eq", "expect_ne", "expect_near", "expect_true", "expect_false",
                        "expect_nil", "expect_not_nil", "expect_match", "expect_error"}) do
        env[k] = M[k]
    end
    env.print = function(...)
        local parts = {}
        for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
        native.write("        | " .. table.concat(parts, "\t") .. "\n")
    end
    native.write(path .. "\n")
    local chunk, err = native.compile(path, env)
    if not chunk then
        native.write("  FAIL  (load) " .. tostring(err) .. "\n")
        return 0, 1
    end
    local res = pack(native.run(TEST_BUDGET, chunk))
    if not res[1] then
        native.write(indent("FAIL  (load) " .. failure_text(res[2], res[3]), "  ") .. "\n")
        return 0, 1
    end
    if type(res[2]) == "table" then
        for _, k in ipairs(sorted_keys(res[2])) do
            if type(k) == "string" and type(res[2][k]) == "function" then
                tests[#tests + 1] = {name = k, fn = res[2][k]}
            end
        end
    end
    local passed, failed = 0, 0
    for _, t in ipairs(tests) do
        local label = path .. ": " .. t.name
        if not filter or label:find(filter, 1, true) then
            local ok, e, dt, kind = run_test(t.name, t.fn)
            if ok then
                passed = passed + 1
                native.write(fmt("  ok    %s (%.1f ms)\n", t.name, dt))
            else
                failed = failed + 1
                local text = failure_text(e, kind)
                native.write(fmt("  FAIL  %s\n%s\n", t.name, indent(text, "        ")))
                if not verbose then
                    for _, h in ipairs(M._live) do
                        local logs = h._logs
                        if #logs > 0 then
                            native.write(fmt("        log of %s (last %d lines):\n", h.name, math.min(#logs, 20)))
                            for i = math.max(1, #logs - 19), #logs do
                                native.write(fmt("          [%s] %s\n", logs[i].level, first_line(logs[i].msg)))
                            end
                        end
                    end
                end
            end
        end
    end
    if #tests == 0 then
        native.write("  FAIL  (no tests: register them with test(name, fn) or return a table of functions)\n")
        failed = failed + 1
    end
    return passed, failed
end

return M
