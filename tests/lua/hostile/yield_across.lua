-- hostile: yield out of a callback into the host, and across pcall and ctx calls
-- expect: running
-- verdict: contained
local S = {}
function S.on_start(ctx)
    local problems = {}
    local ok, err = pcall(coroutine.yield, 1)
    if ok then problems[#problems + 1] = "yielded to the host" end
    local co = coroutine.wrap(function()
        ctx.markets{min_volume_24h = coroutine.yield("inside")}
        return "done"
    end)
    local first = co()
    local okk, res = pcall(co, 0)
    ok, err = pcall(coroutine.resume, coroutine.running())
    ctx.state.verdict = #problems == 0 and "contained" or table.concat(problems, "; ")
end
return S
