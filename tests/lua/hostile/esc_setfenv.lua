-- hostile: setfenv / getfenv through every door: globals, rawget, the string metatable,
-- functions' environments
-- expect: running
-- verdict: contained
local S = {}
local found = {}
for _, name in ipairs({"setfenv", "getfenv", "newproxy", "gcinfo", "module", "dofile", "loadfile"}) do
    if rawget(_G, name) ~= nil or _G[name] ~= nil then found[#found + 1] = name end
end
if rawget(string, "dump") ~= nil then found[#found + 1] = "string.dump" end
for _, fn in pairs({print, load, require, pairs, string.format, tostring}) do
    local ok, env = pcall(function() return getfenv(fn) end)
    if ok then found[#found + 1] = "getfenv(fn)" end
end
function S.on_start(ctx)
    ctx.state.verdict = #found == 0 and "contained" or ("ESCAPED: " .. table.concat(found, ","))
end
return S
