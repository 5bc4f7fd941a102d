-- hostile: an infinite loop in on_start
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_start(ctx, arg)
    while true do end
end
return S
