-- hostile: table.sort with a comparator that lies, then one that loops
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_bbo(ctx)
    local t = {}
    for i = 1, 1000 do t[i] = i end
    pcall(table.sort, t, function(a, b) return true end)
    table.sort(t, function(a, b) while true do end end)
end
return S
