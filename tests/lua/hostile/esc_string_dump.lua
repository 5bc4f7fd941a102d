-- hostile: string.dump to get a function's bytecode (to patch it and load it back)
-- expect: refused
-- error: attempt to call field 'dump' (a nil value)
local f = function() return 1 end
local bytecode = ("").dump(f) -- the string metatable points at the sandboxed string table
return {bytecode = bytecode}
