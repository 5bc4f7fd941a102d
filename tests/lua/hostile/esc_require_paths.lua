-- hostile: require outside strategies/lib: "../", absolute paths, standard modules
-- expect: running
-- verdict: contained
local S = {}
local names = {"../../../../etc/passwd", "/etc/passwd", "..", "lib/../../x", "a..b", ".hidden",
               "trailing.", "os", "io", "ffi", "jit", "debug", "package", "string.buffer",
               "table.new", "a/b", "a\0b", "", ("x"):rep(500)}
local verdict = "contained"
for _, name in ipairs(names) do
    local ok, err = pcall(require, name)
    if ok or not (tostring(err):find("invalid module name", 1, true) or
                  tostring(err):find("not found in strategies/lib", 1, true)) then
        verdict = "ESCAPED via " .. name .. ": " .. tostring(err)
        break
    end
end
local ok, err = pcall(require, nil)
if ok then verdict = "require(nil) worked" end
function S.on_start(ctx)
    ctx.state.verdict = verdict
end
return S
