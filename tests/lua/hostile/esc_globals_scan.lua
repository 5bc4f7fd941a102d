-- hostile: walk _G (pairs, rawget, next) and every table in it for anything beyond the
-- whitelist
-- expect: running
-- verdict: contained
local S = {}
local allowed = {
    _G = true, _VERSION = true, assert = true, error = true, ipairs = true, next = true,
    pairs = true, pcall = true, select = true, tonumber = true, tostring = true, type = true,
    unpack = true, xpcall = true, rawequal = true, rawget = true, rawset = true,
    setmetatable = true, getmetatable = true, print = true, load = true, loadstring = true,
    require = true, collectgarbage = true, string = true, table = true, math = true,
    coroutine = true, bit = true, S = true,
}
local found = {}
for k, v in next, _G do
    if not allowed[k] then found[#found + 1] = tostring(k) end
    if type(v) == "table" and v ~= _G then
        for k2, v2 in pairs(v) do
            if type(v2) == "table" and k2 ~= "loaded" then found[#found + 1] = k .. "." .. tostring(k2) end
        end
    end
end
for _, name in ipairs({"io", "os", "ffi", "jit", "debug", "package"}) do
    if rawget(_G, name) ~= nil then found[#found + 1] = name end
end
function S.on_start(ctx)
    ctx.state.verdict = #found == 0 and "contained" or ("ESCAPED: " .. table.concat(found, ","))
end
return S
