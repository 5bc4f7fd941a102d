-- hostile: a cycle in ctx.state, and ctx.state swapped for a proxy with metamethods
-- expect: running
-- verdict: contained
local S = {}
function S.on_start(ctx)
    ctx.state.loop = {}
    ctx.state.loop.back = ctx.state.loop
    setmetatable(ctx, {__index = function() while true do end end,
                       __newindex = function() while true do end end})
    ctx.timer("fix", 20)
end
function S.on_timer(ctx)
    ctx.state.loop = nil
    setmetatable(ctx, nil)
    ctx.state.verdict = "contained"
end
return S
