-- hostile: keep ctx (and a coroutine using it) around, with a repeating timer, then get
-- disabled by an error storm: nothing of the strategy may run afterwards (no timer, no
-- callback, no journaled error; the suite checks the journal ends with the disable)
-- expect: disabled
-- reason: too many errors
-- error: still here
local S = {}
local kept
function S.on_start(ctx)
    kept = coroutine.wrap(function()
        while true do
            ctx.log("warn", "after disable?")
            coroutine.yield()
        end
    end)
    ctx.timer("tick", 1, 1)
end
function S.on_timer(ctx)
    kept()
    error("still here")
end
return S
