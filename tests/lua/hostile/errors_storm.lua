-- hostile: an error in every on_bbo
-- expect: disabled
-- reason: too many errors
-- error: storm
local S = {}
function S.on_bbo(ctx, bbo)
    error("storm " .. bbo.bid)
end
return S
