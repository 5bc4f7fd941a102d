/* oms.c: not written yet. */
