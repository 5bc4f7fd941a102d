/* lua_runtime.c: not written yet. */
