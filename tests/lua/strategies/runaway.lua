-- Loops forever on every BBO: the instruction budget stops it.
local S = {}
function S.on_bbo(ctx, bbo)
    while true do end
end
return S
