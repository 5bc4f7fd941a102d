/* lua_api.c: not written yet. */
