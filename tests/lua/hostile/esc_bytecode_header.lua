-- hostile: bytecode behind a "#!" line, which LuaJIT's loader would skip
-- expect: refused
-- error: escaped: no
local fn1, e1 = loadstring("#!/bin/sh\n\27LJ\2\10\0")
local fn2, e2 = load("\239\187\191\27LJ\2\10\0") -- behind a UTF-8 byte order mark
local fn3, e3 = load("\27LJ\2\10\0", "x", "b", {}) -- asking for binary mode
error("escaped: " .. ((fn1 or fn2 or fn3) and "YES" or "no") .. " (" .. tostring(e1) .. "; " ..
      tostring(e2) .. "; " .. tostring(e3) .. ")")
