/* A test venue plugin that records every request it receives, with the host time, to a
 * file: rate-limit and priority tests read the record back. Two instruments, TST/USDT
 * (spot) and TST/USDT:USDT (perp), quoted every 100 ms at 99.9 / 100.1. Orders rest
 * (ACKED) unless "fill": true, then fill at once at 100. Scripted faults for leg-group
 * tests: "reject_spot": true rejects every spot order; "reject_spot_after": N rejects spot
 * orders after the first N; "partial_spot": true fills spot orders half (then cancels).
 * Reconciliation: "spot_balance":"N" lists N TST in the spot wallet, "perp_position":"Q"
 * a TST/USDT:USDT position of Q (otherwise it lists no balances and no positions).
 * "spot_fee_base":"R" charges spot buys a fee of R x qty in TST (as Bybit does) instead
 * of none. Trade ids are t1, t2, ...; "trade_prefix":"P" makes them P1, P2, ... (a restarted venue
 * must not repeat the ids of the one before). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kestrel/kestrel.h>

typedef struct rv {
    const ks_host_api_t *api;
    ks_host_t *host;
    FILE *log;
    bool fill, reject_spot, partial_spot, ro_net;
    ks_dec_t perp_net;  /* net perp position from the fills, for "reduce_only_net" */
    int firehose;       /* BBO events per millisecond, numbered in bid_qty */
    int force_perp_buy; /* "force_perp_buy": N -- a forced buy of N perp at 5 s */
    int hang_after_s;   /* "hang_after_s": N -- the plugin blocks the loop for good */
    int quiet_after_s;  /* "quiet_after_s": N -- no more quotes after N s */
    uint64_t hang_timer, quiet_timer;
    uint64_t force_timer;
    uint64_t fh_seq, fh_timer;
    int64_t fh_start;
    int reject_spot_after, spot_orders;
    int32_t inst, spot;
    char spot_balance[32], perp_position[32], trade_prefix[16], spot_fee_base[16];
    uint64_t timer;
    uint64_t seq;
} rv_t;

