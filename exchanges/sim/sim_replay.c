/* sim_replay: the event store, format detection, and finish() (sort, window, filters,
 * spec inference, synthetic spot, candle tickers). The format readers live in
 * sim_replay_csv.c and sim_replay_json.c. */
#include "sim_replay.h"

#include "sim_core.h"
#include "sim_lines.h"
#include "sim_time.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NS_PER_MS 1000000LL
#define NS_PER_S  1000000000LL
#define NS_PER_H  (3600LL * NS_PER_S)
#define INST_HASH 4096 /* power of two, > 2 * KS_SIM_MAX_INST */

struct ks_replay {
    ks_rp_event_t *ev;
    uint32_t n_ev, cap_ev;
    ks_level_t *lv;
    uint64_t n_lv, cap_lv;
    ks_rp_ticker_t *tk;
    uint64_t n_tk, cap_tk;
    ks_rp_inst_t *inst;
    uint32_t n_inst, cap_inst;
    int32_t hash[INST_HASH]; /* inst index + 1, 0 empty */
    ks_rp_file_t *files;
    uint32_t n_files, cap_files;
    ks_rp_meta_t *meta;
    uint32_t n_meta, cap_meta;
    ks_rp_hlctx_t *hlc;
    uint32_t n_hlc, cap_hlc;
    char (*hl_names)[KS_ASSET_LEN];
    uint32_t n_hl_names, cap_hl_names;
    uint32_t next_seq;
    bool finished;
    int64_t first_ts, last_ts;
    char quote[KS_ASSET_LEN];
};

/* ---- store ------------------------------------------------------------------------- */

static int grow(void **p, uint64_t *cap, uint64_t need, size_t elem)
{
    if (need <= *cap)
        return KS_OK;
    uint64_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, (size_t)c * elem);
    if (!q)
        return KS_ENOMEM;
    *p = q;
    *cap = c;
    return KS_OK;
}

static int grow32(void **p, uint32_t *cap, uint64_t need, size_t elem)
{
    uint64_t c = *cap;
    int rc = grow(p, &c, need, elem);
    if (rc == KS_OK) {
        if (c > UINT32_MAX)
            return KS_ENOMEM;
        *cap = (uint32_t)c;
    }
    return rc;
}

ks_replay_t *ks_replay_new(void)
{
    return calloc(1, sizeof(ks_replay_t));
}

void ks_replay_free(ks_replay_t *r)
{
    if (!r)
        return;
    free(r->ev);
    free(r->lv);
    free(r->tk);
    free(r->inst);
    free(r->files);
    free(r->meta);
    free(r->hlc);
    free(r->hl_names);
    free(r);
}

ks_rp_event_t *ks_replay_push(ks_replay_t *r, ks_rp_file_t *f, const ks_rp_event_t *ev)
{
    if (grow32((void **)&r->ev, &r->cap_ev, (uint64_t)r->n_ev + 1, sizeof(*r->ev)) != KS_OK)
        return NULL;
    ks_rp_event_t *e = &r->ev[r->n_ev++];
    *e = *ev;
    e->seq = r->next_seq++;
    if (ev->inst >= 0 && (uint32_t)ev->inst < r->n_inst)
        r->inst[ev->inst].n_events++;
    if (f) {
        f->events++;
        ks_replay_file_time(f, ev->ts);
    }
    return e;
}

int ks_replay_push_levels(ks_replay_t *r, const ks_level_t *lv, uint32_t n, uint64_t *off)
{
    if (grow((void **)&r->lv, &r->cap_lv, r->n_lv + n, sizeof(*r->lv)) != KS_OK)
        return KS_ENOMEM;
    if (n)
        memcpy(r->lv + r->n_lv, lv, n * sizeof(*lv));
    *off = r->n_lv;
    r->n_lv += n;
    return KS_OK;
}

int ks_replay_push_ticker(ks_replay_t *r, const ks_rp_ticker_t *t, uint64_t *off)
{
    if (grow((void **)&r->tk, &r->cap_tk, r->n_tk + 1, sizeof(*r->tk)) != KS_OK)
        return KS_ENOMEM;
    r->tk[r->n_tk] = *t;
    *off = r->n_tk++;
    return KS_OK;
}

static uint32_t inst_hash(uint8_t kind, const char *vs)
{
    uint32_t h = 2166136261u ^ kind;
    for (; *vs; vs++) {
        h ^= (unsigned char)*vs;
        h *= 16777619u;
    }
    return h;
}

