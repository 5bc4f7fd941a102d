-- Chaos-test strategy: keeps opening spot-long / perp-short leg groups on a few bases and
-- closes each one after a random hold, for as long as it runs. With params.quiet (or after
-- params.open_until_ms) it opens nothing and closes the groups it holds, except a share
-- (params.keep_p, drawn when a group becomes active) that it keeps open. Its
-- randomness is its own generator seeded from params.seed, so a backtest stays
-- deterministic. Used by the soak test (sim venue) and the kill -9 test (Bybit emulator).
local S = {}

S.params = {
  bases = {"BTC", "ETH", "SOL"},
  qty = {0.01, 0.2, 5},        -- per base, in base units
  quote = "USDT",
  every_s = 6,                 -- mean gap between two openings of one base
  hold_min_s = 2,
  hold_max_s = 40,
  max_open = 2,                -- groups per base at a time
  open_until_ms = 0,           -- 0: no end
  keep_p = 0,                  -- share of groups still open at the end that stay open
  quiet = false,
  seed = 7,
  tick_s = 1,
  open_timeout_ms = 5000,
  balance = "trim",
  close_quantum_s = 0,         -- > 0: closes are due on multiples of it (they bunch up)
}

local groups = {}   -- id -> {base = , state = , close_at = }
local order = {}    -- ids in the order they were opened (pairs() order is not stable)
local open_n = {}   -- base -> groups not finished
local next_open = {}
local rng = 1

local function rand()
  rng = (rng * 16807) % 2147483647
  return rng / 2147483647
end

-- When a group opened now should be closed.
local function close_time(p, now)
  local t = now + math.floor((p.hold_min_s + rand() * (p.hold_max_s - p.hold_min_s)) * 1000)
  if p.close_quantum_s > 0 then
    local q = math.floor(p.close_quantum_s * 1000)
    t = math.ceil(t / q) * q
  end
  return t
end

local function base_of(symbol)
  return (string.match(symbol, "^([^/]+)/"))
end

local function track(id, base, state)
  if groups[id] then return groups[id] end
  local g = {base = base, state = state}
  groups[id] = g
  order[#order + 1] = id
  open_n[base] = (open_n[base] or 0) + 1
  return g
end

local function bump(ctx, k)
  ctx.state[k] = (ctx.state[k] or 0) + 1
end

function S.on_start(ctx)
  rng = (ctx.params.seed % 2147483646) + 1
  for _ = 1, 10 do rand() end
  -- After a restart the host reloaded our unfinished groups: take them over.
  local now = ctx.now()
  local p = ctx.params
  for _, h in ipairs(ctx.hedges()) do
    local g = track(h.id, base_of(h.legs[1].symbol), h.state)
    if h.state == "active" then
      g.close_at = close_time(p, now)
      g.keep = rand() < p.keep_p
    end
  end
  for i, b in ipairs(ctx.params.bases) do
    next_open[b] = now + i * 250
  end
  ctx.timer("tick", ctx.params.tick_s, ctx.params.tick_s)
end

local function opening_allowed(ctx, now)
  local p = ctx.params
  if p.quiet then return false end
  return p.open_until_ms == 0 or now < p.open_until_ms
end

function S.on_timer(ctx, name)
  local p = ctx.params
  local now = ctx.now()
  local opening = opening_allowed(ctx, now)
  local live = {}
  for _, id in ipairs(order) do
    local g = groups[id]
    if g then
      live[#live + 1] = id
      local due = g.close_at and now >= g.close_at
      if g.state == "active" and ((opening and due) or (not opening and not g.keep)) then
        local ok = ctx.close_hedge(id)
        if ok then g.state = "closing" end
      end
    end
  end
  order = live
  if not opening then return end
  for i, b in ipairs(p.bases) do
    if (open_n[b] or 0) < p.max_open and now >= next_open[b] then
      local q = p.qty[i]
      local id, err = ctx.hedge{
        legs = {
          {symbol = b .. "/" .. p.quote, side = "buy", qty = q},
          {symbol = b .. "/" .. p.quote .. ":" .. p.quote, side = "sell", qty = q},
        },
        open_timeout_ms = p.open_timeout_ms,
        max_slippage_bps = 200,
        balance = p.balance,
      }
      if id then
        track(id, b, "opening")
        bump(ctx, "opened")
      else
        bump(ctx, "refused")
      end
      next_open[b] = now + math.floor(p.every_s * 1000 * (0.5 + rand()))
    end
  end
end

function S.on_hedge(ctx, h)
  local g = groups[h.id] or track(h.id, base_of(h.legs[1].symbol), h.state)
  g.state = h.state
  if h.state == "active" then
    if not g.close_at then
      local p = ctx.params
      g.keep = rand() < p.keep_p
      g.close_at = close_time(p, ctx.now())
    end
  elseif h.state == "closed" or h.state == "failed" then
    groups[h.id] = nil
    open_n[g.base] = open_n[g.base] - 1
    bump(ctx, h.state)
  end
end

return S
