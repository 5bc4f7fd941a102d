-- hostile: catastrophic backtracking inside string.find (C code: no count hook there)
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_bbo(ctx)
    local s = ("a"):rep(20000)
    return s:find("a*a*a*a*b")
end
return S
