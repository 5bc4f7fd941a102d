-- hostile: compile a huge chunk built at run time, in a loop
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_bbo(ctx)
    local src = ("local x = 1 "):rep(500000)
    while true do load(src) end
end
return S
