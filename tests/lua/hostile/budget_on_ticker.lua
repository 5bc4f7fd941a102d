-- hostile: an infinite loop in on_ticker
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_ticker(ctx, arg)
    while true do end
end
return S
