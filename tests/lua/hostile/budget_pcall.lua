-- hostile: catch the budget error with pcall and keep looping
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_bbo(ctx)
    while true do
        pcall(function() while true do end end)
    end
end
return S
