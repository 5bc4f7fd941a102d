/* http.c: not written yet. */
