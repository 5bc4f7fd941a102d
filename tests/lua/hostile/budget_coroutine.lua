-- hostile: run the loop in coroutines, resume a fresh one whenever one dies
-- expect: disabled
-- reason: instruction budget exceeded
-- error: instruction budget exceeded
local S = {}
function S.on_bbo(ctx)
    while true do
        local co = coroutine.create(function() while true do end end)
        coroutine.resume(co)
        local w = coroutine.wrap(function() while true do coroutine.yield() end end)
        pcall(w)
    end
end
return S
