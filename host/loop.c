/* loop.c: not written yet. */
