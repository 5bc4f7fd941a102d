-- hostile: one huge string after another
-- expect: disabled
-- reason: memory limit exceeded
-- error: not enough memory
local S = {}
local keep = {}
function S.on_bbo(ctx)
    keep[1] = ("x"):rep(40 * 1024 * 1024)
    keep[2] = ("y"):rep(40 * 1024 * 1024)
end
return S