int32_t ks_replay_inst_get(ks_replay_t *r, uint8_t kind, const char *venue_symbol, const char *base,
                           const char *quote, const char *dex)
{
    uint32_t mask = INST_HASH - 1, h = inst_hash(kind, venue_symbol) & mask;
    for (;; h = (h + 1) & mask) {
        int32_t k = r->hash[h] - 1;
        if (k < 0)
            break;
        if (r->inst[k].kind == kind && strcmp(r->inst[k].venue_symbol, venue_symbol) == 0)
            return k;
    }
    if (r->n_inst >= KS_SIM_MAX_INST || strlen(venue_symbol) >= KS_SYMBOL_LEN ||
        strlen(base) >= KS_ASSET_LEN || !base[0] || strlen(quote) >= KS_ASSET_LEN || !quote[0])
        return -1;
    if (grow32((void **)&r->inst, &r->cap_inst, (uint64_t)r->n_inst + 1, sizeof(*r->inst)) != KS_OK)
        return -1;
    ks_rp_inst_t *in = &r->inst[r->n_inst];
    memset(in, 0, sizeof(*in));
    in->kind = kind;
    ks_strlcpy(in->venue_symbol, venue_symbol, sizeof(in->venue_symbol));
    ks_strlcpy(in->base, base, sizeof(in->base));
    ks_strlcpy(in->quote, quote, sizeof(in->quote));
    if (dex)
        ks_strlcpy(in->dex, dex, sizeof(in->dex));
    if (kind == KS_KIND_PERP)
        snprintf(in->symbol, sizeof(in->symbol), "%s/%s:%s", base, quote, quote);
    else
        snprintf(in->symbol, sizeof(in->symbol), "%s/%s", base, quote);
    in->spot_of = -1;
    in->px_scale = in->qty_scale = -1;
    r->hash[h] = (int32_t)r->n_inst + 1;
    return (int32_t)r->n_inst++;
}

ks_rp_inst_t *ks_replay_inst_mut(ks_replay_t *r, int32_t i)
{
    return i >= 0 && (uint32_t)i < r->n_inst ? &r->inst[i] : NULL;
}

void ks_replay_seen(ks_replay_t *r, int32_t i, ks_dec_t px, ks_dec_t qty)
{
    ks_rp_inst_t *in = &r->inst[i];
    if (px.mant) {
        int s = ks_dec_normalize(px).scale;
        if (s > in->px_scale)
            in->px_scale = s;
    }
    if (qty.mant) {
        int s = ks_dec_normalize(qty).scale;
        if (s > in->qty_scale)
            in->qty_scale = s;
    }
}

ks_rp_file_t *ks_replay_file_new(ks_replay_t *r, const char *path, const char *format)
{
    if (grow32((void **)&r->files, &r->cap_files, (uint64_t)r->n_files + 1, sizeof(*r->files)) !=
        KS_OK)
        return NULL;
    ks_rp_file_t *f = &r->files[r->n_files++];
    memset(f, 0, sizeof(*f));
    ks_strlcpy(f->path, path, sizeof(f->path));
    ks_strlcpy(f->format, format, sizeof(f->format));
    return f;
}

void ks_replay_file_time(ks_rp_file_t *f, int64_t ts)
{
    if (ts <= 0)
        return;
    if (!f->first_ts || ts < f->first_ts)
        f->first_ts = ts;
    if (ts > f->last_ts)
        f->last_ts = ts;
}

int ks_replay_meta_put(ks_replay_t *r, const ks_rp_meta_t *m)
{
    if (grow32((void **)&r->meta, &r->cap_meta, (uint64_t)r->n_meta + 1, sizeof(*r->meta)) != KS_OK)
        return KS_ENOMEM;
    r->meta[r->n_meta++] = *m;
    return KS_OK;
}

int ks_replay_hl_ctx_add(ks_replay_t *r, const ks_rp_hlctx_t *c)
{
    if (grow32((void **)&r->hlc, &r->cap_hlc, (uint64_t)r->n_hlc + 1, sizeof(*r->hlc)) != KS_OK)
        return KS_ENOMEM;
    r->hlc[r->n_hlc++] = *c;
    return KS_OK;
}

int ks_replay_hl_universe_add(ks_replay_t *r, const char *coin)
{
    if (grow32((void **)&r->hl_names, &r->cap_hl_names, (uint64_t)r->n_hl_names + 1,
               sizeof(*r->hl_names)) != KS_OK)
        return KS_ENOMEM;
    ks_strlcpy(r->hl_names[r->n_hl_names++], coin, KS_ASSET_LEN);
    return KS_OK;
}

uint32_t ks_replay_count(const ks_replay_t *r)
{
    return r->n_ev;
}

const ks_rp_event_t *ks_replay_event(const ks_replay_t *r, uint32_t i)
{
    return i < r->n_ev ? &r->ev[i] : NULL;
}

const ks_level_t *ks_replay_levels(const ks_replay_t *r, const ks_rp_event_t *ev)
{
    return r->lv + ev->off;
}

const ks_rp_ticker_t *ks_replay_ticker(const ks_replay_t *r, const ks_rp_event_t *ev)
{
    return &r->tk[ev->off];
}

uint32_t ks_replay_inst_count(const ks_replay_t *r)
{
    return r->n_inst;
}

const ks_rp_inst_t *ks_replay_inst(const ks_replay_t *r, uint32_t i)
{
    return i < r->n_inst ? &r->inst[i] : NULL;
}

uint32_t ks_replay_file_count(const ks_replay_t *r)
{
    return r->n_files;
}

const ks_rp_file_t *ks_replay_file(const ks_replay_t *r, uint32_t i)
{
    return i < r->n_files ? &r->files[i] : NULL;
}

int64_t ks_replay_first_ts(const ks_replay_t *r)
{
    return r->first_ts;
}

