-- hostile: ctx.markets filters of every wrong type, a filter with metamethods, long lists
-- expect: running
-- verdict: contained
local S = {}
function S.on_start(ctx)
    local bad = {
        {kind = {}}, {kind = 5}, {kind = "future"}, {symbols = 5}, {symbols = "BTC"},
        {min_volume_24h = "lots"}, {min_funding_8h = {}}, {max_funding_8h = true},
        {venue = "nowhere"}, {venue = {}}, {[1] = "x"}, {[{}] = 1}, {quote = {}}, {base = print},
        "perp", 42, true, print,
    }
    local problems = {}
    for i, f in ipairs(bad) do
        local ok = pcall(ctx.markets, f)
        if ok then problems[#problems + 1] = "filter " .. i .. " accepted" end
    end
    -- Odd but valid: symbols lists holding non-strings, NaN bounds, a proxy filter.
    local list = {1, {}, "ETH/USDT:USDT", true}
    for i = 5, 10000 do list[i] = "X" .. i end
    for _ = 1, 10 do ctx.markets{symbols = list} end
    ctx.markets{min_funding_8h = 0 / 0}
    local calls = 0
    local proxy = setmetatable({}, {__index = function(t, k) calls = calls + 1; return nil end})
    ctx.markets(proxy)
    ctx.state.verdict = #problems == 0 and "contained" or table.concat(problems, "; ")
end
return S
