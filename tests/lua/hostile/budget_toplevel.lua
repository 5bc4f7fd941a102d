-- hostile: an infinite loop at the top level of the file
-- expect: refused
-- error: instruction budget exceeded
while true do end
