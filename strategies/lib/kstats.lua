-- Small statistics helpers shared by the shipped strategies: exact quantiles over counted
-- values, a bounded reservoir sample, rolling windows of timestamped values, and Beta
-- sampling for Thompson sampling. Nothing here is persisted; callers keep what must
-- survive a reload in ctx.state.
local M = {}

-- ---- exact quantiles ------------------------------------------------------------------

-- A histogram of values rounded to `resolution` (default 1): exact quantiles at that
-- resolution, memory bounded by the number of distinct values (ages and intervals in ms
-- cluster: a day of BBO intervals has a few thousand distinct values at most).
function M.hist(resolution)
    return {n = 0, res = resolution or 1, c = {}, max = nil, sum = 0}
end

function M.hist_add(h, x)
    local r = h.res
    local k = math.floor(x / r + 0.5) * r
    h.c[k] = (h.c[k] or 0) + 1
    h.n = h.n + 1
    h.sum = h.sum + x
    if not h.max or x > h.max then h.max = x end
end

-- The p-quantile (0 < p <= 1) by nearest rank (the smallest value with at least p*n
-- values at or below it); nil for an empty histogram.
function M.hist_quantile(h, p)
    if h.n == 0 then return nil end
    local keys = {}
    for k in pairs(h.c) do keys[#keys + 1] = k end
    table.sort(keys)
    local rank = math.max(1, math.ceil(p * h.n - 1e-9))
    local seen = 0
    for _, k in ipairs(keys) do
        seen = seen + h.c[k]
        if seen >= rank then return k end
    end
    return keys[#keys]
end

-- ---- reservoir sample -------------------------------------------------------------------

-- A bounded sample (the first `cap`, then uniform replacement).
function M.sample(cap)
    return {n = 0, cap = cap or 2000, v = {}}
end

function M.add(s, x)
    s.n = s.n + 1
    if #s.v < s.cap then
        s.v[#s.v + 1] = x
    else
        local j = math.random(1, s.n)
        if j <= s.cap then s.v[j] = x end
    end
end

-- The p-quantile (0..1) by nearest rank; nil for an empty sample.
function M.quantile(s, p)
    local n = #s.v
    if n == 0 then return nil end
    local t = {}
    for i = 1, n do t[i] = s.v[i] end
    table.sort(t)
    local k = math.max(1, math.min(n, math.ceil(p * n - 1e-9)))
    return t[k]
end

-- ---- rolling windows ----------------------------------------------------------------------

-- A rolling window of (time, value) pairs over the last `span` milliseconds: an entry at
-- time t counts while now - span < t. Entries live in t[head..n], v[head..n] (explicit
-- bounds: the length operator is unreliable once the front has been cleared).
function M.window(span)
    return {span = span, t = {}, v = {}, head = 1, n = 0}
end

function M.push(w, t, v)
    w.n = w.n + 1
    w.t[w.n], w.v[w.n] = t, v
end

function M.expire(w, now)
    while w.head <= w.n and w.t[w.head] <= now - w.span do
        w.t[w.head], w.v[w.head] = nil, nil
        w.head = w.head + 1
    end
    if w.head > w.n then -- empty: start over
        w.t, w.v, w.head, w.n = {}, {}, 1, 0
    elseif w.head > 1000 and w.head > w.n / 2 then -- compact
        local t, v, k = {}, {}, 0
        for i = w.head, w.n do k = k + 1; t[k], v[k] = w.t[i], w.v[i] end
        w.t, w.v, w.head, w.n = t, v, 1, k
    end
end

-- Sum and count of the values in the window at `now`.
function M.sum(w, now)
    M.expire(w, now)
    local s = 0
    for i = w.head, w.n do s = s + w.v[i] end
    return s, w.n - w.head + 1
end

-- Forgets everything in the window.
function M.clear(w)
    w.t, w.v, w.head, w.n = {}, {}, 1, 0
end

-- ---- Beta sampling --------------------------------------------------------------------------

-- Gamma(k, 1) by Marsaglia and Tsang (k > 0), from math.random.
local function gamma(k)
    if k < 1 then
        return gamma(k + 1) * math.random() ^ (1 / k)
    end
    local d = k - 1 / 3
    local c = 1 / math.sqrt(9 * d)
    while true do
        local x, v
        repeat
            -- standard normal by Box-Muller
            local u1, u2 = math.random(), math.random()
            if u1 < 1e-300 then u1 = 1e-300 end
            x = math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
            v = 1 + c * x
        until v > 0
        v = v * v * v
        local u = math.random()
        if u < 1 - 0.0331 * x ^ 4 or math.log(u) < 0.5 * x * x + d * (1 - v + math.log(v)) then
            return d * v
        end
    end
end

-- A draw from Beta(a, b), a, b > 0.
function M.beta(a, b)
    local x = gamma(a)
    return x / (x + gamma(b))
end

return M