int64_t ks_replay_last_ts(const ks_replay_t *r)
{
    return r->last_ts;
}

const char *ks_replay_quote(const ks_replay_t *r)
{
    return r->quote;
}

/* ---- helpers ------------------------------------------------------------------------ */

bool ks_replay_split_pair(const char *id, char *base, size_t base_cap, char *quote,
                          size_t quote_cap)
{
    static const char *const quotes[] = {"USDT", "USDC", "FDUSD", "BUSD", "USD", NULL};
    size_t n = strlen(id);
    for (int i = 0; quotes[i]; i++) {
        size_t q = strlen(quotes[i]);
        if (n <= q || strcmp(id + n - q, quotes[i]) != 0)
            continue;
        size_t b = n - q;
        if (b && (id[b - 1] == '-' || id[b - 1] == '/' || id[b - 1] == '_'))
            b--;
        if (!b || b >= base_cap || q >= quote_cap)
            return false;
        memcpy(base, id, b);
        base[b] = '\0';
        memcpy(quote, quotes[i], q + 1);
        for (size_t k = 0; k < b; k++)
            if (!((base[k] >= 'A' && base[k] <= 'Z') || (base[k] >= '0' && base[k] <= '9')))
                return false;
        return true;
    }
    return false;
}

/* ---- format detection and directories ------------------------------------------------ */

static bool is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* a + "/" + b into out; false when it does not fit. */
static bool join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    return n >= 0 && (size_t)n < cap;
}

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Loads one file whose format is sniffed from its first bytes. KS_ENOTSUP: not a
 * recorded-data format we read (a directory scan skips those). */
static int load_file(ks_replay_t *r, const char *path, char *err, size_t err_len)
{
    char head[4096];
    size_t n = ks_lines_peek(path, head, sizeof(head));
    if (!n) {
        snprintf(err, err_len, "%s: empty or unreadable", path);
        return KS_EIO;
    }
    const char *p = head;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || (unsigned char)*p == 0xEF ||
           (unsigned char)*p == 0xBB || (unsigned char)*p == 0xBF)
        p++;
    /* hftbacktest: "<ns> {json}" */
    size_t d = 0;
    while (p[d] >= '0' && p[d] <= '9')
        d++;
    if (d >= 15 && d <= 20 && p[d] == ' ' && p[d + 1] == '{')
        return ks_replay_read_hftbacktest(r, path, err, err_len);
    /* cryptofeed's older text format: "<addr> <-> <ts>" or "<ts>: {json}" */
    if (starts(p, "wss://") || starts(p, "ws://") || (d >= 9 && (p[d] == '.' || p[d] == ':')))
        return ks_replay_read_cryptofeed_text(r, path, err, err_len);
    if (p[0] == '{') {
        if (strstr(p, "\"t\":\"header\"") || strstr(p, "\"t\": \"header\""))
            return ks_replay_read_cryptofeed(r, path, err, err_len);
        if (starts(p, "{\"topic\""))
            return ks_replay_read_bybit_history(r, path, err, err_len);
        if (strstr(p, "allDexsAssetCtxs"))
            return ks_replay_read_hl_ctxs(r, path, err, err_len);
        snprintf(err, err_len, "%s: unrecognized JSON data (see the sim README for formats)", path);
        return KS_ENOTSUP;
    }
    const char *nl = strpbrk(p, "\r\n");
    char header[512];
    size_t hl = nl ? (size_t)(nl - p) : strlen(p);
    if (hl && hl < sizeof(header) && strchr(p, ',') && (!nl || strchr(p, ',') < nl)) {
        memcpy(header, p, hl);
        header[hl] = '\0';
        return ks_replay_read_csv(r, path, header, err, err_len);
    }
    snprintf(err, err_len, "%s: unrecognized data format (see the sim README for formats)", path);
    return KS_ENOTSUP;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir (not starting with '.'); caller frees each and the
 * array. */
static int list_dir(const char *dir, char ***out, size_t *n_out)
{
    DIR *d = opendir(dir);
    char **v = NULL;
    size_t n = 0, cap = 0;
    if (!d)
        return KS_EIO;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 64;
            char **nv = realloc(v, c * sizeof(*nv));
            if (!nv)
                goto fail;
            v = nv;
            cap = c;
        }
        if (!(v[n] = strdup(e->d_name)))
            goto fail;
        n++;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof(*v), cmp_str);
    *out = v;
    *n_out = n;
    return KS_OK;
fail:
    closedir(d);
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return KS_ENOMEM;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* A gravestone-data style tree: <base>/funding/<SYM>.csv and <base>/1h/<SYM>.csv. Loads
 * every symbol that has both (and its oi_4h file when present). */
