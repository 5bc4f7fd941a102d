-- Small statistics helpers shared by the shipped strategies: percentiles over a bounded
-- sample, rolling windows of timestamped values, and Beta sampling for Thompson sampling.
local M = {}

-- A bounded sample (reservoir of the first `cap`, then uniform replacement).
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
    local k = math.max(1, math.min(n, math.ceil(p * n)))
    return t[k]
end

-- A rolling window of (time, value) pairs; `sum` over the last `span` milliseconds.
function M.window(span)
    return {span = span, t = {}, v = {}, head = 1}
end

function M.push(w, t, v)
    w.t[#w.t + 1] = t
    w.v[#w.v + 1] = v
end

function M.expire(w, now)
    while w.head <= #w.t and w.t[w.head] <= now - w.span do
        w.t[w.head], w.v[w.head] = nil, nil
        w.head = w.head + 1
    end
    if w.head > 1000 and w.head > #w.t / 2 then -- compact
        local t, v = {}, {}
        for i = w.head, #w.t do t[#t + 1], v[#v + 1] = w.t[i], w.v[i] end
        w.t, w.v, w.head = t, v, 1
    end
end

function M.sum(w, now)
    M.expire(w, now)
    local s, n = 0, 0
    for i = w.head, #w.t do s, n = s + w.v[i], n + 1 end
    return s, n
end

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

-- A draw from Beta(a, b).
function M.beta(a, b)
    local x = gamma(a)
    return x / (x + gamma(b))
end

return M
