-- A module that requires itself (for hostile/recursion.lua): require must report the
-- cycle instead of recursing through C until the stack runs out.
local again = require("selfreq")
return {again = again}
