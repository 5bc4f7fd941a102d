/* myvenue: a toy exchange adapter built only against the installed Kestrel SDK. It lists
 * one perpetual, quotes it once a second from a host timer, and fills every order at
 * once. A real adapter has the same shape; its venue talks over api->http_request and
 * api->ws_connect instead of inventing prices. */
#include <stdio.h>
#include <stdlib.h>

#include <kestrel/kestrel.h>

#define SEC_NS 1000000000LL
#define SYMBOL "TOY/USDT:USDT"

/* Events keep struct_size in their header, so KS_INIT() does not apply to them. */
#define EV_INIT(ev, type_, inst_)                                                                  \
    do {                                                                                           \
        memset((ev), 0, sizeof(*(ev)));                                                            \
        (ev)->hdr.struct_size = (uint32_t)sizeof(*(ev));                                           \
        (ev)->hdr.type = (type_);                                                                  \
        (ev)->hdr.inst = (inst_);                                                                  \
    } while (0)

typedef struct myvenue {
    const ks_host_api_t *api; /* borrowed; valid until close() */
    ks_host_t *host;
    int32_t inst;   /* host id of SYMBOL; -1 until start() */
    uint64_t timer; /* the quote timer, 0 when not armed */
    uint64_t next_id;
    uint32_t rng;
    ks_dec_t mid;      /* toy mid price, 2 decimals */
    ks_dec_t position; /* net filled quantity, reported by fetch(KS_FETCH_POSITIONS) */
} myvenue_t;

/* KS_DEC() is a compound literal, not a constant: static data uses plain braces. */
static const ks_dec_t TICK = {.mant = 1, .scale = 2};      /* 0.01 */
static const ks_dec_t TAKER_FEE = {.mant = 5, .scale = 4}; /* 0.0005 */

static void emit(myvenue_t *v, ks_event_t *hdr)
{
    hdr->venue_ts = v->api->wall_ns(v->host);
    v->api->emit(v->host, hdr); /* copied: stack events are fine */
}

static void on_quote_timer(void *ud)
{
    myvenue_t *v = ud;
    v->rng = v->rng * 1103515245u + 12345u;
    ks_dec_t step = KS_DEC((int64_t)((v->rng >> 16) % 11) - 5, 2); /* -0.05 .. +0.05 */
    ks_dec_add(v->mid, step, &v->mid);

    ks_bbo_t bbo;
    EV_INIT(&bbo, KS_EV_BBO, v->inst);
    ks_dec_sub(v->mid, TICK, &bbo.bid_px);
    ks_dec_add(v->mid, TICK, &bbo.ask_px);
    bbo.bid_qty = bbo.ask_qty = KS_DEC(15, 1); /* 1.5 */
    emit(v, &bbo.hdr);
}

static int mv_open(const ks_host_api_t *api, ks_host_t *host, const char *venue,
                   const char *config_json, void **self, char *err, size_t err_len)
{
    /* Fields past ABI 1.0 need this check; emit is 1.0, shown for the pattern. */
    if (!KS_HAS_FIELD(api, ks_host_api_t, emit)) {
        ks_strlcpy(err, "host API too old", err_len);
        return KS_EABI;
    }
    myvenue_t *v = calloc(1, sizeof(*v));
    if (!v) {
        ks_strlcpy(err, "out of memory", err_len);
        return KS_ENOMEM;
    }
    *v = (myvenue_t){.api = api, .host = host, .inst = -1, .rng = 42, .mid = KS_DEC(10000, 2)};
    /* A real adapter parses config_json here; secrets come from api->secret_get(). */
    (void)config_json;
    api->log(host, KS_LOG_INFO, "myvenue: venue %s opened", venue);
    *self = v;
    return KS_OK;
}

static void mv_close(void *self)
{
    myvenue_t *v = self;
    if (v->timer)
        v->api->timer_stop(v->host, v->timer);
    free(v);
}

static int mv_start(void *self)
{
    myvenue_t *v = self;
    ks_instrument_t inst;
    KS_INIT(&inst);
    inst.kind = KS_KIND_PERP;
    inst.symbol = SYMBOL;
    inst.venue_symbol = "TOYUSDT";
    inst.base = "TOY";
    inst.quote = inst.settle = "USDT";
    inst.tick_size = TICK;
    inst.lot_size = inst.min_qty = KS_DEC(1, 3);
    inst.min_notional = KS_DEC(5, 0);
    inst.maker_fee = KS_DEC(2, 4);
    inst.taker_fee = TAKER_FEE;
    inst.max_leverage = 20;
    inst.funding_interval_h = 8;
    inst.flags = KS_INST_TRADING;
    int rc = v->api->instrument_upsert(v->host, &inst, &v->inst);
    if (rc != KS_OK)
        return rc;

    v->timer = v->api->timer_start(v->host, SEC_NS, SEC_NS, on_quote_timer, v);
    if (!v->timer)
        return KS_EAGAIN;
    ks_conn_t up;
    EV_INIT(&up, KS_EV_CONN, -1);
    up.state = KS_CONN_UP;
    ks_strlcpy(up.detail, "toy venue: quoting every second", sizeof(up.detail));
    emit(v, &up.hdr);
    return KS_OK;
}

