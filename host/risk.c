/* risk.c: not written yet. */
