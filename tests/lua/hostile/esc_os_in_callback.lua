-- hostile: run a command from a callback
-- expect: disabled
-- reason: on_start failed
-- error: attempt to index global 'os' (a nil value)
local S = {}
function S.on_start(ctx)
    os.execute("touch /tmp/kestrel-pwned")
end
return S
