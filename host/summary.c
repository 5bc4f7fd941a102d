/* End-of-run summary (see summary.h). */
#include "summary.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lua_runtime.h"

static void dec_str(ks_dec_t d, int places, char *buf, size_t cap)
{
    ks_dec_t r;
    if (places >= 0 && ks_dec_rescale(d, places, KS_ROUND_HALF_EVEN, &r) == KS_OK)
        ks_dec_format_fixed(r, places, KS_ROUND_HALF_EVEN, buf, cap);
    else
        ks_dec_format(d, buf, cap);
}

void ks_summary_print(ks_engine_t *eng, FILE *out)
{
    char fees[KS_DEC_STRLEN], fund[KS_DEC_STRLEN], real[KS_DEC_STRLEN], unr[KS_DEC_STRLEN],
        net[KS_DEC_STRLEN];
    fprintf(out, "\n%-16s %8s %8s %14s %14s %14s %14s %14s\n", "strategy", "orders", "fills",
            "fees", "funding", "realized_pnl", "unrealized_pnl", "net_pnl");
    for (int i = 0; i < ks_engine_n_strategies(eng); i++) {
        ks_acct_totals_t t;
        ks_dec_t n;
        ks_oms_totals(ks_engine_oms(eng), i, &t);
        ks_dec_add(t.realized, t.unrealized, &n);
        ks_dec_add(n, t.funding, &n);
        ks_dec_sub(n, t.fees, &n);
        dec_str(t.fees, 4, fees, sizeof(fees));
        dec_str(t.funding, 4, fund, sizeof(fund));
        dec_str(t.realized, 4, real, sizeof(real));
        dec_str(t.unrealized, 4, unr, sizeof(unr));
        dec_str(n, 4, net, sizeof(net));
        fprintf(out, "%-16s %8llu %8llu %14s %14s %14s %14s %14s\n",
                ks_strategy_name(ks_engine_strategy(eng, i)), (unsigned long long)t.orders,
                (unsigned long long)t.fills, fees, fund, real, unr, net);
    }
    fprintf(out, "events: %llu   database: %s\n", (unsigned long long)ks_engine_event_count(eng),
            ks_engine_db_path(eng));
}

static void add_dec(cJSON *obj, const char *key, ks_dec_t d)
{
    char buf[KS_DEC_STRLEN];
    ks_dec_format(d, buf, sizeof(buf));
    cJSON_AddStringToObject(obj, key, buf);
}

char *ks_summary_json(ks_engine_t *eng)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *strats = cJSON_AddObjectToObject(root, "strategies");
    ks_market_t *m = ks_engine_market(eng);
    cJSON_AddStringToObject(root, "mode", ks_engine_is_backtest(eng) ? "backtest" : "run");
    for (int i = 0; i < ks_engine_n_strategies(eng); i++) {
        ks_strategy_t *st = ks_engine_strategy(eng, i);
        ks_acct_totals_t t;
        ks_dec_t n;
        ks_oms_totals(ks_engine_oms(eng), i, &t);
        cJSON *s = cJSON_AddObjectToObject(strats, ks_strategy_name(st));
        cJSON_AddNumberToObject(s, "orders", (double)t.orders);
        cJSON_AddNumberToObject(s, "fills", (double)t.fills);
        cJSON_AddNumberToObject(s, "rejects", (double)t.rejects);
        add_dec(s, "fees", t.fees);
        add_dec(s, "funding", t.funding);
        add_dec(s, "realized_pnl", t.realized);
        add_dec(s, "unrealized_pnl", t.unrealized);
        ks_dec_add(t.realized, t.unrealized, &n);
        ks_dec_add(n, t.funding, &n);
        ks_dec_sub(n, t.fees, &n);
        add_dec(s, "net_pnl", n);
        cJSON_AddNumberToObject(s, "open_positions", t.open_positions);
        cJSON_AddBoolToObject(s, "enabled", ks_strategy_enabled(st));
        cJSON *pos = cJSON_AddObjectToObject(s, "positions");
        for (int32_t k = 0; k < m->n; k++) {
            const ks_pos_t *p = ks_oms_position(ks_engine_oms(eng), i, k);
            if (!ks_dec_is_zero(p->qty))
                add_dec(pos, ks_market_inst(m, k)->symbol, p->qty);
        }
    }
    cJSON *ev = cJSON_AddObjectToObject(root, "events");
    cJSON_AddNumberToObject(ev, "total", (double)ks_engine_event_count(eng));
    for (int t = 1; t <= KS_EV_TYPE_MAX; t++) {
        uint64_t c = ks_engine_event_count_type(eng, t);
        if (c)
            cJSON_AddNumberToObject(ev, ks_event_type_name(t), (double)c);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

int ks_summary_write_json(ks_engine_t *eng, const char *path, char *err, size_t err_len)
{
    char *text = ks_summary_json(eng);
    FILE *f = text ? fopen(path, "w") : NULL;
    if (!f) {
        snprintf(err, err_len, "%s: cannot write: %s", path, text ? strerror(errno) : "no memory");
        free(text);
        return -1;
    }
    fputs(text, f);
    fputc('\n', f);
    free(text);
    return fclose(f) == 0 ? 0 : -1;
}
