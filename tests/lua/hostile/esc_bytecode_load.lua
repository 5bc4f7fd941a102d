-- hostile: load a hand-made LuaJIT bytecode chunk ("\27LJ...")
-- expect: refused
-- error: binary chunks are not allowed
local chunk = "\27LJ\2\10\0\9@evil.lua\0\0\0\0"
local fn = assert(load(chunk))
return fn()
