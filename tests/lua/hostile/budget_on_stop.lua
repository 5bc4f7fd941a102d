-- hostile: an infinite loop in on_stop
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
-- when: stop
local S = {}
function S.on_stop(ctx, arg)
    while true do end
end
return S
