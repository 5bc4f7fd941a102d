-- hostile: load() with an environment of its own, to reach the host's globals
-- expect: running
-- verdict: contained
local S = {}
local found = {}
local probe = "return io, os, debug, getfenv, package, jit, ffi"
local env = setmetatable({}, {__index = function(t, k) return rawget(_G, k) end})
for _, e in ipairs({{}, env, _G, false}) do
    local fn = load(probe, "=probe", "t", e or nil)
    local r = {pcall(fn)}
    for i = 2, 8 do if r[i] ~= nil then found[#found + 1] = "load env " .. i end end
end
local ok = pcall(load, function() return "return 1" end)
if ok then found[#found + 1] = "load(function)" end
local fn = load("return _G")
if fn() ~= _G then found[#found + 1] = "other _G" end
function S.on_start(ctx)
    ctx.state.verdict = #found == 0 and "contained" or ("ESCAPED: " .. table.concat(found, ","))
end
return S
