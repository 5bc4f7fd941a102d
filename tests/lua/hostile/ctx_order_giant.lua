-- hostile: giant tables handed to ctx.order, ctx.hedge, ctx.transfer, ctx.amend
-- expect: running
-- verdict: contained
local S = {}
local problems = {}
local function expect_refused(fn, arg, pattern)
    local ok, err = pcall(fn, arg)
    if ok or not tostring(err):find(pattern, 1, true) then
        problems[#problems + 1] = "not refused (" .. pattern .. "): " .. tostring(err):sub(1, 200)
    end
end
function S.on_start(ctx)
    local giant = {symbol = "ETH/USDT:USDT", side = "buy", qty = 0.01}
    for i = 1, 200000 do giant["k" .. i] = i end
    local arr = {}
    for i = 1, 200000 do arr[i] = i end
    local deep = {}
    local d = deep
    for i = 1, 10000 do d.legs = {{}}; d = d.legs[1] end
    do -- each must raise, quickly (no walk over 200,000 keys per call)
        expect_refused(ctx.order, giant, "unknown field")
        expect_refused(ctx.order, arr, "unknown field")
        expect_refused(ctx.hedge, giant, "unknown field")
        expect_refused(ctx.hedge, {legs = arr}, "legs must be a list")
        expect_refused(ctx.hedge, deep, "legs must be a list")
        expect_refused(ctx.transfer, arr, "bad argument")
        expect_refused(ctx.order, {symbol = "ETH/USDT:USDT", side = "buy", qty = 0 / 0}, "qty must be a positive")
        expect_refused(ctx.order, {symbol = "ETH/USDT:USDT", side = "buy", qty = 1, price = 1 / 0}, "price must be a positive")
        expect_refused(ctx.timer, nil, "bad argument")
        expect_refused(ctx.metric, ("m"):rep(1e6), "bad argument")
    end
    local ok, err = ctx.order{symbol = ("S"):rep(1e6), side = "buy", qty = 1}
    if ok then problems[#problems + 1] = "a giant symbol was accepted" end
    ctx.state.verdict = #problems == 0 and "contained" or table.concat(problems, "; ")
end
return S
