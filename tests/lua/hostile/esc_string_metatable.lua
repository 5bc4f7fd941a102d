-- hostile: tamper with the string metatable shared by every string of the VM
-- expect: running
-- verdict: contained
local S = {}
local found = {}
local mt = getmetatable("")
if mt ~= "protected" then found[#found + 1] = "metatable visible" end
if pcall(function() getmetatable("").__index = {dump = true} end) then found[#found + 1] = "assign __index" end
if pcall(setmetatable, "", {}) then found[#found + 1] = "setmetatable on a string" end
if pcall(rawset, getmetatable(""), "__index", {}) then found[#found + 1] = "rawset" end
if ("x").dump ~= nil then found[#found + 1] = "(''):dump" end
if rawget(getmetatable("") == "protected" and {} or getmetatable(""), "__index") then found[#found + 1] = "raw mt" end
-- Methods still work, and changing this VM's own string table changes only this VM.
if ("abc"):upper() ~= "ABC" then found[#found + 1] = "methods broken" end
function S.on_start(ctx)
    ctx.state.verdict = #found == 0 and "contained" or ("ESCAPED: " .. table.concat(found, ","))
end
return S
