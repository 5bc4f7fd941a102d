/* sim_replay_csv: the CSV formats, recognized by their header line.
 *
 *   timestamp,open,high,low,close,volume,quote_volume,trades,close_time   Binance 1h klines
 *   timestamp,symbol,funding_rate                                        Binance funding
 *   timestamp,symbol,sum_open_interest,sum_open_interest_value           Binance OI history
 *   timestamp,symbol,side,avg_price,filled_qty,usd_value                 Binance forceOrder
 *   timestamp,symbol,funding_rate,mark_price                             Hyperliquid ctxs
 *
 * Every number is parsed from its text with ks_dec_parse. */
#include "sim_replay.h"

#include "sim_lines.h"
#include "sim_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_MS 1000000LL
#define NS_PER_H  (3600LL * 1000000000LL)
#define MAX_COLS  16

typedef enum csv_kind {
    CSV_KLINES = 1,
    CSV_FUNDING,
    CSV_OI,
    CSV_LIQ,
    CSV_HL_CTX,
    CSV_HL_ACCOUNT_LIQ,
} csv_kind_t;

typedef struct col {
    const char *s;
    size_t n;
} col_t;

static int split(char *line, col_t *cols, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *c = strchr(p, ',');
        if (n < max) {
            cols[n].s = p;
            cols[n].n = c ? (size_t)(c - p) : strlen(p);
        }
        n++;
        if (!c)
            break;
        p = c + 1;
    }
    return n;
}

static bool dec(const col_t *c, ks_dec_t *out)
{
    if (!c->n || ks_dec_parse(c->s, c->n, out) != KS_OK)
        return false;
    *out = ks_dec_normalize(*out);
    return true;
}

static void str(const col_t *c, char *buf, size_t cap)
{
    size_t n = c->n < cap - 1 ? c->n : cap - 1;
    memcpy(buf, c->s, n);
    buf[n] = '\0';
}

/* BTCUSDT from ".../1h/BTCUSDT.csv". */
static void symbol_from_path(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strcspn(b, ".");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, b, n);
    out[n] = '\0';
}

static int32_t binance_perp(ks_replay_t *r, const char *id)
{
    char base[KS_ASSET_LEN], quote[KS_ASSET_LEN];
    if (!ks_replay_split_pair(id, base, sizeof(base), quote, sizeof(quote)))
        return -1;
    return ks_replay_inst_get(r, KS_KIND_PERP, id, base, quote, NULL);
}

static int32_t hl_perp(ks_replay_t *r, const char *coin)
{
    return ks_replay_inst_get(r, KS_KIND_PERP, coin, coin, "USDC", NULL);
}

