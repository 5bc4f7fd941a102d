-- A strategy with a syntax error, for the hot-reload tests: the running version must
-- keep trading.
local S = {}
function S.on_bbo(ctx, bbo)
    if bbo.bid > then
end
return S
