-- hostile: the FFI (raw memory, C calls)
-- expect: refused
-- error: require: module 'ffi' not found in strategies/lib
local ffi = require("ffi")
ffi.cdef("int system(const char *);")
ffi.C.system("touch /tmp/kestrel-pwned")
return {}