int ks_replay_read_csv(ks_replay_t *r, const char *path, const char *header, char *err,
                       size_t err_len)
{
    static const struct {
        const char *header, *format;
        csv_kind_t kind;
    } kinds[] = {
        {"timestamp,open,high,low,close,volume,quote_volume,trades,close_time",
         "binance-klines-csv", CSV_KLINES},
        {"timestamp,symbol,funding_rate", "binance-funding-csv", CSV_FUNDING},
        {"timestamp,symbol,sum_open_interest,sum_open_interest_value", "binance-oi-csv", CSV_OI},
        {"timestamp,symbol,side,avg_price,filled_qty,usd_value", "binance-liquidations-csv",
         CSV_LIQ},
        {"timestamp,symbol,funding_rate,mark_price", "hyperliquid-ctx-csv", CSV_HL_CTX},
        {"time,user,liquidated_ntl_pos,liquidated_account_value,leverage_type", "",
         CSV_HL_ACCOUNT_LIQ},
    };
    csv_kind_t kind = 0;
    const char *format = NULL;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(header, kinds[i].header) == 0) {
            kind = kinds[i].kind;
            format = kinds[i].format;
        }
    if (!kind) {
        snprintf(err, err_len, "%s: unrecognized CSV header \"%.80s\"", path, header);
        return KS_ENOTSUP;
    }
    if (kind == CSV_HL_ACCOUNT_LIQ) {
        snprintf(err, err_len,
                 "%s: account-level liquidations (no coin, no price) cannot be replayed", path);
        return KS_ENOTSUP;
    }

    ks_lines_t lines;
    int rc = ks_lines_open(&lines, path, err, err_len);
    if (rc != KS_OK)
        return rc;
    ks_rp_file_t *f = ks_replay_file_new(r, path, format);
    if (!f) {
        ks_lines_close(&lines);
        return KS_ENOMEM;
    }
    char *line, sym[KS_SYMBOL_LEN], file_sym[KS_SYMBOL_LEN];
    size_t len;
    int32_t file_inst = -1;
    ks_dec_t qv[24];
    int n_qv = 0, qv_pos = 0;
    int64_t hl_snapshot = -1; /* first snapshot time of a Hyperliquid ctx series */
    bool hl_first = true;
    symbol_from_path(path, file_sym, sizeof(file_sym));

    while ((rc = ks_lines_next(&lines, &line, &len, err, err_len)) == 1) {
        col_t c[MAX_COLS];
        f->lines++;
        if (lines.lineno == 1 || !len)
            continue;
        int n = split(line, c, MAX_COLS);
        ks_rp_event_t e;
        memset(&e, 0, sizeof(e));
        int64_t ts = 0;
        bool ok = true;
        switch (kind) {
        case CSV_KLINES: {
            ks_dec_t high, low, close, vol, qvol;
            int64_t close_time;
            if (file_inst < 0 && (file_inst = binance_perp(r, file_sym)) < 0) {
                snprintf(err, err_len, "%s: cannot tell the symbol from the file name", path);
                rc = KS_EINVAL;
                goto done;
            }
            ok = n >= 9 && dec(&c[2], &high) && dec(&c[3], &low) && dec(&c[4], &close) &&
                 dec(&c[5], &vol) && dec(&c[6], &qvol) &&
                 ks_sim_ms_to_ns(c[8].s, c[8].n, &close_time) && close.mant > 0;
            if (!ok)
                break;
            /* The candle is known when it closes: its close_time is the event time. */
            ts = close_time;
            ks_rp_ticker_t t;
            memset(&t, 0, sizeof(t));
            t.last = t.mark = close;
            t.fields = KS_TK_LAST | KS_TK_MARK;
            qv[qv_pos] = qvol;
            qv_pos = (qv_pos + 1) % 24;
            if (n_qv < 24)
                n_qv++;
            if (n_qv == 24) {
                ks_dec_t sum = KS_DEC_ZERO;
                for (int k = 0; k < 24; k++)
                    ks_dec_add(sum, qv[k], &sum);
                t.volume_quote_24h = ks_dec_normalize(sum);
                t.fields |= KS_TK_VOLUME_QUOTE_24H;
            }
            e.kind = KS_RP_KLINE;
            e.inst = file_inst;
            e.px = close;
            e.px2 = high;
            e.qty2 = low;
            e.qty = qvol;
            if (ks_replay_push_ticker(r, &t, &e.off) != KS_OK) {
                rc = KS_ENOMEM;
                goto done;
            }
            ks_rp_inst_t *in = ks_replay_inst_mut(r, file_inst);
            in->flags |= KS_RPI_KLINE | KS_RPI_MARK;
            ks_replay_seen(r, file_inst, close, vol);
            ks_replay_seen(r, file_inst, high, KS_DEC_ZERO);
            ks_replay_seen(r, file_inst, low, KS_DEC_ZERO);
            break;
        }
        case CSV_FUNDING: {
            ks_dec_t rate;
            ok = n >= 3 && ks_sim_ms_to_ns(c[0].s, c[0].n, &ts) && dec(&c[2], &rate);
            if (!ok)
                break;
            str(&c[1], sym, sizeof(sym));
            if ((e.inst = binance_perp(r, sym)) < 0) {
                ok = false;
                break;
            }
            e.kind = KS_RP_FUNDING;
            e.px = rate;
            ks_replay_inst_mut(r, e.inst)->flags |= KS_RPI_FUNDING;
            break;
        }
        case CSV_OI: {
            ks_rp_ticker_t t;
            memset(&t, 0, sizeof(t));
            ok = n >= 4 && ks_sim_ms_to_ns(c[0].s, c[0].n, &ts) && dec(&c[2], &t.open_interest);
            if (!ok)
                break;
            str(&c[1], sym, sizeof(sym));
            if ((e.inst = binance_perp(r, sym)) < 0) {
                ok = false;
                break;
            }
            t.fields = KS_TK_OPEN_INTEREST;
            e.kind = KS_RP_TICKER;
            if (ks_replay_push_ticker(r, &t, &e.off) != KS_OK) {
                rc = KS_ENOMEM;
                goto done;
            }
            break;
        }
        case CSV_LIQ: {
            ok = n >= 6 && ks_sim_iso_to_ns(c[0].s, c[0].n, &ts) && dec(&c[3], &e.px) &&
                 dec(&c[4], &e.qty);
            if (!ok)
                break;
            str(&c[1], sym, sizeof(sym));
            /* Symbols that are not [A-Z0-9] (one is "币安人生USDT") have no unified name. */
            e.inst = binance_perp(r, sym);
            if (c[2].n == 4 && memcmp(c[2].s, "SELL", 4) == 0)
                e.side = KS_SIDE_SELL;
            else if (c[2].n == 3 && memcmp(c[2].s, "BUY", 3) == 0)
                e.side = KS_SIDE_BUY;
            else {
                ok = false;
                break;
            }
            e.kind = KS_RP_LIQ;
            if (e.inst >= 0)
                ks_replay_seen(r, e.inst, e.px, e.qty);
            break;
        }
        case CSV_HL_CTX: {
            ks_rp_ticker_t t;
            memset(&t, 0, sizeof(t));
            ok = n >= 4 && ks_sim_iso_to_ns(c[0].s, c[0].n, &ts) && dec(&c[2], &t.funding_rate) &&
                 dec(&c[3], &t.mark) && t.mark.mant > 0;
            if (!ok)
                break;
            str(&c[1], sym, sizeof(sym));
            if ((e.inst = hl_perp(r, sym)) < 0) {
                ok = false;
                break;
            }
            /* Rows of one snapshot are in meta.universe order: that names the coins of a
             * positional asset-context message loaded beside this file. */
            if (hl_first && hl_snapshot < 0)
                hl_snapshot = ts;
            if (ts != hl_snapshot)
                hl_first = false;
            if (hl_first && ks_replay_hl_universe_add(r, sym) != KS_OK) {
                rc = KS_ENOMEM;
                goto done;
            }
            /* Hyperliquid funds hourly, on the hour; the rate is the predicted one. */
            t.funding_interval_h = 1;
            t.next_funding_ts = (ts / NS_PER_H + 1) * NS_PER_H;
            t.fields =
                KS_TK_MARK | KS_TK_FUNDING_RATE | KS_TK_FUNDING_INTERVAL | KS_TK_NEXT_FUNDING;
            e.kind = KS_RP_TICKER;
            if (ks_replay_push_ticker(r, &t, &e.off) != KS_OK) {
                rc = KS_ENOMEM;
                goto done;
            }
            ks_rp_inst_t *in = ks_replay_inst_mut(r, e.inst);
            in->flags |= KS_RPI_MARK;
            in->funding_interval_h = 1;
            ks_replay_seen(r, e.inst, t.mark, KS_DEC_ZERO);
            break;
        }
        case CSV_HL_ACCOUNT_LIQ:
            ok = false;
            break;
        }
        if (!ok) {
            snprintf(err, err_len, "%s:%llu: malformed %s row", path,
                     (unsigned long long)lines.lineno, format);
            rc = KS_EINVAL;
            goto done;
        }
        e.ts = e.venue_ts = ts;
        f->messages[e.kind]++;
        if (e.inst < 0) {
            f->skipped++;
            ks_replay_file_time(f, ts);
            continue;
        }
        if (!ks_replay_push(r, f, &e)) {
            rc = KS_ENOMEM;
            goto done;
        }
    }
    if (rc == 0)
        rc = KS_OK;
done:
    ks_lines_close(&lines);
    return rc;
}
