/* bench_replay_load: how fast the sim venue loads recorded data (decompress, parse, sort,
 * infer specs) before a replay starts. Best of N runs per path.
 *
 *   bench_replay_load [-n RUNS] PATH...   (each PATH is loaded on its own) */
#include "sim_replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int runs = 3, first = 1;
    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        runs = atoi(argv[2]);
        first = 3;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [-n RUNS] PATH...\n", argv[0]);
        return 2;
    }
    printf("%-58s %9s %9s %8s %12s %12s\n", "data", "lines", "events", "load s", "lines/s",
           "events/s");
    for (int a = first; a < argc; a++) {
        double best = 1e9;
        uint64_t lines = 0, events = 0;
        for (int k = 0; k < runs; k++) {
            char err[2048];
            ks_replay_t *r = ks_replay_new();
            ks_replay_opts_t o = {.min_notional = KS_DEC(5, 0)};
            double t0 = now_s();
            if (ks_replay_load(r, argv[a], err, sizeof(err)) != KS_OK ||
                ks_replay_finish(r, &o, err, sizeof(err)) != KS_OK) {
                fprintf(stderr, "%s\n", err);
                ks_replay_free(r);
                return 1;
            }
            double dt = now_s() - t0;
            if (dt < best)
                best = dt;
            lines = 0;
            for (uint32_t i = 0; i < ks_replay_file_count(r); i++)
                lines += ks_replay_file(r, i)->lines;
            events = ks_replay_count(r);
            ks_replay_free(r);
        }
        const char *name = argv[a];
        size_t n = strlen(name);
        if (n > 58)
            name += n - 58;
        printf("%-58s %9llu %9llu %8.3f %12.0f %12.0f\n", name, (unsigned long long)lines,
               (unsigned long long)events, best, (double)lines / best, (double)events / best);
    }
    return 0;
}
