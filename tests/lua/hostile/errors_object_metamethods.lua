-- hostile: error objects whose metamethods loop or call ctx (__tostring, __index,
-- __concat, __gc): the host's message handler must touch none of them
-- expect: disabled
-- reason: too many errors
-- error: (error object is a table value)
-- config: "max_errors": 3
local S = {}
local saved
local evil = {
    __tostring = function() while true do end end,
    __index = function() while true do end end,
    __concat = function() while true do end end,
    __eq = function() while true do end end,
    __len = function() while true do end end,
    __gc = function() saved.order{symbol = "ETH/USDT:USDT", side = "buy", qty = 1} end,
    __metatable = "nope",
}
function S.on_bbo(ctx)
    saved = ctx
    error(setmetatable({}, evil))
end
return S
