-- hostile: a table that grows until the allocator cap
-- expect: disabled
-- reason: memory limit exceeded
-- error: not enough memory
local S = {}
local t = {}
function S.on_bbo(ctx)
    local chunk = ("z"):rep(1000)
    for i = 1, 1e9 do t[#t + 1] = chunk .. i end
end
return S
