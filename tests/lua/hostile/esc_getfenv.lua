-- hostile: getfenv to reach the real globals behind the sandbox
-- expect: refused
-- error: attempt to call global 'getfenv' (a nil value)
local real = getfenv(0)
return {io = real.io}
