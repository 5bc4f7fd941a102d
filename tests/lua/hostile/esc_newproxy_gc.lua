-- hostile: a __gc finalizer calling ctx after the callback returned (newproxy is gone,
-- and LuaJIT never runs __gc on tables)
-- expect: running
-- verdict: contained
local S = {}
local gc_ran = false
local saved_ctx
function S.on_start(ctx)
    saved_ctx = ctx
    ctx.state.newproxy = newproxy ~= nil
    for i = 1, 100 do
        setmetatable({}, {__gc = function()
            gc_ran = true
            saved_ctx.order{symbol = "ETH/USDT:USDT", side = "buy", qty = 1}
        end})
    end
    collectgarbage()
    collectgarbage()
    ctx.timer("check", 2)
end
function S.on_timer(ctx)
    collectgarbage()
    ctx.state.verdict = (not gc_ran and not ctx.state.newproxy) and "contained" or "ESCAPED: __gc ran"
end
return S
