/* bybit_emu: the loopback Bybit emulator as a program, for end-to-end runs of the whole
 * host (see bybit_emu.h for the faults).
 *
 *   bybit_emu [--port N] [--seed N] [--step-ms MS] [--bases BTC,ETH,SOL] [--key K]
 *             [--secret S] [--fault SPEC@SECONDS]... [--record FILE] [--duration S] [--log]
 *
 * Prints "port N" on the first line of stdout once listening (use --port 0 for any free
 * port), runs until SIGINT/SIGTERM or --duration, then writes its record (orders, fills,
 * stats as JSON lines) to --record. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kestrel/kestrel.h>

#include "bybit_emu.h"
#include "log.h"

static void on_signal(ks_loop_t *loop, void *ud)
{
    ks_loop_stop(loop);
}

static void usage(void)
{
    fputs("usage: bybit_emu [--port N] [--seed N] [--step-ms MS] [--bases BTC,ETH,SOL]\n"
          "                 [--key K] [--secret S] [--fault SPEC@SECONDS]... [--record FILE]\n"
          "                 [--duration SECONDS] [--log]\n",
          stderr);
}

int main(int argc, char **argv)
{
    ks_bybit_emu_opts_t o;
    const char *record = NULL;
    const char *faults[64];
    int n_faults = 0;
    double duration = 0;
    char bases_buf[256] = "";
    const char *bases[8];
    memset(&o, 0, sizeof(o));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--log") == 0) {
            o.log = true;
            continue;
        }
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (strcmp(a, "--port") == 0)
            o.port = atoi(v);
        else if (strcmp(a, "--seed") == 0)
            o.seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--step-ms") == 0)
            o.step_ms = atoi(v);
        else if (strcmp(a, "--key") == 0)
            o.api_key = v;
        else if (strcmp(a, "--secret") == 0)
            o.api_secret = v;
        else if (strcmp(a, "--record") == 0)
            record = v;
        else if (strcmp(a, "--duration") == 0)
            duration = strtod(v, NULL);
        else if (strcmp(a, "--fault") == 0 && n_faults < 64)
            faults[n_faults++] = v;
        else if (strcmp(a, "--bases") == 0) {
            snprintf(bases_buf, sizeof(bases_buf), "%s", v);
            for (char *t = strtok(bases_buf, ","); t && o.n_bases < 8; t = strtok(NULL, ","))
                bases[o.n_bases++] = t;
            o.bases = bases;
        } else {
            usage();
            return 2;
        }
    }
    ks_log_setup(stderr, KS_LOG_WARN, KS_LOGF_TEXT);
    ks_loop_t *loop = ks_loop_new(false, 0);
    if (!loop)
        return 1;
    ks_loop_signal(loop, SIGINT, on_signal, NULL);
    ks_loop_signal(loop, SIGTERM, on_signal, NULL);
    char err[256];
    ks_bybit_emu_t *emu = ks_bybit_emu_new(loop, &o, err, sizeof(err));
    if (!emu) {
        fprintf(stderr, "bybit_emu: %s\n", err);
        ks_loop_free(loop);
        return 1;
    }
    for (int i = 0; i < n_faults; i++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "%s", faults[i]);
        char *at = strchr(spec, '@');
        double when = 0;
        if (at) {
            *at = '\0';
            when = strtod(at + 1, NULL);
        }
        if (ks_bybit_emu_fault_at(emu, spec, (int64_t)(when * 1000)) != KS_OK) {
            fprintf(stderr, "bybit_emu: bad fault %s\n", faults[i]);
            ks_bybit_emu_free(emu);
            ks_loop_free(loop);
            return 2;
        }
    }
    printf("port %d\n", ks_bybit_emu_port(emu));
    fflush(stdout);
    if (duration > 0)
        ks_loop_run_until(loop, ks_loop_now_ns(loop) + (int64_t)(duration * 1e9));
    else
        ks_loop_run(loop);
    int rc = 0;
    if (record) {
        FILE *f = fopen(record, "w");
        if (!f || ks_bybit_emu_write_record(emu, f) != KS_OK) {
            fprintf(stderr, "bybit_emu: cannot write %s\n", record);
            rc = 1;
        }
        if (f)
            fclose(f);
    }
    ks_bybit_emu_free(emu);
    ks_loop_free(loop);
    return rc;
}
