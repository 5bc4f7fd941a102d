-- hostile: the returned table is a proxy whose __index loops: the host looks callbacks up
-- with raw accesses, so the strategy is simply inert
-- expect: running
return setmetatable({}, {
    __index = function(t, k) while true do end end,
    __newindex = function() while true do end end,
})
