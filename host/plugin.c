/* plugin.c: not written yet. */
