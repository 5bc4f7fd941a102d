-- hostile: recursion through Lua, and through C, which LuaJIT does not bound (it
-- crashes): gsub callbacks calling gsub, nested coroutine.resume, xpcall in xpcall, a
-- ctx.order spec whose __index would call ctx.order (never run: ctx reads specs raw), a sort comparator sorting, a module
-- requiring itself
-- expect: running
-- verdict: contained
local S = {}
function S.on_start(ctx)
    local problems = {}
    local function f() return 1 + f() end
    local ok, err = pcall(f)
    if ok or not tostring(err):find("stack overflow", 1, true) then problems[#problems + 1] = "lua: " .. tostring(err) end
    ok, err = pcall(require, "selfreq")
    if ok or not tostring(err):find("requires itself", 1, true) then problems[#problems + 1] = "require: " .. tostring(err) end
    local function g(s) return (s:gsub(".", g)) end
    ok, err = pcall(g, "abc")
    if ok then problems[#problems + 1] = "gsub recursion returned" end
    local function co() return coroutine.resume(coroutine.create(co)) end
    ok, err = pcall(co)
    if not ok then problems[#problems + 1] = "coroutines: " .. tostring(err) end
    local function x() return xpcall(x, function(e) return e end) end
    ok, err = pcall(x)
    if not ok then problems[#problems + 1] = "xpcall: " .. tostring(err) end
    -- ctx reads spec tables raw: a metamethod never runs inside a ctx function.
    local spec, reentered = nil, false
    spec = setmetatable({symbol = "ETH/USDT:USDT", side = "buy", qty = 0.01},
                        {__index = function() reentered = true; return ctx.order(spec) end})
    pcall(ctx.order, spec)
    if reentered then problems[#problems + 1] = "ctx.order ran the spec's __index" end
    local function c(a, b) table.sort({3, 2, 1}, c) return a < b end
    ok, err = pcall(table.sort, {3, 2, 1}, c)
    if ok then problems[#problems + 1] = "sort recursion returned" end
    collectgarbage()
    ok, err = pcall(string.find, ("a"):rep(300), ("a?"):rep(300) .. "b")
    if ok or not tostring(err):find("pattern too complex", 1, true) then problems[#problems + 1] = "pattern: " .. tostring(err) end
    ctx.state.verdict = #problems == 0 and "contained" or table.concat(problems, "; ")
end
return S
