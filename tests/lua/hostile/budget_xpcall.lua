-- hostile: xpcall whose message handler loops (and a handler that retries)
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
local function handler(e)
    while true do end
end
function S.on_bbo(ctx)
    while true do
        xpcall(function() while true do end end, handler)
        xpcall(function() error("x") end, function() return xpcall(function() while true do end end, handler) end)
    end
end
return S
