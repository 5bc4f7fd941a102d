-- hostile: the debug library (registry, upvalues, hooks)
-- expect: refused
-- error: attempt to index global 'debug' (a nil value)
local registry = debug.getregistry()
return {registry = registry}
