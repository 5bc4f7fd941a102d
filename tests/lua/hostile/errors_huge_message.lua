-- hostile: 10 MB error messages, many times
-- expect: disabled
-- reason: too many errors
-- error: xxxxxxxxxx
-- config: "max_errors": 3
local S = {}
function S.on_bbo(ctx)
    error(("x"):rep(10 * 1024 * 1024))
end
return S
