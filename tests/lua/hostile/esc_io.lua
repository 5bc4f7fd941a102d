-- hostile: files
-- expect: refused
-- error: attempt to index global 'io' (a nil value)
local f = io.open("/etc/passwd")
return {data = f:read("*a")}