static int mv_subscribe(void *self, int32_t inst, uint32_t channels)
{
    myvenue_t *v = self;
    (void)channels; /* quotes flow regardless */
    return inst == v->inst ? KS_OK : KS_ENOENT;
}

/* Every order fills in full at once: at its limit price, or at the touch if market. The
 * fill goes out before the FILLED update so the order's fills are booked when it turns
 * final (the host accepts either order, as real venues differ). */
static int mv_place(void *self, const ks_order_cmd_t *cmd)
{
    myvenue_t *v = self;
    if (cmd->inst != v->inst)
        return KS_ENOENT;
    bool buy = cmd->side == KS_SIDE_BUY;
    ks_dec_t px = cmd->price, notional, fee, pos;
    int rc = KS_OK;
    if (cmd->type == KS_ORD_MARKET)
        rc = buy ? ks_dec_add(v->mid, TICK, &px) : ks_dec_sub(v->mid, TICK, &px);
    if (rc == KS_OK)
        rc = ks_dec_mul(px, cmd->qty, &notional);
    if (rc == KS_OK) /* fees round against us: up, to 8 decimals */
        rc = ks_dec_mul_round(notional, TAKER_FEE, 8, KS_ROUND_CEIL, &fee);
    if (rc == KS_OK)
        rc = ks_dec_add(v->position, buy ? cmd->qty : ks_dec_neg(cmd->qty), &pos);
    if (rc != KS_OK)
        return rc; /* nothing emitted: the host treats the order as not sent */
    v->position = pos;

    ks_order_update_t up;
    EV_INIT(&up, KS_EV_ORDER, v->inst);
    ks_strlcpy(up.cloid, cmd->cloid, sizeof(up.cloid));
    unsigned long long id = ++v->next_id;
    snprintf(up.venue_id, sizeof(up.venue_id), "toy-%llu", id);
    up.status = KS_OS_ACKED;
    up.side = cmd->side;
    up.type = cmd->type;
    up.tif = cmd->tif;
    up.reduce_only = cmd->reduce_only;
    up.price = cmd->price;
    up.qty = cmd->qty;
    emit(v, &up.hdr);

    ks_fill_t fill;
    EV_INIT(&fill, KS_EV_FILL, v->inst);
    ks_strlcpy(fill.cloid, up.cloid, sizeof(fill.cloid));
    ks_strlcpy(fill.venue_id, up.venue_id, sizeof(fill.venue_id));
    snprintf(fill.trade_id, sizeof(fill.trade_id), "toy-%llu-1", id);
    fill.side = cmd->side;
    fill.px = px;
    fill.qty = cmd->qty;
    fill.fee = fee;
    ks_strlcpy(fill.fee_asset, "USDT", sizeof(fill.fee_asset));
    emit(v, &fill.hdr);

    up.status = KS_OS_FILLED;
    up.filled = cmd->qty;
    up.avg_price = px;
    up.fee = fee;
    emit(v, &up.hdr);
    return KS_OK;
}

/* Nothing ever rests here, so an order the host wants cancelled is already final. */
static int mv_cancel(void *self, const ks_cancel_cmd_t *cmd)
{
    (void)self, (void)cmd;
    return KS_ENOENT;
}

static int mv_cancel_all(void *self, int32_t inst)
{
    (void)self, (void)inst;
    return KS_OK;
}

static int mv_fetch(void *self, uint32_t what, int32_t inst, const char *cloid, uint64_t req_id)
{
    myvenue_t *v = self;
    (void)cloid;
    if (what == KS_FETCH_POSITIONS && !ks_dec_is_zero(v->position)) {
        ks_position_t pos;
        EV_INIT(&pos, KS_EV_POSITION, v->inst);
        pos.hdr.flags = KS_EVF_SNAPSHOT;
        pos.qty = v->position;
        pos.mark_px = v->mid;
        pos.leverage = 1;
        emit(v, &pos.hdr);
    }
    ks_sync_done_t done;
    EV_INIT(&done, KS_EV_SYNC_DONE, inst);
    done.req_id = req_id;
    done.what = (uint8_t)what;
    done.rc = what == KS_FETCH_ORDER ? KS_ENOENT : KS_OK; /* no order history kept */
    emit(v, &done.hdr);
    return KS_OK;
}

static const ks_exchange_ops_t ops = {
    .struct_size = sizeof(ops),
    .caps = 0,
    .open = mv_open,
    .close = mv_close,
    .start = mv_start,
    .subscribe = mv_subscribe,
    .place = mv_place,
    .cancel = mv_cancel,
    .cancel_all = mv_cancel_all,
    .fetch = mv_fetch,
};

static const ks_plugin_desc_t desc = KS_PLUGIN_DESC(KS_PLUGIN_EXCHANGE, "myvenue", "0.1.0",
                                                    "Toy venue: one perp, instant fills", &ops);
KS_PLUGIN_DEFINE(desc)