static int load_funding_klines(ks_replay_t *r, const char *base, char *err, size_t err_len)
{
    char fdir[1100], kdir[1100], path[2400];
    char **names = NULL;
    size_t n = 0;
    if (!join(fdir, sizeof(fdir), base, "funding") || !join(kdir, sizeof(kdir), base, "1h")) {
        snprintf(err, err_len, "path too long");
        return KS_EINVAL;
    }
    if (list_dir(kdir, &names, &n) != KS_OK) {
        snprintf(err, err_len, "%s: cannot list", kdir);
        return KS_EIO;
    }
    int rc = KS_OK;
    for (size_t i = 0; i < n && rc == KS_OK; i++) {
        size_t l = strlen(names[i]);
        if (l < 5 || strcmp(names[i] + l - 4, ".csv") != 0)
            continue;
        if (!join(path, sizeof(path), fdir, names[i]))
            continue;
        if (!is_file(path))
            continue;
        if (!join(path, sizeof(path), kdir, names[i]))
            continue;
        if ((rc = load_file(r, path, err, err_len)) != KS_OK)
            break;
        if (!join(path, sizeof(path), fdir, names[i]))
            continue;
        if ((rc = load_file(r, path, err, err_len)) != KS_OK)
            break;
        char oi[2400];
        if (join(oi, sizeof(oi), base, "oi_4h") && join(path, sizeof(path), oi, names[i]) &&
            is_file(path))
            rc = load_file(r, path, err, err_len);
    }
    free_list(names, n);
    return rc;
}

static bool funding_kline_tree(const char *dir, char *base, size_t cap)
{
    char a[1100], b[1100];
    if (join(a, sizeof(a), dir, "funding") && join(b, sizeof(b), dir, "1h") && is_dir(a) &&
        is_dir(b))
        return (size_t)snprintf(base, cap, "%s", dir) < cap;
    if (join(a, sizeof(a), dir, "data/funding") && join(b, sizeof(b), dir, "data/1h") &&
        is_dir(a) && is_dir(b))
        return join(base, cap, dir, "data");
    return false;
}

static int load_dir(ks_replay_t *r, const char *dir, int depth, char *err, size_t err_len)
{
    char base[1100];
    if (funding_kline_tree(dir, base, sizeof(base)))
        return load_funding_klines(r, base, err, err_len);
    if (depth > 8) {
        snprintf(err, err_len, "%s: directories nested too deep", dir);
        return KS_EINVAL;
    }
    char **names = NULL;
    size_t n = 0;
    if (list_dir(dir, &names, &n) != KS_OK) {
        snprintf(err, err_len, "%s: cannot list: %s", dir, strerror(errno ? errno : EIO));
        return KS_EIO;
    }
    int rc = KS_OK;
    for (size_t i = 0; i < n && rc == KS_OK; i++) {
        char path[2048];
        if (!join(path, sizeof(path), dir, names[i]))
            continue;
        if (is_dir(path)) {
            rc = load_dir(r, path, depth + 1, err, err_len);
        } else if (is_file(path)) {
            rc = load_file(r, path, err, err_len);
            if (rc == KS_ENOTSUP)
                rc = KS_OK; /* not data: README, LICENSE, archives, ... */
        }
    }
    free_list(names, n);
    return rc;
}

int ks_replay_load(ks_replay_t *r, const char *path, char *err, size_t err_len)
{
    if (!r || !path || r->finished)
        return KS_EINVAL;
    if (is_dir(path))
        return load_dir(r, path, 0, err, err_len);
    if (!is_file(path)) {
        snprintf(err, err_len, "%s: no such file or directory", path);
        return KS_ENOENT;
    }
    return load_file(r, path, err, err_len);
}

/* ---- finish --------------------------------------------------------------------------- */

