-- hostile: ctx functions where they are not allowed (ordering from on_stop, from a
-- coroutine kept from another callback), ctx mutated
-- expect: running
-- verdict: contained
local S = {}
local co
function S.on_start(ctx)
    local order = ctx.order
    co = coroutine.create(function()
        while true do
            coroutine.yield(pcall(order, {symbol = "ETH/USDT:USDT", side = "buy", qty = 0.01}))
        end
    end)
    ctx.order = function() error("replaced") end -- only this strategy's table
end
function S.on_stop(ctx)
    local problems = {}
    for _, name in ipairs({"timer", "subscribe", "transfer", "hedge", "amend"}) do
        local ok, err = pcall(ctx[name], {})
        if ok or not tostring(err):find("not allowed in on_stop", 1, true) then
            problems[#problems + 1] = name .. ": " .. tostring(err)
        end
    end
    local _, ok, err = coroutine.resume(co)
    if ok or not tostring(err):find("not allowed in on_stop", 1, true) then
        problems[#problems + 1] = "order from a coroutine: " .. tostring(err)
    end
    ctx.state.verdict = #problems == 0 and "contained" or table.concat(problems, "; ")
end
return S
