-- hostile: __tostring calling tostring on itself: LuaJIT turns it into a tail call, an
-- endless loop in constant stack; the budget stops it
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_bbo(ctx)
    local t = setmetatable({}, {__tostring = function(x) return tostring(x) end})
    local ok = pcall(tostring, t)
    ctx.state.survived = true
end
return S
