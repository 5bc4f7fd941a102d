-- hostile: a 100 MB string to ctx.log and print, and a flood of log lines
-- expect: running
-- verdict: contained
-- config: "memory_mb": 256
local S = {}
function S.on_start(ctx)
    local big = ("L"):rep(100 * 1024 * 1024)
    ctx.log("info", big)
    ctx.log(big)
    print(big, big)
    for i = 1, 2000 do print("flood", i) end -- rate-limited after the burst
    ctx.state.verdict = "contained"
end
return S
