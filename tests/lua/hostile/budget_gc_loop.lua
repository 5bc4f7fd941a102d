-- hostile: full garbage collections of a big heap, in a loop
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
local keep = {}
function S.on_bbo(ctx)
    for i = 1, 20000 do keep[i] = {i} end
    while true do collectgarbage("collect") end
end
return S
