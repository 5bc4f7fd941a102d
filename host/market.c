/* market.c: not written yet. */
