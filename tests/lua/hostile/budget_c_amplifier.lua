-- hostile: cheap-looking calls into C that each chew through megabytes
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_bbo(ctx)
    local s = ("a"):rep(8 * 1024 * 1024)
    local t = {}
    for i = 1, 1000 do t[i] = s:sub(1, 1000) end
    for i = 1, 1e9 do
        s:find("b", 1, true)
        s:upper()
        table.concat(t)
        tostring(s:len())
    end
end
return S
