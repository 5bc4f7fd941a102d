-- hostile: swallow the budget error in a pcall that is the callback's tail call, so no
-- instruction runs after it (the host must still count the budget as blown)
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_bbo(ctx)
    return pcall(function() while true do end end)
end
return S
