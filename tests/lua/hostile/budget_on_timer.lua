-- hostile: an infinite loop in on_timer
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_start(ctx) ctx.timer("spin", 5) end
function S.on_timer(ctx, arg)
    while true do end
end
return S