static int cmp_ev(const void *a, const void *b)
{
    const ks_rp_event_t *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct fund_pt {
    int64_t ts;
    ks_dec_t rate;
} fund_pt_t;

static int cmp_fund(const void *a, const void *b)
{
    const fund_pt_t *x = a, *y = b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static int32_t hours_between(int64_t a, int64_t b)
{
    int64_t d = b - a;
    return (int32_t)((d + NS_PER_H / 2) / NS_PER_H);
}

/* Candle tickers of a perp with recorded settlements get the funding fields: the rate
 * of the upcoming recorded settlement (when it is the next one, not months away), its
 * time, and the interval inferred from the two settlements around it. */
static int kline_funding(ks_replay_t *r, uint32_t n_ev)
{
    fund_pt_t **pts = calloc(r->n_inst, sizeof(*pts));
    uint32_t *npt = calloc(r->n_inst, sizeof(*npt)), *cap = calloc(r->n_inst, sizeof(*cap));
    int rc = KS_OK;
    if (!pts || !npt || !cap) {
        rc = KS_ENOMEM;
        goto done;
    }
    for (uint32_t i = 0; i < n_ev; i++) {
        const ks_rp_event_t *e = &r->ev[i];
        if (e->kind != KS_RP_FUNDING)
            continue;
        if (grow32((void **)&pts[e->inst], &cap[e->inst], (uint64_t)npt[e->inst] + 1,
                   sizeof(fund_pt_t)) != KS_OK) {
            rc = KS_ENOMEM;
            goto done;
        }
        pts[e->inst][npt[e->inst]++] = (fund_pt_t){e->ts, e->px};
    }
    for (uint32_t k = 0; k < r->n_inst; k++)
        if (npt[k] > 1)
            qsort(pts[k], npt[k], sizeof(fund_pt_t), cmp_fund);
    for (uint32_t i = 0; i < n_ev; i++) {
        const ks_rp_event_t *e = &r->ev[i];
        if (e->kind != KS_RP_KLINE || r->inst[e->inst].kind != KS_KIND_PERP)
            continue;
        const fund_pt_t *p = pts[e->inst];
        uint32_t n = npt[e->inst];
        if (!n)
            continue;
        /* First settlement strictly after the candle's close. */
        uint32_t lo = 0, hi = n;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (p[mid].ts <= e->ts)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == n)
            continue;
        int32_t ih;
        if (lo > 0)
            ih = hours_between(p[lo - 1].ts, p[lo].ts);
        else if (n > 1)
            ih = hours_between(p[0].ts, p[1].ts);
        else
            ih = 8;
        if (ih < 1)
            ih = 1;
        if (lo == 0 && p[0].ts - e->ts > (int64_t)ih * NS_PER_H)
            continue; /* before the recorded settlements: the upcoming rate is unknown */
        ks_rp_ticker_t *t = &r->tk[e->off];
        t->funding_rate = p[lo].rate;
        t->next_funding_ts = p[lo].ts;
        t->funding_interval_h = ih;
        t->fields |= KS_TK_FUNDING_RATE | KS_TK_NEXT_FUNDING | KS_TK_FUNDING_INTERVAL;
        if (!r->inst[e->inst].funding_interval_h)
            r->inst[e->inst].funding_interval_h = ih;
    }
done:
    if (pts)
        for (uint32_t k = 0; k < r->n_inst; k++)
            free(pts[k]);
    free(pts);
    free(npt);
    free(cap);
    return rc;
}

/* Recordings of live ticker streams (Bybit tickers, Binance markPrice, Hyperliquid asset
 * contexts) carry the predicted rate and the next settlement time, not the settlements.
 * When such a stream runs across a settlement time densely enough (the tickers around it
 * are at most one interval apart), the settlement is added: at that time, at the last
 * rate the stream showed before it. Instruments with recorded settlements are left alone. */
static int ticker_funding(ks_replay_t *r)
{
    uint32_t n_ev = r->n_ev;
    uint32_t *idx = malloc((n_ev ? n_ev : 1) * sizeof(*idx));
    if (!idx)
        return KS_ENOMEM;
    for (uint32_t k = 0; k < r->n_inst; k++) {
        ks_rp_inst_t *in = &r->inst[k];
        if (in->kind != KS_KIND_PERP || (in->flags & KS_RPI_FUNDING))
            continue;
        uint32_t n = 0;
        for (uint32_t i = 0; i < n_ev; i++)
            if (r->ev[i].inst == (int32_t)k && r->ev[i].kind == KS_RP_TICKER)
                idx[n++] = i;
        int64_t next = 0, last_ts = 0, interval = 0;
        ks_dec_t rate = KS_DEC_ZERO;
        bool have_rate = false;
        /* Load order is time order within one recording. */
        for (uint32_t j = 0; j < n; j++) {
            const ks_rp_event_t *e = &r->ev[idx[j]];
            const ks_rp_ticker_t *t = &r->tk[e->off];
            if (t->fields & KS_TK_FUNDING_INTERVAL)
                interval = (int64_t)t->funding_interval_h * NS_PER_H;
            if (next && have_rate && e->ts >= next) {
                int64_t iv =
                    interval
                        ? interval
                        : (int64_t)(in->funding_interval_h ? in->funding_interval_h : 8) * NS_PER_H;
                if (last_ts && e->ts - last_ts <= iv) {
                    ks_rp_event_t f;
                    memset(&f, 0, sizeof(f));
                    f.ts = f.venue_ts = next;
                    f.inst = (int32_t)k;
                    f.kind = KS_RP_FUNDING;
                    f.px = rate;
                    if (!ks_replay_push(r, NULL, &f)) {
                        free(idx);
                        return KS_ENOMEM;
                    }
                    in = &r->inst[k];
                    in->flags |= KS_RPI_FUNDING;
                }
                next = 0;
            }
            if (t->fields & KS_TK_FUNDING_RATE) {
                rate = t->funding_rate;
                have_rate = true;
            }
            if ((t->fields & KS_TK_NEXT_FUNDING) && t->next_funding_ts > e->ts)
                next = t->next_funding_ts;
            last_ts = e->ts;
        }
    }
    free(idx);
    return KS_OK;
}

static ks_dec_t pow10_dec(int scale)
{
    if (scale >= 0)
        return KS_DEC(1, scale);
    int64_t v = 1;
    for (int i = 0; i < -scale && i < 18; i++)
        v *= 10;
    return KS_DEC(v, 0);
}

static const ks_rp_meta_t *find_meta(const ks_replay_t *r, const ks_rp_inst_t *in)
{
    for (uint32_t i = 0; i < r->n_meta; i++)
        if (r->meta[i].kind == in->kind && strcmp(r->meta[i].venue_symbol, in->venue_symbol) == 0)
            return &r->meta[i];
    return NULL;
}

static void infer_spec(ks_replay_t *r, ks_rp_inst_t *in, const ks_replay_opts_t *o)
{
    const ks_rp_meta_t *m = find_meta(r, in);
    if (m) {
        if (m->tick.mant > 0 && !in->tick.mant)
            in->tick = ks_dec_normalize(m->tick);
        if (m->lot.mant > 0 && !in->lot.mant)
            in->lot = ks_dec_normalize(m->lot);
        if (m->min_qty.mant > 0 && !in->min_qty.mant)
            in->min_qty = ks_dec_normalize(m->min_qty);
        if (m->min_notional.mant > 0 && !in->min_notional.mant)
            in->min_notional = ks_dec_normalize(m->min_notional);
        if (m->max_leverage > 0 && !in->max_leverage)
            in->max_leverage = m->max_leverage;
        if (m->funding_interval_h > 0 && !in->funding_interval_h)
            in->funding_interval_h = m->funding_interval_h;
    }
    if (!in->tick.mant)
        in->tick = pow10_dec(in->px_scale >= 0 ? in->px_scale : 2);
    if (!in->lot.mant)
        in->lot = pow10_dec(in->qty_scale >= 0 ? in->qty_scale : 0);
    /* The core keeps tick.scale + lot.scale <= 8 so notionals stay exact at 8 decimals:
     * coarsen the lot first, then the tick. */
    if (in->tick.scale > KS_SIM_ACCT_SCALE)
        in->tick = KS_DEC(1, KS_SIM_ACCT_SCALE);
    if (in->tick.scale + in->lot.scale > KS_SIM_ACCT_SCALE)
        in->lot = pow10_dec(KS_SIM_ACCT_SCALE - in->tick.scale);
    if (!in->min_qty.mant || !ks_dec_is_multiple(in->min_qty, in->lot))
        in->min_qty = in->lot;
    if (!in->min_notional.mant)
        in->min_notional = o->min_notional;
    if (in->kind == KS_KIND_PERP && in->funding_interval_h <= 0)
        in->funding_interval_h = 8;
}

static ks_dec_t floor_to(ks_dec_t q, ks_dec_t step)
{
    ks_dec_t out;
    if (!q.mant || ks_dec_is_multiple(q, step))
        return q;
    if (ks_dec_quantize(q, step, KS_ROUND_FLOOR, &out) != KS_OK)
        return KS_DEC_ZERO;
    return ks_dec_normalize(out);
}

static ks_dec_t round_to(ks_dec_t p, ks_dec_t step)
{
    ks_dec_t out;
    if (!p.mant || ks_dec_is_multiple(p, step))
        return p;
    if (ks_dec_quantize(p, step, KS_ROUND_HALF_UP, &out) != KS_OK)
        return p;
    return ks_dec_normalize(out);
}

/* Recorded sizes finer than the lot are floored to it, prices finer than the tick
 * rounded (only when the tick had to be coarsened), so own fills stay lot multiples. */
static void quantize_event(ks_replay_t *r, ks_rp_event_t *e)
{
    const ks_rp_inst_t *in = &r->inst[e->inst];
    switch ((ks_rp_kind_t)e->kind) {
    case KS_RP_BOOK:
        for (uint32_t i = 0; i < e->n_bids + e->n_asks; i++) {
            ks_level_t *l = &r->lv[e->off + i];
            l->qty = floor_to(l->qty, in->lot);
            l->px = round_to(l->px, in->tick);
        }
        break;
    case KS_RP_BBO:
        e->qty = floor_to(e->qty, in->lot);
        e->qty2 = floor_to(e->qty2, in->lot);
        e->px = round_to(e->px, in->tick);
        e->px2 = round_to(e->px2, in->tick);
        break;
    case KS_RP_TRADE:
    case KS_RP_LIQ:
        e->qty = floor_to(e->qty, in->lot);
        e->px = round_to(e->px, in->tick);
        break;
    case KS_RP_KLINE:
        e->px = round_to(e->px, in->tick);
        e->px2 = round_to(e->px2, in->tick);
        e->qty2 = round_to(e->qty2, in->tick);
        break;
    case KS_RP_TICKER:
    case KS_RP_FUNDING:
    case KS_RP_ORACLE:
        break;
    }
}

/* Asset contexts -> a ticker (mark, index = oracle, hourly funding, OI, 24 h notional
 * volume) and an oracle price per coin, at time 0 (placed by finish()). */
static int hl_ctx_events(ks_replay_t *r)
{
    for (uint32_t i = 0; i < r->n_hlc; i++) {
        const ks_rp_hlctx_t *c = &r->hlc[i];
        char vs[KS_SYMBOL_LEN], base[KS_ASSET_LEN], dex_up[KS_NAME_LEN];
        size_t k;
        for (k = 0; c->dex[k] && k + 1 < sizeof(dex_up); k++)
            dex_up[k] = (char)(c->dex[k] >= 'a' && c->dex[k] <= 'z' ? c->dex[k] - 32 : c->dex[k]);
        dex_up[k] = '\0';
        if (!c->dex[0] && c->index < r->n_hl_names) {
            ks_strlcpy(vs, r->hl_names[c->index], sizeof(vs));
            ks_strlcpy(base, r->hl_names[c->index], sizeof(base));
        } else if (!c->dex[0]) {
            snprintf(vs, sizeof(vs), "#%u", c->index);
            snprintf(base, sizeof(base), "IDX%u", c->index);
        } else {
            snprintf(vs, sizeof(vs), "%.40s:#%u", c->dex, c->index);
            snprintf(base, sizeof(base), "%.6s-IDX%u", dex_up, c->index);
        }
        int32_t in =
            ks_replay_inst_get(r, KS_KIND_PERP, vs, base, "USDC", c->dex[0] ? c->dex : NULL);
        if (in < 0)
            continue;
        ks_rp_file_t *f = c->file < r->n_files ? &r->files[c->file] : NULL;
        ks_rp_ticker_t t;
        memset(&t, 0, sizeof(t));
        if (c->have & KS_HLC_MARK) {
            t.mark = c->mark;
            t.fields |= KS_TK_MARK;
            r->inst[in].flags |= KS_RPI_MARK;
            ks_replay_seen(r, in, c->mark, KS_DEC_ZERO);
        }
        if (c->have & KS_HLC_ORACLE) {
            t.index = c->oracle;
            t.fields |= KS_TK_INDEX;
        }
        if (c->have & KS_HLC_FUNDING) {
            t.funding_rate = c->funding;
            t.funding_interval_h = 1;
            t.fields |= KS_TK_FUNDING_RATE | KS_TK_FUNDING_INTERVAL;
            r->inst[in].funding_interval_h = 1;
        }
        if (c->have & KS_HLC_OI) {
            t.open_interest = c->open_interest;
            t.fields |= KS_TK_OPEN_INTEREST;
            ks_replay_seen(r, in, KS_DEC_ZERO, c->open_interest);
        }
        if (c->have & KS_HLC_VOLUME) {
            t.volume_quote_24h = c->day_ntl_vlm;
            t.fields |= KS_TK_VOLUME_QUOTE_24H;
        }
        ks_rp_event_t e;
        memset(&e, 0, sizeof(e));
        e.inst = in;
        if (t.fields) {
            e.kind = KS_RP_TICKER;
            if (ks_replay_push_ticker(r, &t, &e.off) != KS_OK || !ks_replay_push(r, f, &e))
                return KS_ENOMEM;
        }
        if (c->have & KS_HLC_ORACLE) {
            e.kind = KS_RP_ORACLE;
            e.px = c->oracle;
            if (!ks_replay_push(r, f, &e))
                return KS_ENOMEM;
        }
    }
    r->n_hlc = 0;
    return KS_OK;
}

static bool symbol_wanted(const ks_rp_inst_t *in, const ks_replay_opts_t *o)
{
    if (!o->n_symbols)
        return true;
    for (uint32_t i = 0; i < o->n_symbols; i++)
        if (strcmp(o->symbols[i], in->base) == 0 || strcmp(o->symbols[i], in->venue_symbol) == 0 ||
            strcmp(o->symbols[i], in->symbol) == 0)
            return true;
    return false;
}

int ks_replay_finish(ks_replay_t *r, const ks_replay_opts_t *o, char *err, size_t err_len)
{
    if (!r || !o || r->finished)
        return KS_EINVAL;
    r->finished = true;
    int rc = hl_ctx_events(r);
    if (rc != KS_OK) {
        snprintf(err, err_len, "replay: out of memory");
        return rc;
    }
    if (!r->n_ev) {
        snprintf(err, err_len, "replay: no events in the data");
        return KS_ENOENT;
    }

    /* The venue's settle asset (one per sim venue): asked for, or the one of the perps
     * with the most events (ties: the first loaded). */
    r->quote[0] = '\0';
    if (o->quote && o->quote[0])
        ks_strlcpy(r->quote, o->quote, sizeof(r->quote));
    uint64_t best = 0;
    for (uint32_t i = 0; i < r->n_inst && !(o->quote && o->quote[0]); i++) {
        if (r->inst[i].kind != KS_KIND_PERP)
            continue;
        uint64_t n = 0;
        for (uint32_t k = 0; k < r->n_inst; k++)
            if (r->inst[k].kind == KS_KIND_PERP && !strcmp(r->inst[k].quote, r->inst[i].quote))
                n += r->inst[k].n_events;
        if (n > best) {
            best = n;
            ks_strlcpy(r->quote, r->inst[i].quote, sizeof(r->quote));
        }
    }
    for (uint32_t i = 0; i < r->n_inst && !r->quote[0]; i++)
        ks_strlcpy(r->quote, r->inst[i].quote, sizeof(r->quote));
    for (uint32_t i = 0; i < r->n_inst; i++) {
        ks_rp_inst_t *in = &r->inst[i];
        in->keep =
            symbol_wanted(in, o) && (in->kind == KS_KIND_SPOT || strcmp(in->quote, r->quote) == 0);
    }

    /* Timestamp-less snapshots (Hyperliquid asset contexts) go at the start of the rest. */
    int64_t t0 = 0;
    for (uint32_t i = 0; i < r->n_ev; i++)
        if (r->ev[i].ts > 0 && (!t0 || r->ev[i].ts < t0))
            t0 = r->ev[i].ts;
    for (uint32_t i = 0; i < r->n_ev; i++) {
        if (r->ev[i].ts > 0)
            continue;
        if (!t0) {
            snprintf(err, err_len,
                     "replay: the data has no timestamps (an asset-context "
                     "snapshot needs timed data beside it)");
            return KS_EINVAL;
        }
        r->ev[i].ts = t0;
    }

    rc = kline_funding(r, r->n_ev);
    if (rc == KS_OK)
        rc = ticker_funding(r);
    if (rc != KS_OK) {
        snprintf(err, err_len, "replay: out of memory");
        return rc;
    }

    /* Synthetic spot beside every candle perp (priced at the same close: no basis). */
    if (o->synthetic_spot) {
        uint32_t n_inst = r->n_inst, n_ev = r->n_ev;
        int32_t *spot = malloc(n_inst * sizeof(*spot));
        if (!spot)
            return KS_ENOMEM;
        for (uint32_t i = 0; i < n_inst; i++) {
            spot[i] = -1;
            ks_rp_inst_t *in = &r->inst[i];
            if (!in->keep || in->kind != KS_KIND_PERP || !(in->flags & KS_RPI_KLINE))
                continue;
            char vs[KS_SYMBOL_LEN], base[KS_ASSET_LEN], quote[KS_ASSET_LEN];
            ks_strlcpy(vs, in->venue_symbol, sizeof(vs));
            ks_strlcpy(base, in->base, sizeof(base));
            ks_strlcpy(quote, in->quote, sizeof(quote));
            int32_t s = ks_replay_inst_get(r, KS_KIND_SPOT, vs, base, quote, NULL);
            if (s < 0) {
                free(spot);
                snprintf(err, err_len, "replay: too many instruments for synthetic spot");
                return KS_ERANGE;
            }
            ks_rp_inst_t *sp = &r->inst[s], *pp = &r->inst[i]; /* inst may have moved */
            if (sp->n_events && !(sp->flags & KS_RPI_SYNTHETIC))
                continue; /* recorded spot data wins */
            sp->flags |= KS_RPI_SYNTHETIC | KS_RPI_KLINE;
            sp->spot_of = (int32_t)i;
            sp->keep = true;
            sp->px_scale = pp->px_scale;
            sp->qty_scale = pp->qty_scale;
            spot[i] = s;
        }
        for (uint32_t i = 0; i < n_ev; i++) {
            ks_rp_event_t e = r->ev[i];
            if (e.kind != KS_RP_KLINE || spot[e.inst] < 0)
                continue;
            int32_t s = spot[e.inst];
            e.inst = s;
            if (!ks_replay_push(r, NULL, &e)) {
                free(spot);
                return KS_ENOMEM;
            }
        }
        free(spot);
    }

    for (uint32_t i = 0; i < r->n_inst; i++)
        if (r->inst[i].keep)
            infer_spec(r, &r->inst[i], o);
    for (uint32_t i = 0; i < r->n_inst; i++) {
        ks_rp_inst_t *in = &r->inst[i];
        if (in->spot_of >= 0) {
            in->tick = r->inst[in->spot_of].tick;
            in->lot = r->inst[in->spot_of].lot;
            in->min_qty = r->inst[in->spot_of].min_qty;
            in->min_notional = r->inst[in->spot_of].min_notional;
        }
    }

    /* Window and filters. State before the window start (books, tickers, candles) is
     * kept as priming, applied silently at the start; prints, settlements, liquidations
     * and oracle prices outside the window are dropped. */
    uint32_t w = 0;
    for (uint32_t i = 0; i < r->n_ev; i++) {
        ks_rp_event_t *e = &r->ev[i];
        if (!r->inst[e->inst].keep)
            continue;
        if (o->end_ns && e->ts > o->end_ns)
            continue;
        if (o->start_ns && e->ts < o->start_ns) {
            if (e->kind == KS_RP_TRADE || e->kind == KS_RP_FUNDING || e->kind == KS_RP_LIQ ||
                e->kind == KS_RP_ORACLE)
                continue;
            e->ts = o->start_ns;
            e->flags |= KS_RPF_PRIME;
        }
        quantize_event(r, e);
        r->ev[w++] = *e;
    }
    r->n_ev = w;
    if (!w) {
        snprintf(err, err_len, "replay: no events left after the window and symbol filter");
        return KS_ENOENT;
    }
    qsort(r->ev, r->n_ev, sizeof(*r->ev), cmp_ev);
    for (uint32_t i = 0; i < r->n_inst; i++) {
        r->inst[i].n_events = 0;
        r->inst[i].first_ts = r->inst[i].last_ts = 0;
    }
    for (uint32_t i = 0; i < r->n_ev; i++) {
        ks_rp_inst_t *in = &r->inst[r->ev[i].inst];
        if (!in->n_events++)
            in->first_ts = r->ev[i].ts;
        in->last_ts = r->ev[i].ts;
    }
    r->first_ts = r->ev[0].ts;
    r->last_ts = r->ev[r->n_ev - 1].ts;
    return KS_OK;
}
