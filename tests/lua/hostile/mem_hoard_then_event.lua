-- hostile: fill the heap to the cap, swallow the out-of-memory error, return normally:
-- the host then needs memory to push the next event's table into this VM
-- expect: disabled
-- reason: memory limit exceeded
-- error: not enough memory
local S = {}
local hoard = {}
function S.on_start(ctx)
    pcall(function()
        local s = ("h"):rep(1024 * 1024)
        while true do hoard[#hoard + 1] = s .. #hoard end
    end)
    pcall(function()
        while true do hoard[#hoard + 1] = {} end
    end)
end
function S.on_bbo(ctx, bbo)
end
return S
