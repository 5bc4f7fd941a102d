-- hostile: a string doubled by concatenation until the cap
-- expect: disabled
-- reason: memory limit exceeded
-- error: not enough memory
local S = {}
function S.on_ticker(ctx)
    local s = "x"
    while true do s = s .. s end
end
return S
