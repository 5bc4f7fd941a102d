/* ws.c: not written yet. */
