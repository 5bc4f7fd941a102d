-- hostile: an infinite loop in on_bbo
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_bbo(ctx, arg)
    while true do end
end
return S
