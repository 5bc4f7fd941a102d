-- Looks around its environment at load time and reports what it can reach in
-- ctx.state (the sandbox is the host's: nothing of this must be reachable).
local S = {}
local found = {}
for _, name in ipairs({"io", "os", "ffi", "debug", "package", "jit", "dofile", "loadfile",
                       "getfenv", "setfenv", "newproxy", "module", "gcinfo"}) do
    if rawget(_G, name) ~= nil then found[#found + 1] = name end
end
if string.dump then found[#found + 1] = "string.dump" end
local mt = getmetatable("")
if mt ~= "protected" then found[#found + 1] = "string metatable" end
local fn, err = load("\27LJ\2\0")
if fn then found[#found + 1] = "binary load" end
local ok = pcall(require, "../../etc/passwd")
if ok then found[#found + 1] = "require ../" end
function S.on_start(ctx)
    ctx.state.found = found
    ctx.state.binary_err = err
end
return S
