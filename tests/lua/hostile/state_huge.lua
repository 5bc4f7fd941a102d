-- hostile: a ctx.state far too large to serialize every second
-- expect: running
-- verdict: contained
local S = {}
function S.on_start(ctx)
    local big = {}
    for i = 1, 300000 do big[i] = i end
    ctx.state.big = big
    ctx.timer("shrink", 20)
end
function S.on_timer(ctx)
    ctx.state.big = nil
    ctx.state.verdict = "contained"
end
return S
