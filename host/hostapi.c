/* hostapi.c: not written yet. */
