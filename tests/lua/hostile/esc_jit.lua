-- hostile: turn the JIT back on (the count hook never fires inside traces)
-- expect: refused
-- error: attempt to index global 'jit' (a nil value)
jit.on()
while true do end
