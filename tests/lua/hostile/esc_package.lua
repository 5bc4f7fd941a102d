-- hostile: package.loadlib / package.loaded
-- expect: refused
-- error: attempt to index global 'package' (a nil value)
local lib = package.loadlib("libc.so.6", "system")
return {}