/* The string value after `key` (which ends with the opening quote), or "". */
static void cfg_text(const char *cfg, const char *key, char *out, size_t cap)
{
    const char *p = strstr(cfg, key);
    out[0] = '\0';
    if (!p)
        return;
    p += strlen(key);
    size_t n = strcspn(p, "\"");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static int rv_open(const ks_host_api_t *api, ks_host_t *host, const char *venue, const char *cfg,
                   void **self, char *err, size_t err_len)
{
    rv_t *v = calloc(1, sizeof(*v));
    char path[512] = "";
    const char *p = strstr(cfg, "\"log\":\"");
    if (!v)
        return KS_ENOMEM;
    if (p) {
        p += 7;
        size_t n = strcspn(p, "\"");
        if (n >= sizeof(path))
            n = sizeof(path) - 1;
        memcpy(path, p, n);
        path[n] = '\0';
    }
    v->fill = strstr(cfg, "\"fill\":true") != NULL;
    v->reject_spot = strstr(cfg, "\"reject_spot\":true") != NULL;
    v->partial_spot = strstr(cfg, "\"partial_spot\":true") != NULL;
    v->ro_net = strstr(cfg, "\"reduce_only_net\":true") != NULL;
    v->reject_spot_after = -1;
    cfg_text(cfg, "\"spot_balance\":\"", v->spot_balance, sizeof(v->spot_balance));
    cfg_text(cfg, "\"trade_prefix\":\"", v->trade_prefix, sizeof(v->trade_prefix));
    cfg_text(cfg, "\"spot_fee_base\":\"", v->spot_fee_base, sizeof(v->spot_fee_base));
    if (!v->trade_prefix[0])
        strcpy(v->trade_prefix, "t");
    cfg_text(cfg, "\"perp_position\":\"", v->perp_position, sizeof(v->perp_position));
    const char *hg = strstr(cfg, "\"hang_after_s\":");
    if (hg)
        v->hang_after_s = atoi(hg + strlen("\"hang_after_s\":"));
    const char *qt = strstr(cfg, "\"quiet_after_s\":");
    if (qt)
        v->quiet_after_s = atoi(qt + strlen("\"quiet_after_s\":"));
    const char *fb = strstr(cfg, "\"force_perp_buy\":");
    if (fb)
        v->force_perp_buy = atoi(fb + strlen("\"force_perp_buy\":"));
    const char *fh = strstr(cfg, "\"firehose\":");
    if (fh)
        v->firehose = atoi(fh + strlen("\"firehose\":"));
    const char *ra = strstr(cfg, "\"reject_spot_after\":");
    if (ra)
        v->reject_spot_after = atoi(ra + strlen("\"reject_spot_after\":"));
    /* "append": several venues of one test write one log, in send order */
    v->log = path[0] ? fopen(path, strstr(cfg, "\"append\":true") ? "a" : "w") : NULL;
    if (v->log)
        setvbuf(v->log, NULL, _IOLBF, 0);
    if (path[0] && !v->log) {
        snprintf(err, err_len, "log: cannot open %s", path);
        free(v);
        return KS_EINVAL;
    }
    v->api = api;
    v->host = host;
    *self = v;
    return KS_OK;
}

static void rv_close(void *self)
{
    rv_t *v = self;
    if (v->timer)
        v->api->timer_stop(v->host, v->timer);
    if (v->fh_timer)
        v->api->timer_stop(v->host, v->fh_timer);
    if (v->force_timer)
        v->api->timer_stop(v->host, v->force_timer);
    if (v->hang_timer)
        v->api->timer_stop(v->host, v->hang_timer);
    if (v->quiet_timer)
        v->api->timer_stop(v->host, v->quiet_timer);
    if (v->log)
        fclose(v->log);
    free(v);
}

static void quote(void *ud)
{
    rv_t *v = ud;
    for (int i = 0; i < 2; i++) {
        ks_bbo_t b;
        KS_EVENT_INIT(&b, KS_EV_BBO);
        b.hdr.inst = i ? v->spot : v->inst;
        b.hdr.venue_ts = v->api->wall_ns(v->host);
        b.bid_px = KS_DEC(999, 1);
        b.ask_px = KS_DEC(1001, 1);
        b.bid_qty = b.ask_qty = KS_DEC(1000, 0);
        v->api->emit(v->host, &b.hdr);
    }
}

/* Firehose: N numbered BBO events per millisecond of host time (a late timer catches
 * up, so the rate holds even when the machine is busy). */
static void firehose(void *ud)
{
    rv_t *v = ud;
    int64_t now = v->api->now_ns(v->host);
    if (!v->fh_start)
        v->fh_start = now;
    uint64_t owed = (uint64_t)((now - v->fh_start) / 1000000 + 1) * (uint64_t)v->firehose;
    for (; v->fh_seq < owed;) {
        ks_bbo_t b;
        KS_EVENT_INIT(&b, KS_EV_BBO);
        b.hdr.inst = v->inst;
        b.hdr.venue_ts = v->api->wall_ns(v->host);
        b.bid_px = KS_DEC(999, 1);
        b.ask_px = KS_DEC(1001, 1);
        b.bid_qty = ks_dec_from_int((int64_t)++v->fh_seq);
        b.ask_qty = KS_DEC(1, 0);
        v->api->emit(v->host, &b.hdr);
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v->fh_seq);
    v->api->kv_set(v->host, "firehose.sent", buf, (size_t)n);
}

/* A misbehaving plugin: blocks the event loop (the dead-man switch must notice). */
static void hang(void *ud)
{
    for (;;)
        pause();
}

/* Stops quoting (the venue-silence dead-man must notice). */
static void quiet(void *ud)
{
    rv_t *v = ud;
    v->quiet_timer = 0;
    if (v->timer)
        v->api->timer_stop(v->host, v->timer);
    v->timer = 0;
}

/* A venue-initiated fill (no client id), as a forced liquidation of a short. */
static void forced(void *ud)
{
    rv_t *v = ud;
    ks_fill_t f;
    v->force_timer = 0;
    KS_EVENT_INIT(&f, KS_EV_FILL);
    f.hdr.inst = v->inst;
    f.hdr.venue_ts = v->api->wall_ns(v->host);
    ks_strlcpy(f.venue_id, "L1", sizeof(f.venue_id));
    ks_strlcpy(f.trade_id, "liq-1", sizeof(f.trade_id));
    f.side = KS_SIDE_BUY;
    f.px = KS_DEC(110, 0);
    f.qty = ks_dec_from_int(v->force_perp_buy);
    ks_strlcpy(f.fee_asset, "USDT", sizeof(f.fee_asset));
    v->api->emit(v->host, &f.hdr);
}

static int rv_start(void *self)
{
    rv_t *v = self;
    ks_instrument_t in;
    KS_INIT(&in);
    in.kind = KS_KIND_PERP;
    in.symbol = "TST/USDT:USDT";
    in.venue_symbol = "TSTUSDT";
    in.base = "TST";
    in.quote = "USDT";
    in.settle = "USDT";
    in.tick_size = KS_DEC(1, 1);
    in.lot_size = KS_DEC(1, 0);
    in.min_qty = KS_DEC(1, 0);
    in.max_leverage = 10;
    in.funding_interval_h = 8;
    in.flags = KS_INST_TRADING;
    v->api->instrument_upsert(v->host, &in, &v->inst);
    in.kind = KS_KIND_SPOT;
    in.symbol = "TST/USDT";
    in.settle = NULL;
    in.max_leverage = 1;
    in.funding_interval_h = 0;
    v->api->instrument_upsert(v->host, &in, &v->spot);
    if (v->force_perp_buy)
        v->force_timer = v->api->timer_start(v->host, 5000000000LL, 0, forced, v);
    if (v->hang_after_s)
        v->hang_timer = v->api->timer_start(v->host, v->hang_after_s * 1000000000LL, 0, hang, v);
    if (v->quiet_after_s)
        v->quiet_timer = v->api->timer_start(v->host, v->quiet_after_s * 1000000000LL, 0, quiet, v);
    if (v->firehose) {
        v->fh_timer = v->api->timer_start(v->host, 1000000, 1000000, firehose, v);
        return KS_OK;
    }
    quote(v);
    v->timer = v->api->timer_start(v->host, 100000000, 100000000, quote, v);
    return KS_OK;
}

static int rv_subscribe(void *self, int32_t inst, uint32_t ch)
{
    return KS_OK;
}

static void order_event(rv_t *v, int32_t inst, const char *cloid, int status, int side,
                        ks_dec_t qty, ks_dec_t filled)
{
    ks_order_update_t u;
    KS_EVENT_INIT(&u, KS_EV_ORDER);
    u.hdr.inst = inst;
    u.hdr.venue_ts = v->api->wall_ns(v->host);
    ks_strlcpy(u.cloid, cloid, sizeof(u.cloid));
    u.status = (uint8_t)status;
    u.side = (int8_t)side;
    u.qty = qty;
    u.filled = filled;
    u.avg_price = KS_DEC(100, 0);
    v->api->emit(v->host, &u.hdr);
}

static int rv_place(void *self, const ks_order_cmd_t *c)
{
    rv_t *v = self;
    if (v->log)
        fprintf(v->log, "%lld place %s %d\n", (long long)v->api->now_ns(v->host), c->cloid,
                c->reduce_only);
    if (!v->fill) {
        order_event(v, c->inst, c->cloid, KS_OS_ACKED, c->side, c->qty, KS_DEC_ZERO);
        return KS_OK;
    }
    bool spot = c->inst == v->spot;
    if (v->ro_net && c->inst == v->inst && c->reduce_only) {
        int ns = ks_dec_sign(v->perp_net);
        if (!ns || (c->side == KS_SIDE_SELL) != (ns > 0) ||
            ks_dec_cmp(c->qty, ks_dec_abs(v->perp_net)) > 0) {
            ks_order_update_t u;
            KS_EVENT_INIT(&u, KS_EV_ORDER);
            u.hdr.inst = c->inst;
            ks_strlcpy(u.cloid, c->cloid, sizeof(u.cloid));
            u.status = KS_OS_REJECTED;
            u.reject = KS_REJ_REDUCE_ONLY;
            ks_strlcpy(u.reason, "reduce-only would not reduce the position", sizeof(u.reason));
            v->api->emit(v->host, &u.hdr);
            return KS_OK;
        }
    }
    if (spot &&
        (v->reject_spot || (v->reject_spot_after >= 0 && v->spot_orders >= v->reject_spot_after))) {
        v->spot_orders++;
        ks_order_update_t u;
        KS_EVENT_INIT(&u, KS_EV_ORDER);
        u.hdr.inst = c->inst;
        ks_strlcpy(u.cloid, c->cloid, sizeof(u.cloid));
        u.status = KS_OS_REJECTED;
        u.reject = KS_REJ_INSUFFICIENT_FUNDS;
        ks_strlcpy(u.reason, "scripted reject", sizeof(u.reason));
        v->api->emit(v->host, &u.hdr);
        return KS_OK;
    }
    if (spot)
        v->spot_orders++;
    ks_dec_t q = c->qty;
    if (spot && v->partial_spot) {
        ks_dec_div(c->qty, KS_DEC(2, 0), 0, KS_ROUND_FLOOR, &q);
        if (ks_dec_is_zero(q))
            q = c->qty;
    }
    ks_fill_t f;
    KS_EVENT_INIT(&f, KS_EV_FILL);
    f.hdr.inst = c->inst;
    ks_strlcpy(f.cloid, c->cloid, sizeof(f.cloid));
    snprintf(f.trade_id, sizeof(f.trade_id), "%s%llu", v->trade_prefix,
             (unsigned long long)++v->seq);
    f.side = c->side;
    f.px = KS_DEC(100, 0);
    f.qty = q;
    ks_strlcpy(f.fee_asset, "USDT", sizeof(f.fee_asset));
    if (spot && c->side == KS_SIDE_BUY && v->spot_fee_base[0]) {
        ks_dec_t rate;
        ks_dec_parse(v->spot_fee_base, (size_t)-1, &rate);
        ks_dec_mul(q, rate, &f.fee);
        ks_strlcpy(f.fee_asset, "TST", sizeof(f.fee_asset));
    }
    if (spot && c->side == KS_SIDE_BUY && v->spot_fee_base[0]) {
        ks_dec_t rate;
        ks_dec_parse(v->spot_fee_base, (size_t)-1, &rate);
        ks_dec_mul(q, rate, &f.fee);
        ks_strlcpy(f.fee_asset, "TST", sizeof(f.fee_asset));
    }
    v->api->emit(v->host, &f.hdr);
    if (c->inst == v->inst)
        ks_dec_add(v->perp_net, c->side == KS_SIDE_BUY ? q : ks_dec_neg(q), &v->perp_net);
    order_event(v, c->inst, c->cloid, ks_dec_cmp(q, c->qty) == 0 ? KS_OS_FILLED : KS_OS_CANCELED,
                c->side, c->qty, q);
    return KS_OK;
}

static int rv_cancel(void *self, const ks_cancel_cmd_t *c)
{
    rv_t *v = self;
    if (v->log)
        fprintf(v->log, "%lld cancel %s 0\n", (long long)v->api->now_ns(v->host), c->cloid);
    order_event(v, c->inst, c->cloid, KS_OS_CANCELED, 0, KS_DEC_ZERO, KS_DEC_ZERO);
    return KS_OK;
}

static int rv_cancel_all(void *self, int32_t inst)
{
    return KS_OK;
}

static int rv_fetch(void *self, uint32_t what, int32_t inst, const char *cloid, uint64_t req_id)
{
    rv_t *v = self;
    ks_sync_done_t d;
    if (what == KS_FETCH_BALANCES && v->spot_balance[0]) {
        ks_balance_t b;
        KS_EVENT_INIT(&b, KS_EV_BALANCE);
        b.hdr.inst = -1;
        b.hdr.flags = KS_EVF_SNAPSHOT;
        b.wallet = KS_WALLET_SPOT;
        ks_strlcpy(b.asset, "TST", sizeof(b.asset));
        ks_dec_parse(v->spot_balance, (size_t)-1, &b.total);
        b.available = b.total;
        v->api->emit(v->host, &b.hdr);
    }
    if (what == KS_FETCH_POSITIONS && v->perp_position[0]) {
        ks_position_t p;
        KS_EVENT_INIT(&p, KS_EV_POSITION);
        p.hdr.inst = v->inst;
        p.hdr.flags = KS_EVF_SNAPSHOT;
        ks_dec_parse(v->perp_position, (size_t)-1, &p.qty);
        p.entry_px = KS_DEC(100, 0);
        v->api->emit(v->host, &p.hdr);
    }
    KS_EVENT_INIT(&d, KS_EV_SYNC_DONE);
    d.req_id = req_id;
    d.what = (uint8_t)what;
    d.rc = what == KS_FETCH_ORDER ? KS_ENOENT : KS_OK;
    v->api->emit(v->host, &d.hdr);
    return KS_OK;
}

static const ks_exchange_ops_t ops = {
    .struct_size = sizeof(ks_exchange_ops_t),
    .open = rv_open,
    .close = rv_close,
    .start = rv_start,
    .subscribe = rv_subscribe,
    .place = rv_place,
    .cancel = rv_cancel,
    .cancel_all = rv_cancel_all,
    .fetch = rv_fetch,
};

static const ks_plugin_desc_t desc =
    KS_PLUGIN_DESC(KS_PLUGIN_EXCHANGE, "recvenue", "1.0", "records requests (tests)", &ops);
KS_PLUGIN_DEFINE(desc)
