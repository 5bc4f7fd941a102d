/* The engine: the hub that owns everything and routes every event (see engine.h). */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl.h"
#include "legs.h"
#include "paper.h"
#include "log.h"
#include "lua_runtime.h"
#include "summary.h"
#include "watch.h"

#define ACK_TIMEOUT_NS       (5LL * 1000000000) /* SENT without an answer -> UNKNOWN */
#define WATCHDOG_NS          (1LL * 1000000000)
#define QUERY_RETRY_NS       (5LL * 1000000000) /* an unanswered order query is asked again */
#define QUERY_RETRY_MAX_NS   (60LL * 1000000000)
#define FILL_GRACE_NS        (5LL * 1000000000)   /* fills may trail their order's final update */
#define ORDER_RETAIN_NS      (900LL * 1000000000) /* finished orders stay in memory this long */
#define BACKTEST_FLUSH_EVERY 4096                 /* loop iterations between store commits */

typedef union ks_any_event {
    ks_event_t hdr;
    ks_bbo_t bbo;
    ks_book_t book;
    ks_trade_t trade;
    ks_ticker_t ticker;
    ks_oracle_t oracle;
    ks_liquidation_t liq;
    ks_order_update_t order;
    ks_fill_t fill;
    ks_position_t pos;
    ks_balance_t bal;
    ks_funding_t funding;
    ks_conn_t conn;
    ks_sync_done_t sync;
    ks_transfer_result_t xfer;
    ks_instrument_event_t inst;
} ks_any_event_t;

typedef struct qent {
    ks_any_event_t ev;
    uint32_t lv_off; /* book levels: offset into the batch's level array */
} qent_t;

typedef struct evbatch {
    qent_t *q;
    size_t n, cap;
    ks_level_t *lv;
    size_t n_lv, cap_lv;
} evbatch_t;

typedef struct sub_list {
    int *strats;
    int n, cap;
} sub_list_t;

typedef struct pending_xfer {
    uint64_t req_id;
    int strat;
} pending_xfer_t;

typedef struct pending_sub {
    int strat;
    uint32_t venue;
    char symbol[KS_SYMBOL_LEN];
} pending_sub_t;

struct ks_engine {
    const ks_config_t *cfg;
    bool backtest, check_only;
    char state_dir[1024];
    char db_path[1100];
    int lock_fd;
    ks_loop_t *loop;
    ks_http_t *http;
    ks_wsctx_t *ws;
    ks_store_t *store;
    ks_plugin_set_t *plugins;
    ks_market_t market;
    ks_oms_t oms;
    ks_legs_t *legs;
    ks_paper_t *paper; /* the matcher for strategies in paper mode */
    bool any_paper;
    int64_t *paper_fund_next;  /* by instrument: the pending settlement time */
    ks_dec_t *paper_fund_rate; /* and the rate announced for it */
    int32_t n_paper_fund;
    ks_venue_t *venues;
    int n_venues;
    ks_rlwin_t *rl_groups; /* rate_limit_groups: windows venues share */
    int n_rl_groups;
    uint32_t rl_turn; /* round robin among venues sharing a window */
    ks_riskmod_t *risk;
    int n_risk;
    ks_strategy_t **strats;
    int n_strats;
    /* event queue, double-buffered: emits during a drain go to the next batch */
    evbatch_t cur, next;
    bool drain_posted;
    bool hold_events; /* start-up: queue venue events without dispatching them */
    uint64_t seq;
    uint64_t next_req; /* fetch request ids */
    uint64_t counts[KS_EV_TYPE_MAX + 1];
    /* subscriptions */
    sub_list_t *subs; /* by instrument id */
    int32_t n_subs;
    pending_sub_t *pending;
    int n_pending, cap_pending;
    pending_xfer_t xfers[64];
    int n_xfers;
    /* reconciliation (startup) */
    bool recon_active;
    int recon_pending;
    ks_strmap_t recon_seen; /* cloids the venues listed as open */
    ks_dec_t *recon_vpos;   /* venue position by instrument */
    bool *recon_vpos_seen;
    int32_t recon_n;
    struct recon_unknown {
        uint32_t venue;
        int32_t inst;
        char cloid[KS_CLOID_LEN];
        char venue_id[KS_VENUE_ID_LEN];
    } * recon_unknown;
    int n_recon_unknown;
    ks_u64map_t recon_queries; /* fetch(ORDER) req id -> order */
    int recon_enoent;          /* orders the venue never saw */
    struct recon_shrunk {      /* positions scaled down to the venue's, for leg groups */
        int strat;
        int32_t inst;
        ks_dec_t delta; /* signed change */
    } * recon_shrunk;
    int n_recon_shrunk;
    /* the watchdog: orders it asked the venue about (UNKNOWN ones, and market/IOC orders
     * left without a final answer), and finished orders whose fills did not all arrive */
    struct wd_query {
        ks_order_t *o;
        uint64_t req;
        int64_t asked_ns;
        int tries;
    } * wdq;
    int n_wdq, cap_wdq;
    struct fill_wait {
        ks_order_t *o;
        int64_t since_ns;
    } * fw;
    int n_fw, cap_fw;
    /* kill switch */
    bool killing;
    int64_t kill_deadline_ns;
    uint64_t kill_timer, safety_timer;
    char kill_reason[KS_REASON_LEN];
    uint64_t last_iterations;
    int64_t last_progress_ns;
    int64_t *venue_last_event_ns;
    _Atomic uint64_t heartbeat; /* bumped by the loop, watched by the dead-man thread */
    pthread_t deadman_thread;
    bool deadman_running;
    _Atomic bool deadman_stop;
    char kill_path[1100];
    /* ctx.record sinks: "<strategy>.<name>" -> record_file_t* */
    ks_strmap_t records;
    /* live operation */
    ks_watch_t *watch;
    ks_ctl_t *ctl;
    ks_config_t **owned_cfgs; /* configs re-read at run time (the first one is the CLI's) */
    int n_owned;
    /* run state */
    uint64_t watchdog_timer, status_timer;
    uint64_t iterations_since_flush;
    bool blocked; /* kill switch / risk: no new entries */
    bool started;
    int64_t replay_start_ns, replay_end_ns;
    const char *const *data_paths;
    int n_data;
    int exit_code;
    int64_t run_start_ns;
    uint64_t last_status_events;
};

/* ---- small helpers ---------------------------------------------------------------- */

static int mkdir_p(const char *path)
{
    char tmp[1024];
    ks_strlcpy(tmp, path, sizeof(tmp));
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int64_t wall(ks_engine_t *eng)
{
    return ks_loop_wall_ns(eng->loop);
}

void ks_engine_journal(ks_engine_t *eng, const char *kind, const char *subject,
                       const char *detail_json)
{
    if (eng->store)
        ks_store_event(eng->store, wall(eng), kind, subject, detail_json);
}

/* ---- accessors ---------------------------------------------------------------------- */

ks_loop_t *ks_engine_loop(ks_engine_t *eng)
{
    return eng->loop;
}

ks_market_t *ks_engine_market(ks_engine_t *eng)
{
    return &eng->market;
}

ks_oms_t *ks_engine_oms(ks_engine_t *eng)
{
    return &eng->oms;
}

ks_store_t *ks_engine_store(ks_engine_t *eng)
{
    return eng->store;
}

const ks_config_t *ks_engine_config(ks_engine_t *eng)
{
    return eng->cfg;
}

bool ks_engine_is_backtest(const ks_engine_t *eng)
{
    return eng->backtest;
}

const char *ks_engine_db_path(const ks_engine_t *eng)
{
    return eng->db_path;
}

int ks_engine_n_strategies(const ks_engine_t *eng)
{
    return eng->n_strats;
}

ks_strategy_t *ks_engine_strategy(ks_engine_t *eng, int idx)
{
    return idx >= 0 && idx < eng->n_strats ? eng->strats[idx] : NULL;
}

ks_venue_t *ks_engine_venue(ks_engine_t *eng, uint32_t id)
{
    return id < (uint32_t)eng->n_venues ? &eng->venues[id] : NULL;
}

int ks_engine_venue_by_name(ks_engine_t *eng, const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < eng->n_venues; i++)
        if (strcmp(eng->venues[i].name, name) == 0)
            return i;
    return -1;
}

uint64_t ks_engine_event_count(const ks_engine_t *eng)
{
    return eng->seq;
}

uint64_t ks_engine_event_count_type(const ks_engine_t *eng, int type)
{
    return type >= 0 && type <= KS_EV_TYPE_MAX ? eng->counts[type] : 0;
}

ks_http_t *ks_engine_http(ks_engine_t *eng)
{
    return eng->http;
}

ks_wsctx_t *ks_engine_ws(ks_engine_t *eng)
{
    return eng->ws;
}

int32_t ks_engine_find_inst(ks_engine_t *eng, uint32_t venue, const char *symbol)
{
    return ks_market_find(&eng->market, venue, symbol);
}

/* ---- portfolio view for risk plugins ------------------------------------------------ */

typedef struct pf_impl {
    ks_portfolio_t pub;
    ks_engine_t *eng;
} pf_impl_t;

static ks_engine_t *pf_eng(const ks_portfolio_t *pf)
{
    return ((const pf_impl_t *)pf)->eng;
}

static int strat_index(ks_engine_t *eng, const char *name)
{
    if (!name)
        return -2;
    for (int i = 0; i < eng->n_strats; i++)
        if (strcmp(ks_strategy_name(eng->strats[i]), name) == 0)
            return i;
    return -3;
}

static int64_t pf_now(const ks_portfolio_t *pf)
{
    return ks_loop_now_ns(pf_eng(pf)->loop);
}

static ks_dec_t pf_position(const ks_portfolio_t *pf, const char *strategy, int32_t inst)
{
    ks_engine_t *eng = pf_eng(pf);
    int s = strat_index(eng, strategy);
    if (s == -2)
        return ks_oms_total_position(&eng->oms, inst);
    return s >= 0 ? ks_oms_position(&eng->oms, s, inst)->qty : KS_DEC_ZERO;
}

static int pf_open_positions(const ks_portfolio_t *pf, const char *strategy)
{
    ks_engine_t *eng = pf_eng(pf);
    int s = strat_index(eng, strategy), n = 0;
    for (int32_t i = 0; i < eng->market.n; i++) {
        ks_dec_t q = s == -2  ? ks_oms_total_position(&eng->oms, i)
                     : s >= 0 ? ks_oms_position(&eng->oms, s, i)->qty
                              : KS_DEC_ZERO;
        n += !ks_dec_is_zero(q);
    }
    return n;
}

static ks_dec_t pf_gross_notional(const ks_portfolio_t *pf, const char *strategy)
{
    ks_engine_t *eng = pf_eng(pf);
    int s = strat_index(eng, strategy);
    ks_dec_t total = KS_DEC_ZERO;
    for (int32_t i = 0; i < eng->market.n; i++) {
        ks_dec_t q = s == -2  ? ks_oms_total_position(&eng->oms, i)
                     : s >= 0 ? ks_oms_position(&eng->oms, s, i)->qty
                              : KS_DEC_ZERO;
        ks_dec_t mark, n;
        if (!ks_dec_is_zero(q) && ks_market_mark(&eng->market, i, &mark) &&
            ks_dec_mul_round(ks_dec_abs(q), mark, 8, KS_ROUND_HALF_EVEN, &n) == KS_OK)
            ks_dec_add(total, n, &total);
    }
    return total;
}

ks_dec_t ks_engine_equity(ks_engine_t *eng, int strat)
{
    ks_dec_t eq = KS_DEC_ZERO;
    ks_acct_totals_t t;
    ks_strat_acct_t *a = ks_oms_account(&eng->oms, strat);
    if (!a)
        return eq;
    ks_oms_totals(&eng->oms, strat, &t);
    ks_dec_add(eq, a->capital, &eq);
    ks_dec_add(eq, t.realized, &eq);
    ks_dec_add(eq, t.unrealized, &eq);
    ks_dec_add(eq, t.funding, &eq);
    ks_dec_sub(eq, t.fees, &eq);
    return eq;
}

static ks_dec_t pf_equity(const ks_portfolio_t *pf, const char *strategy)
{
    ks_engine_t *eng = pf_eng(pf);
    ks_dec_t eq = KS_DEC_ZERO;
    for (int s = 0; s < eng->n_strats; s++)
        if (!strategy || strcmp(ks_strategy_name(eng->strats[s]), strategy) == 0)
            ks_dec_add(eq, ks_engine_equity(eng, s), &eq);
    return eq;
}

static int pf_market(const ks_portfolio_t *pf, int32_t inst, ks_market_view_t *out)
{
    ks_engine_t *eng = pf_eng(pf);
    if (!ks_market_inst(&eng->market, inst))
        return KS_ENOENT;
    ks_market_view(&eng->market, inst, out);
    return KS_OK;
}

static int pf_instrument(const ks_portfolio_t *pf, int32_t inst, ks_instrument_t *out)
{
    const ks_inst_rec_t *r = ks_market_inst(&pf_eng(pf)->market, inst);
    if (!r)
        return KS_ENOENT;
    *out = r->spec;
    return KS_OK;
}

static ks_dec_t pf_open_order_qty(const ks_portfolio_t *pf, const char *strategy, int32_t inst)
{
    ks_engine_t *eng = pf_eng(pf);
    int s = strat_index(eng, strategy);
    return s >= 0 ? ks_oms_open_qty(&eng->oms, s, inst) : KS_DEC_ZERO;
}

static const ks_portfolio_api_t pf_api = {
    .struct_size = sizeof(ks_portfolio_api_t),
    .now_ns = pf_now,
    .position = pf_position,
    .open_positions = pf_open_positions,
    .gross_notional = pf_gross_notional,
    .equity = pf_equity,
    .market = pf_market,
    .instrument = pf_instrument,
    .open_order_qty = pf_open_order_qty,
};

static void pf_init(pf_impl_t *pf, ks_engine_t *eng)
{
    pf->pub.api = &pf_api;
    pf->eng = eng;
}

/* ---- subscriptions ---------------------------------------------------------------- */

static int sub_add(ks_engine_t *eng, int32_t inst, int strat)
{
    if (inst >= eng->n_subs) {
        int32_t n = inst + 64;
        sub_list_t *ns = realloc(eng->subs, (size_t)n * sizeof(*ns));
        if (!ns)
            return KS_ENOMEM;
        memset(ns + eng->n_subs, 0, (size_t)(n - eng->n_subs) * sizeof(*ns));
        eng->subs = ns;
        eng->n_subs = n;
    }
    sub_list_t *l = &eng->subs[inst];
    bool present = false;
    for (int i = 0; i < l->n; i++)
        present |= l->strats[i] == strat;
    if (!present && l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 4;
        int *na = realloc(l->strats, (size_t)nc * sizeof(*na));
        if (!na)
            return KS_ENOMEM;
        l->strats = na;
        l->cap = nc;
    }
    if (!present)
        l->strats[l->n++] = strat;
    ks_venue_t *v = ks_engine_venue(eng, ks_market_inst(&eng->market, inst)->venue);
    if (v && v->open)
        v->ops->subscribe(v->self, inst, ks_strategy_channels(eng->strats[strat]));
    return KS_OK;
}

int ks_engine_subscribe(ks_engine_t *eng, int strat, uint32_t venue, const char *symbol)
{
    int32_t inst = ks_market_find(&eng->market, venue, symbol);
    if (inst >= 0)
        return sub_add(eng, inst, strat);
    /* Not registered yet (venues may list instruments asynchronously): remember. */
    if (eng->n_pending == eng->cap_pending) {
        int nc = eng->cap_pending ? eng->cap_pending * 2 : 16;
        pending_sub_t *np = realloc(eng->pending, (size_t)nc * sizeof(*np));
        if (!np)
            return KS_ENOMEM;
        eng->pending = np;
        eng->cap_pending = nc;
    }
    pending_sub_t *p = &eng->pending[eng->n_pending++];
    p->strat = strat;
    p->venue = venue;
    ks_strlcpy(p->symbol, symbol, sizeof(p->symbol));
    return KS_OK;
}

void ks_engine_strategy_enabled(ks_engine_t *eng, int strat)
{
    ks_strategy_t *st = eng->strats[strat];
    const ks_strategy_cfg_t *sc = ks_strategy_cfg(st);
    for (int s = 0; s < sc->n_symbols; s++)
        ks_engine_subscribe(eng, strat, ks_strategy_venue(st), sc->symbols[s]);
}

static void resolve_pending(ks_engine_t *eng, uint32_t venue, int32_t inst, const char *symbol)
{
    for (int i = 0; i < eng->n_pending;) {
        pending_sub_t *p = &eng->pending[i];
        if (p->venue == venue && strcmp(p->symbol, symbol) == 0) {
            int strat = p->strat;
            eng->pending[i] = eng->pending[--eng->n_pending];
            sub_add(eng, inst, strat);
        } else {
            i++;
        }
    }
}

/* ---- event queue -------------------------------------------------------------------- */

static size_t event_size(int type)
{
    switch ((ks_event_type_t)type) {
    case KS_EV_BBO:
        return sizeof(ks_bbo_t);
    case KS_EV_BOOK:
        return sizeof(ks_book_t);
    case KS_EV_TRADE:
        return sizeof(ks_trade_t);
    case KS_EV_TICKER:
        return sizeof(ks_ticker_t);
    case KS_EV_ORACLE:
        return sizeof(ks_oracle_t);
    case KS_EV_LIQUIDATION:
        return sizeof(ks_liquidation_t);
    case KS_EV_ORDER:
        return sizeof(ks_order_update_t);
    case KS_EV_FILL:
        return sizeof(ks_fill_t);
    case KS_EV_POSITION:
        return sizeof(ks_position_t);
    case KS_EV_BALANCE:
        return sizeof(ks_balance_t);
    case KS_EV_FUNDING:
        return sizeof(ks_funding_t);
    case KS_EV_CONN:
        return sizeof(ks_conn_t);
    case KS_EV_INSTRUMENT:
        return sizeof(ks_instrument_event_t);
    case KS_EV_SYNC_DONE:
        return sizeof(ks_sync_done_t);
    case KS_EV_TRANSFER:
        return sizeof(ks_transfer_result_t);
    }
    return 0;
}

static void drain(ks_loop_t *loop, void *ud);
static void push_notice(lua_State *L, void *ud);
static void paper_funding(ks_engine_t *eng, const ks_ticker_t *t);
static void recon_order(ks_engine_t *eng, const ks_order_update_t *u, ks_order_t *o);
static void fill_wait_add(ks_engine_t *eng, ks_order_t *o);
static bool wd_answered(ks_engine_t *eng, const ks_sync_done_t *sd);
static int reduce_scope(ks_engine_t *eng, int strat, int32_t inst, ks_dec_t fraction,
                        const char *reason);

static int enqueue(ks_engine_t *eng, uint32_t venue, const ks_event_t *ev)
{
    size_t size = event_size(ev->type);
    evbatch_t *b = &eng->next;
    if (!size || ev->struct_size < sizeof(ks_event_t))
        return KS_EINVAL;
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        qent_t *nq = realloc(b->q, nc * sizeof(*nq));
        if (!nq)
            return KS_ENOMEM;
        b->q = nq;
        b->cap = nc;
    }
    qent_t *e = &b->q[b->n];
    size_t n = ev->struct_size < size ? ev->struct_size : size;
    memcpy(&e->ev, ev, n);
    if (n < size)
        memset((char *)&e->ev + n, 0, size - n);
    e->ev.hdr.struct_size = (uint32_t)size;
    e->ev.hdr.venue = venue;
    if (!e->ev.hdr.recv_ns)
        e->ev.hdr.recv_ns = ks_loop_now_ns(eng->loop);
    if (ev->type == KS_EV_BOOK) {
        const ks_book_t *bk = (const ks_book_t *)ev;
        size_t need = (size_t)bk->n_bids + bk->n_asks;
        if (b->n_lv + need > b->cap_lv) {
            size_t nc = b->cap_lv ? b->cap_lv : 256;
            while (nc < b->n_lv + need)
                nc *= 2;
            ks_level_t *nl = realloc(b->lv, nc * sizeof(*nl));
            if (!nl)
                return KS_ENOMEM;
            b->lv = nl;
            b->cap_lv = nc;
        }
        e->lv_off = (uint32_t)b->n_lv;
        if (bk->n_bids)
            memcpy(b->lv + b->n_lv, bk->bids, bk->n_bids * sizeof(ks_level_t));
        if (bk->n_asks)
            memcpy(b->lv + b->n_lv + bk->n_bids, bk->asks, bk->n_asks * sizeof(ks_level_t));
        b->n_lv += need;
    }
    b->n++;
    if (!eng->drain_posted) {
        eng->drain_posted = true;
        ks_loop_post(eng->loop, drain, eng);
    }
    return KS_OK;
}

int ks_engine_emit(ks_engine_t *eng, struct ks_host *h, const ks_event_t *ev)
{
    if (!ev || h->kind != KS_PLUGIN_EXCHANGE)
        return KS_EINVAL;
    if (ev->type == KS_EV_INSTRUMENT)
        return KS_EINVAL; /* the host emits those itself */
    int rc = enqueue(eng, (uint32_t)h->index, ev);
    if (rc != KS_OK)
        ks_log_error(h->component, "event of type %d dropped: %s", ev->type, ks_strerror(rc));
    return rc;
}

static void notify_strategy(ks_engine_t *eng, int strat, const ks_event_t *ev)
{
    if (strat >= 0 && strat < eng->n_strats && ks_strategy_enabled(eng->strats[strat]))
        ks_strategy_dispatch(eng->strats[strat], ev);
}

static void risk_on_event(ks_engine_t *eng, const ks_event_t *ev)
{
    pf_impl_t pf;
    if (!eng->n_risk)
        return;
    pf_init(&pf, eng);
    for (int i = 0; i < eng->n_risk; i++)
        if (eng->risk[i].ops->on_event)
            eng->risk[i].ops->on_event(eng->risk[i].self, ev, &pf.pub);
}

static void on_balance(ks_engine_t *eng, const ks_balance_t *b)
{
    ks_venue_t *v = ks_engine_venue(eng, b->hdr.venue);
    char key[KS_ASSET_LEN + 8];
    void *val;
    if (!v)
        return;
    snprintf(key, sizeof(key), "%u\x1f%s", b->wallet, b->asset);
    if (!ks_strmap_get(&v->balances, key, &val)) {
        val = malloc(sizeof(ks_balance_t));
        if (!val || ks_strmap_put(&v->balances, key, val) != KS_OK) {
            free(val);
            return;
        }
    }
    memcpy(val, b, sizeof(*b));
}

const ks_balance_t *ks_engine_balance(ks_engine_t *eng, uint32_t venue, int wallet,
                                      const char *asset)
{
    ks_venue_t *v = ks_engine_venue(eng, venue);
    char key[KS_ASSET_LEN + 8];
    void *val;
    if (!v)
        return NULL;
    snprintf(key, sizeof(key), "%u\x1f%s", wallet, asset);
    return ks_strmap_get(&v->balances, key, &val) ? val : NULL;
}

bool ks_engine_margin_level(ks_engine_t *eng, uint32_t venue, double *out)
{
    ks_venue_t *v = ks_engine_venue(eng, venue);
    size_t it = 0;
    void *val;
    if (!v)
        return false;
    while (ks_strmap_next(&v->balances, &it, NULL, &val)) {
        const ks_balance_t *b = val;
        if ((b->wallet == KS_WALLET_FUTURES || b->wallet == KS_WALLET_UNIFIED) &&
            b->maint_margin.mant > 0) {
            *out = ks_dec_to_double(b->equity) / ks_dec_to_double(b->maint_margin);
            return true;
        }
    }
    return false;
}

typedef struct xfer_view {
    const ks_transfer_result_t *r;
} xfer_view_t;

static void push_transfer(lua_State *L, void *ud)
{
    ks_lua_api_push_transfer(L, ((xfer_view_t *)ud)->r);
}

static void on_transfer_result(ks_engine_t *eng, const ks_transfer_result_t *r)
{
    for (int i = 0; i < eng->n_xfers; i++) {
        if (eng->xfers[i].req_id != r->req_id)
            continue;
        int strat = eng->xfers[i].strat;
        eng->xfers[i] = eng->xfers[--eng->n_xfers];
        char detail[300], amt[KS_DEC_STRLEN];
        ks_dec_format(r->amount, amt, sizeof(amt));
        snprintf(detail, sizeof(detail),
                 "{\"id\":%llu,\"ok\":%s,\"asset\":\"%s\",\"amount\":\"%s\",\"from\":\"%s\","
                 "\"to\":\"%s\"}",
                 (unsigned long long)r->req_id, r->rc == KS_OK ? "true" : "false", r->asset, amt,
                 ks_wallet_name(r->from), ks_wallet_name(r->to));
        ks_engine_journal(eng, "transfer",
                          strat >= 0 ? ks_strategy_name(eng->strats[strat]) : "host", detail);
        if (strat >= 0 && ks_strategy_enabled(eng->strats[strat])) {
            xfer_view_t xv = {r};
            ks_strategy_call(eng->strats[strat], "on_transfer", push_transfer, &xv);
        }
        return;
    }
}

/* A fill the OMS booked (from the venue, or the difference the venue reported filled
 * beyond the fills received): risk monitors, the strategy, its leg group. */
static void fill_applied(ks_engine_t *eng, ks_order_t *o, ks_fill_t *f)
{
    f->hdr.inst = o->inst;
    risk_on_event(eng, &f->hdr);
    notify_strategy(eng, o->strat, &f->hdr);
    if (o->strat >= 0 && ks_strategy_enabled(eng->strats[o->strat]))
        ks_strategy_position_changed(eng->strats[o->strat], o->inst);
    ks_legs_on_fill(eng->legs, o, f);
}

typedef struct forced_ctx {
    ks_engine_t *eng;
    const ks_fill_t *f;
    char why[KS_REASON_LEN];
} forced_ctx_t;

static void forced_share(void *ud, int strat, ks_dec_t qty)
{
    forced_ctx_t *c = ud;
    ks_engine_t *eng = c->eng;
    char q[KS_DEC_STRLEN];
    ks_dec_format(qty, q, sizeof(q));
    ks_log_warn("engine", "%s: %s %s for %s", c->why,
                ks_market_inst(&eng->market, c->f->hdr.inst)->symbol, q,
                strat >= 0 ? ks_strategy_name(eng->strats[strat]) : "the host account");
    ks_legs_on_forced(eng->legs, strat, c->f->hdr.inst, qty, c->why);
    if (strat >= 0 && ks_strategy_enabled(eng->strats[strat])) {
        ks_strategy_position_changed(eng->strats[strat], c->f->hdr.inst);
        ks_risk_notice_t n = {"venue", c->why,
                              ks_market_inst(&eng->market, c->f->hdr.inst)->symbol};
        ks_strategy_call(eng->strats[strat], "on_risk", push_notice, &n);
    }
}

/* A fill without a client id: the venue changed positions by itself (a forced
 * liquidation). It is split across the holders, journaled, and the leg groups it hit are
 * rebalanced so no hedge is left with one leg gone. */
static void forced_fill(ks_engine_t *eng, ks_fill_t *f, const char *vname, int64_t w)
{
    forced_ctx_t c = {eng, f, ""};
    if (!ks_market_inst(&eng->market, f->hdr.inst))
        return;
    snprintf(c.why, sizeof(c.why), "forced %s by the venue (%.60s)",
             f->side == KS_SIDE_SELL ? "sell" : "buy",
             f->venue_id[0] ? f->venue_id : "liquidation");
    cJSON *d = cJSON_CreateObject();
    char px[KS_DEC_STRLEN], q[KS_DEC_STRLEN];
    ks_dec_format(f->px, px, sizeof(px));
    ks_dec_format(f->qty, q, sizeof(q));
    cJSON_AddStringToObject(d, "symbol", ks_market_inst(&eng->market, f->hdr.inst)->symbol);
    cJSON_AddStringToObject(d, "side", ks_side_name(f->side));
    cJSON_AddStringToObject(d, "price", px);
    cJSON_AddStringToObject(d, "qty", q);
    cJSON_AddStringToObject(d, "trade_id", f->trade_id);
    char *dj = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    if (ks_oms_on_forced_fill(&eng->oms, f, vname, w, forced_share, &c) > 0) {
        ks_engine_journal(eng, "position.forced", vname, dj);
        risk_on_event(eng, &f->hdr);
    }
    free(dj);
}

static void dispatch(ks_engine_t *eng, ks_event_t *ev)
{
    ks_venue_t *v = ks_engine_venue(eng, ev->venue);
    const char *vname = v ? v->name : "";
    int64_t w = wall(eng);

    ev->seq = ++eng->seq;
    if (ev->type <= KS_EV_TYPE_MAX)
        eng->counts[ev->type]++;
    if (v && eng->venue_last_event_ns)
        eng->venue_last_event_ns[v->id] = ev->recv_ns;
    switch ((ks_event_type_t)ev->type) {
    case KS_EV_BBO:
    case KS_EV_BOOK:
    case KS_EV_TRADE:
    case KS_EV_TICKER:
    case KS_EV_ORACLE:
    case KS_EV_LIQUIDATION: {
        if (!ks_market_inst(&eng->market, ev->inst))
            return;
        ks_market_apply(&eng->market, ev);
        if (eng->any_paper) {
            if ((ev->type == KS_EV_BBO || ev->type == KS_EV_BOOK) && ks_paper_resting(eng->paper))
                ks_paper_on_bbo(eng->paper, ev->inst, w);
            if (ev->type == KS_EV_TICKER)
                paper_funding(eng, (const ks_ticker_t *)ev);
        }
        risk_on_event(eng, ev);
        if (ev->inst < eng->n_subs) {
            sub_list_t *l = &eng->subs[ev->inst];
            for (int i = 0; i < l->n; i++)
                notify_strategy(eng, l->strats[i], ev);
        }
        return;
    }
    case KS_EV_ORDER: {
        ks_order_update_t *u = (ks_order_update_t *)ev;
        bool changed;
        ks_order_t *o = ks_oms_on_order(&eng->oms, u, w, &changed);
        /* Retired long ago: loaded back from the store and applied (reconciliation
         * decides itself about orders only the venue lists). */
        if (!o && !eng->recon_active && ks_engine_order(eng, u->cloid))
            o = ks_oms_on_order(&eng->oms, u, w, &changed);
        if (eng->recon_active && (ev->flags & KS_EVF_SNAPSHOT))
            recon_order(eng, u, o);
        if (!o) {
            if (!(eng->recon_active && (ev->flags & KS_EVF_SNAPSHOT)))
                ks_log_warn("engine", "order update for unknown client id %s on %s (status %s)",
                            u->cloid, vname, ks_order_status_name(u->status));
            return;
        }
        if (!changed)
            return;
        ev->inst = o->inst;
        /* Finished with less in fills than the venue reports filled: the fills may still
         * be on their way, or lost (the watchdog books the difference after a grace). */
        if (ks_order_status_is_final(o->rec.status) && !eng->recon_active &&
            ks_dec_cmp(o->fill_qty, o->rec.filled) < 0)
            fill_wait_add(eng, o);
        risk_on_event(eng, ev);
        notify_strategy(eng, o->strat, ev);
        ks_legs_on_order(eng->legs, o);
        return;
    }
    case KS_EV_FILL: {
        ks_fill_t *f = (ks_fill_t *)ev;
        bool dup;
        if (!f->cloid[0]) {
            forced_fill(eng, f, vname, w);
            return;
        }
        ks_order_t *o = ks_oms_on_fill(&eng->oms, f, vname, w, &dup);
        if (!o && ks_engine_order(eng, f->cloid)) /* retired long ago: loaded back */
            o = ks_oms_on_fill(&eng->oms, f, vname, w, &dup);
        if (!o) {
            ks_log_warn("engine", "fill for unknown client id %s on %s", f->cloid, vname);
            return;
        }
        if (dup)
            return;
        fill_applied(eng, o, f);
        return;
    }
    case KS_EV_FUNDING:
        ks_oms_on_funding(&eng->oms, (ks_funding_t *)ev, vname, w);
        risk_on_event(eng, ev);
        return;
    case KS_EV_BALANCE:
        on_balance(eng, (ks_balance_t *)ev);
        risk_on_event(eng, ev);
        return;
    case KS_EV_POSITION:
        if (eng->recon_active && (ev->flags & KS_EVF_SNAPSHOT) && ev->inst >= 0 &&
            ev->inst < eng->recon_n) {
            eng->recon_vpos[ev->inst] = ((ks_position_t *)ev)->qty;
            eng->recon_vpos_seen[ev->inst] = true;
        }
        risk_on_event(eng, ev);
        return;
    case KS_EV_CONN: {
        ks_conn_t *c = (ks_conn_t *)ev;
        if (v)
            v->up = c->state == KS_CONN_UP;
        ks_log_info("engine", "venue %s: %s%s%s", vname,
                    c->state == KS_CONN_UP           ? "up"
                    : c->state == KS_CONN_CONNECTING ? "connecting"
                    : c->state == KS_CONN_RESYNCING  ? "resyncing"
                                                     : "down",
                    c->detail[0] ? ": " : "", c->detail);
        risk_on_event(eng, ev);
        return;
    }
    case KS_EV_TRANSFER:
        on_transfer_result(eng, (ks_transfer_result_t *)ev);
        risk_on_event(eng, ev);
        return;
    case KS_EV_SYNC_DONE: {
        ks_sync_done_t *sd = (ks_sync_done_t *)ev;
        if (sd->what == KS_FETCH_ORDER && wd_answered(eng, sd)) {
            risk_on_event(eng, ev);
            return;
        }
        if (eng->recon_active && eng->recon_pending > 0) {
            eng->recon_pending--;
            void *q;
            if (sd->what == KS_FETCH_ORDER && ks_u64map_get(&eng->recon_queries, sd->req_id, &q)) {
                ks_u64map_del(&eng->recon_queries, sd->req_id);
                ks_order_t *o = q;
                if (sd->rc == KS_ENOENT && !ks_order_status_is_final(o->rec.status)) {
                    ks_oms_send_failed(&eng->oms, o, KS_REJ_UNKNOWN_ORDER,
                                       "never reached the venue (recovered after a restart)", w);
                    eng->recon_enoent++;
                }
            }
            if (sd->what == KS_FETCH_BALANCES && sd->rc == KS_OK && v)
                v->recon_bal_ok = true;
            if (sd->rc != KS_OK && sd->rc != KS_ENOENT)
                ks_log_error("engine", "reconciliation fetch on %s failed: %s", vname,
                             sd->detail[0] ? sd->detail : ks_strerror(sd->rc));
        }
        risk_on_event(eng, ev);
        return;
    }
    case KS_EV_INSTRUMENT:
        risk_on_event(eng, ev);
        return;
    }
}

static void drain(ks_loop_t *loop, void *ud)
{
    ks_engine_t *eng = ud;
    eng->drain_posted = false;
    if (eng->hold_events)
        return;
    while (eng->next.n) {
        /* Swap: events emitted while this batch is dispatched go to the next one. */
        evbatch_t tmp = eng->cur;
        eng->cur = eng->next;
        eng->next = tmp;
        eng->next.n = 0;
        eng->next.n_lv = 0;
        for (size_t i = 0; i < eng->cur.n; i++) {
            qent_t *e = &eng->cur.q[i];
            if (e->ev.hdr.type == KS_EV_BOOK) {
                e->ev.book.bids = eng->cur.lv + e->lv_off;
                e->ev.book.asks = eng->cur.lv + e->lv_off + e->ev.book.n_bids;
            }
            dispatch(eng, &e->ev.hdr);
        }
        eng->cur.n = 0;
        eng->cur.n_lv = 0;
    }
}

/* ---- instruments -------------------------------------------------------------------- */

int ks_engine_instrument_upsert(ks_engine_t *eng, struct ks_host *h, const ks_instrument_t *in,
                                int32_t *id)
{
    bool is_new, changed;
    int rc = ks_market_upsert(&eng->market, (uint32_t)h->index, in, id, &is_new, &changed);
    if (rc != KS_OK)
        return rc;
    const ks_inst_rec_t *r = ks_market_inst(&eng->market, *id);
    if (is_new) {
        resolve_pending(eng, (uint32_t)h->index, *id, r->symbol);
    } else if (changed) {
        char detail[200];
        snprintf(detail, sizeof(detail), "{\"symbol\":\"%s\",\"spec_version\":%u}", r->symbol,
                 r->spec.spec_version);
        ks_log_warn("engine", "instrument %s on %s changed its spec (version %u)", r->symbol,
                    h->name, r->spec.spec_version);
        ks_engine_journal(eng, "instrument.changed", h->name, detail);
    }
    if (changed) {
        ks_instrument_event_t ev;
        KS_EVENT_INIT(&ev, KS_EV_INSTRUMENT);
        ev.hdr.inst = *id;
        ev.spec_version = r->spec.spec_version;
        ev.changed = is_new ? 0 : 1;
        enqueue(eng, (uint32_t)h->index, &ev.hdr);
    }
    return KS_OK;
}

/* ---- the order path ------------------------------------------------------------------ */

static int refuse(char *err, size_t err_len, const char *fmt, ...) KS_PRINTF(3, 4);
static int refuse(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return KS_EREJECT;
}

/* Rounds price and quantity onto the instrument's grid and checks the venue's minimums.
 * Prices round against the strategy (a buy never pays more than asked, a sell never
 * receives less); quantities round down. */
static int shape_intent(ks_engine_t *eng, ks_order_intent_t *in, char *err, size_t err_len)
{
    const ks_inst_rec_t *r = ks_market_inst(&eng->market, in->inst);
    const ks_instrument_t *s = &r->spec;
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];

    if (s->lot_size.mant > 0 &&
        ks_dec_quantize(in->qty, s->lot_size, KS_ROUND_FLOOR, &in->qty) != KS_OK)
        return refuse(err, err_len, "qty out of range");
    if (in->type == KS_ORD_LIMIT && s->tick_size.mant > 0 &&
        ks_dec_quantize(in->price, s->tick_size,
                        in->side == KS_SIDE_BUY ? KS_ROUND_FLOOR : KS_ROUND_CEIL,
                        &in->price) != KS_OK)
        return refuse(err, err_len, "price out of range");
    if (ks_dec_sign(in->qty) <= 0 || ks_dec_cmp(in->qty, s->min_qty) < 0) {
        ks_dec_format(in->qty, a, sizeof(a));
        ks_dec_format(s->min_qty, b, sizeof(b));
        return refuse(err, err_len, "qty %s (after rounding to lot) is below the minimum %s of %s",
                      a, b, r->symbol);
    }
    if (s->max_qty.mant > 0 && ks_dec_cmp(in->qty, s->max_qty) > 0) {
        ks_dec_format(s->max_qty, b, sizeof(b));
        return refuse(err, err_len, "qty above the maximum %s of %s", b, r->symbol);
    }
    ks_dec_t ref = in->price;
    if (in->type == KS_ORD_MARKET) {
        const ks_mkt_t *k = ks_market_state(&eng->market, in->inst);
        ref = in->side == KS_SIDE_BUY ? k->ask_px : k->bid_px;
        if (ref.mant <= 0 && !ks_market_mark(&eng->market, in->inst, &ref))
            return refuse(err, err_len, "no price yet for %s: a market order needs a quote",
                          r->symbol);
    }
    in->ref_price = ref;
    ks_dec_t notional;
    if (s->min_notional.mant > 0 && !in->reduce_only &&
        ks_dec_mul_round(in->qty, ref, 8, KS_ROUND_HALF_EVEN, &notional) == KS_OK &&
        ks_dec_cmp(notional, s->min_notional) < 0) {
        ks_dec_format(notional, a, sizeof(a));
        ks_dec_format(s->min_notional, b, sizeof(b));
        return refuse(err, err_len, "notional %s is below the minimum %s of %s", a, b, r->symbol);
    }
    return KS_OK;
}

/* Runs the risk chain in configured order. */
static int run_risk(ks_engine_t *eng, ks_order_intent_t *in, char *err, size_t err_len)
{
    pf_impl_t pf;
    pf_init(&pf, eng);
    for (int i = 0; i < eng->n_risk; i++) {
        ks_riskmod_t *rm = &eng->risk[i];
        ks_risk_decision_t d;
        KS_INIT(&d);
        d.verdict = KS_RISK_ALLOW;
        rm->ops->check(rm->self, in, &pf.pub, &d);
        if (d.verdict == KS_RISK_ALLOW)
            continue;
        char q[KS_DEC_STRLEN];
        ks_dec_format(d.verdict == KS_RISK_RESIZE ? d.qty : in->qty, q, sizeof(q));
        cJSON *dj = cJSON_CreateObject();
        cJSON_AddStringToObject(dj, "module", rm->name);
        cJSON_AddStringToObject(dj, "verdict", d.verdict == KS_RISK_RESIZE ? "resize" : "reject");
        cJSON_AddStringToObject(dj, "symbol", ks_market_inst(&eng->market, in->inst)->symbol);
        cJSON_AddStringToObject(dj, "qty", q);
        cJSON_AddStringToObject(dj, "reason", d.reason);
        char *text = cJSON_PrintUnformatted(dj);
        cJSON_Delete(dj);
        ks_engine_journal(eng, "risk.decision", in->strategy, text);
        free(text);
        if (d.verdict == KS_RISK_REJECT) {
            ks_log_info("risk", "%s: %s rejected: %s", rm->name, in->strategy, d.reason);
            return refuse(err, err_len, "risk.%s: %s", rm->name, d.reason);
        }
        if (d.verdict == KS_RISK_RESIZE) {
            const ks_instrument_t *s = &ks_market_inst(&eng->market, in->inst)->spec;
            ks_dec_t nq = d.qty;
            if (s->lot_size.mant > 0)
                ks_dec_quantize(nq, s->lot_size, KS_ROUND_FLOOR, &nq);
            if (ks_dec_sign(nq) <= 0 || ks_dec_cmp(nq, in->qty) > 0)
                return refuse(err, err_len, "risk.%s: invalid resize", rm->name);
            if (ks_dec_cmp(nq, s->min_qty) < 0)
                return refuse(err, err_len, "risk.%s: resized below the minimum size: %s", rm->name,
                              d.reason);
            ks_log_info("risk", "%s: %s resized to %s: %s", rm->name, in->strategy, q, d.reason);
            in->qty = nq;
        }
    }
    return KS_OK;
}

static void fill_cmd(const ks_order_t *o, ks_order_cmd_t *cmd)
{
    KS_INIT(cmd);
    cmd->inst = o->inst;
    ks_strlcpy(cmd->cloid, o->rec.cloid, sizeof(cmd->cloid));
    cmd->side = o->rec.side;
    cmd->type = o->rec.type;
    cmd->tif = o->rec.tif;
    cmd->reduce_only = o->rec.reduce_only;
    cmd->price = o->rec.price;
    cmd->qty = o->rec.qty;
}

/* ---- rate limits: a token bucket and a priority queue per venue ------------------------- */

static uint64_t rl_rand(ks_venue_t *v)
{
    uint64_t z = (v->rng += 0x9e3779b97f4a7c15ULL); /* splitmix64: deterministic jitter */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Drops sends older than the window; returns the weight still inside it. */
static uint32_t rlwin_used(ks_rlwin_t *q, int64_t now)
{
    while (q->n && q->t[q->head] <= now - q->window_ns) {
        q->used -= q->w[q->head];
        q->head = (q->head + 1) % q->limit;
        q->n--;
    }
    return q->used;
}

static bool rlwin_fits(ks_rlwin_t *q, int64_t now, uint32_t w)
{
    return !q || !q->limit || rlwin_used(q, now) + w <= q->limit;
}

static void rlwin_record(ks_rlwin_t *q, int64_t now, uint32_t w)
{
    if (!q || !q->limit)
        return;
    uint32_t i = (q->head + q->n) % q->limit;
    q->t[i] = now;
    q->w[i] = w;
    q->n++;
    q->used += w;
}

/* When a request of weight w fits in the window again (now when it fits already). */
static int64_t rlwin_next_slot(ks_rlwin_t *q, int64_t now, uint32_t w)
{
    if (!q || !q->limit)
        return now;
    uint32_t used = rlwin_used(q, now), i = q->head;
    for (uint32_t k = 0; k < q->n && used + w > q->limit; k++) {
        used -= q->w[i];
        if (used + w <= q->limit)
            return q->t[i] + q->window_ns + 1;
        i = (i + 1) % q->limit;
    }
    return now;
}

static int rlwin_init(ks_rlwin_t *q, const char *name, const ks_rl_cfg_t *c)
{
    ks_strlcpy(q->name, name, sizeof(q->name));
    if (c->requests <= 0)
        return KS_OK;
    q->limit = (uint32_t)c->requests;
    q->window_ns = c->window_ms * 1000000LL;
    q->t = calloc(q->limit, sizeof(*q->t));
    q->w = calloc(q->limit, sizeof(*q->w));
    return q->t && q->w ? KS_OK : KS_ENOMEM;
}

static void rlwin_free(ks_rlwin_t *q)
{
    free(q->t);
    free(q->w);
}

static uint32_t req_weight(ks_venue_t *v, const ks_vreq_t *r)
{
    int32_t inst = r->kind == KS_REQ_PLACE    ? r->u.place.inst
                   : r->kind == KS_REQ_CANCEL ? r->u.cancel.inst
                                              : r->u.amend.inst;
    uint32_t w =
        v->ops->request_weight ? v->ops->request_weight(v->self, (uint32_t)r->kind, inst) : 1;
    /* a request heavier than a window could never go */
    if (v->rl.limit && w > v->rl.limit)
        w = v->rl.limit;
    if (v->rl_shared && v->rl_shared->limit && w > v->rl_shared->limit)
        w = v->rl_shared->limit;
    return w ? w : 1;
}

/* Hands one request to the plugin; updates the order's state. */
static void rl_send(ks_engine_t *eng, ks_venue_t *v, ks_vreq_t *r)
{
    int rc;
    v->sent++;
    switch (r->kind) {
    case KS_REQ_PLACE: {
        ks_order_t *o = ks_oms_find(&eng->oms, r->u.place.cloid);
        if (!o || o->rec.status != KS_OS_NEW)
            break; /* withdrawn meanwhile */
        ks_oms_sent(&eng->oms, o, ks_loop_now_ns(eng->loop), wall(eng));
        rc = v->ops->place(v->self, &r->u.place);
        if (rc != KS_OK) {
            /* Nothing left: the order is REJECTED through the ordinary update path, so
             * the OMS, the strategy and a leg group waiting on it all learn it. */
            ks_order_update_t u;
            KS_EVENT_INIT(&u, KS_EV_ORDER);
            u.hdr.inst = o->inst;
            ks_strlcpy(u.cloid, o->rec.cloid, sizeof(u.cloid));
            u.status = KS_OS_REJECTED;
            u.reject = KS_REJ_OTHER;
            snprintf(u.reason, sizeof(u.reason), "venue refused to send: %s", ks_strerror(rc));
            enqueue(eng, v->id, &u.hdr);
        }
        break;
    }
    case KS_REQ_CANCEL:
        rc = v->ops->cancel(v->self, &r->u.cancel);
        if (rc != KS_OK)
            ks_log_warn("engine", "cancel of %s not sent: %s", r->u.cancel.cloid, ks_strerror(rc));
        break;
    case KS_REQ_AMEND:
        rc = v->ops->amend(v->self, &r->u.amend);
        if (rc != KS_OK)
            ks_log_warn("engine", "amend of %s not sent: %s", r->u.amend.cloid, ks_strerror(rc));
        break;
    }
    free(r);
}

static void rl_pump(ks_engine_t *eng, ks_venue_t *v);

static void rl_timer_fire(ks_loop_t *loop, void *ud)
{
    ks_venue_t *v = ud;
    v->rl_timer = 0;
    rl_pump(v->host.eng, v);
}

/* The head request a venue would send next at priority p or below, or NULL; *paused
 * when new orders wait for a throttle pause. */
static ks_vreq_t *rl_head(ks_venue_t *v, int64_t now, int *prio)
{
    for (int p = 0; p < KS_PRIO_N; p++) {
        if (!v->q_head[p])
            continue;
        if (p == KS_PRIO_NEW && now < v->pause_new_until_ns)
            return NULL;
        *prio = p;
        return v->q_head[p];
    }
    return NULL;
}

static void rl_dequeue_send(ks_engine_t *eng, ks_venue_t *v, int p, int64_t now)
{
    ks_vreq_t *r = v->q_head[p];
    v->q_head[p] = r->next;
    if (!v->q_head[p])
        v->q_tail[p] = NULL;
    v->n_queued--;
    rlwin_record(&v->rl, now, r->weight);
    rlwin_record(v->rl_shared, now, r->weight);
    rl_send(eng, v, r);
}

/* Arms the venue's timer for when its next request could go. */
static void rl_arm(ks_engine_t *eng, ks_venue_t *v, int64_t now)
{
    if (!v->n_queued || v->rl_timer)
        return;
    int64_t delay = 1000000; /* 1 ms floor */
    int p = 0;
    ks_vreq_t *r = rl_head(v, now, &p);
    if (!r) {
        int64_t d = v->pause_new_until_ns - now; /* only paused new orders wait */
        delay = d > delay ? d : delay;
    } else {
        int64_t at = rlwin_next_slot(&v->rl, now, r->weight);
        int64_t at2 = rlwin_next_slot(v->rl_shared, now, r->weight);
        int64_t d = (at2 > at ? at2 : at) - now;
        delay = d > delay ? d : delay;
    }
    v->rl_timer = ks_loop_timer_start(eng->loop, delay, 0, rl_timer_fire, v);
}

/* Sends what the windows and the pause allow, highest priority first, and arms timers for
 * the rest. Venues sharing a window are pumped together so that priority holds across
 * them: a reduce-only order on one goes before a new order on another, and venues of one
 * priority take turns. */
static void rl_pump(ks_engine_t *eng, ks_venue_t *v)
{
    int64_t now = ks_loop_now_ns(eng->loop);
    ks_venue_t *one[1] = {v};
    ks_venue_t **set = one;
    ks_venue_t *group[64];
    int n = 1;
    if (v->rl_shared) {
        n = 0;
        for (int i = 0; i < eng->n_venues && n < 64; i++)
            if (eng->venues[i].rl_shared == v->rl_shared)
                group[n++] = &eng->venues[i];
        set = group;
    }
    for (;;) {
        /* The best head across the set: lowest priority number, then round robin. */
        ks_venue_t *best = NULL;
        int best_p = KS_PRIO_N;
        for (int k = 0; k < n; k++) {
            ks_venue_t *u = set[(eng->rl_turn + (uint32_t)k) % (uint32_t)n];
            int p = 0;
            ks_vreq_t *r = rl_head(u, now, &p);
            if (r && p < best_p && rlwin_fits(&u->rl, now, r->weight)) {
                best = u;
                best_p = p;
            }
        }
        if (!best)
            break;
        /* A venue whose own window is full does not hold up the others; the shared
         * window holds up everything below the best priority. */
        if (!rlwin_fits(best->rl_shared, now, best->q_head[best_p]->weight))
            break;
        rl_dequeue_send(eng, best, best_p, now);
        eng->rl_turn++;
    }
    for (int k = 0; k < n; k++)
        rl_arm(eng, set[k], now);
}

static int venue_submit(ks_engine_t *eng, ks_venue_t *v, ks_vreq_t *r, int prio)
{
    r->weight = req_weight(v, r);
    r->next = NULL;
    if (v->q_tail[prio])
        v->q_tail[prio]->next = r;
    else
        v->q_head[prio] = r;
    v->q_tail[prio] = r;
    v->n_queued++;
    rl_pump(eng, v);
    return KS_OK;
}

/* Removes a queued (not yet sent) order; true when it was queued. */
static bool venue_withdraw(ks_engine_t *eng, ks_venue_t *v, const char *cloid)
{
    for (int p = 0; p < KS_PRIO_N; p++) {
        ks_vreq_t *prev = NULL;
        for (ks_vreq_t *r = v->q_head[p]; r; prev = r, r = r->next) {
            if (r->kind != KS_REQ_PLACE || strcmp(r->u.place.cloid, cloid) != 0)
                continue;
            if (prev)
                prev->next = r->next;
            else
                v->q_head[p] = r->next;
            if (v->q_tail[p] == r)
                v->q_tail[p] = prev;
            v->n_queued--;
            free(r);
            return true;
        }
    }
    return false;
}

static void rl_free(ks_engine_t *eng, ks_venue_t *v)
{
    rlwin_free(&v->rl);
    if (v->rl_timer)
        ks_loop_timer_stop(eng->loop, v->rl_timer);
    for (int p = 0; p < KS_PRIO_N; p++)
        while (v->q_head[p]) {
            ks_vreq_t *r = v->q_head[p];
            v->q_head[p] = r->next;
            free(r);
        }
}

void ks_engine_ratelimit_feedback(ks_engine_t *eng, struct ks_host *h,
                                  const ks_ratelimit_info_t *info)
{
    ks_venue_t *v = ks_engine_venue(eng, (uint32_t)h->index);
    int64_t now = ks_loop_now_ns(eng->loop);
    if (!v)
        return;
    bool throttled = info->http_status == 429 || info->http_status == 418 || info->venue_code;
    int64_t until = 0;
    if (throttled) {
        /* Exponential backoff with jitter; the level decays after a quiet minute. */
        if (now - v->last_throttle_ns > 60000000000LL)
            v->backoff_level = 0;
        int64_t base = 1000000000LL << (v->backoff_level < 6 ? v->backoff_level : 6);
        if (base > 60000000000LL)
            base = 60000000000LL;
        int64_t jitter = (int64_t)(rl_rand(v) % (uint64_t)(base / 2 + 1));
        until = now + base + jitter;
        if (info->http_status == 418)
            until += 60000000000LL; /* an IP ban: stay away longer */
        if (info->retry_after_ns > 0 && now + info->retry_after_ns > until)
            until = now + info->retry_after_ns;
        v->backoff_level++;
        v->last_throttle_ns = now;
        v->throttles++;
        ks_log_warn(h->component,
                    "rate limited (http %d, code %d): new orders paused %.1f s; "
                    "reduce-only orders and cancels continue",
                    info->http_status, info->venue_code, (double)(until - now) / 1e9);
        ks_engine_journal(eng, "ratelimit.throttled", v->name, NULL);
    } else if (info->remaining == 0 && info->reset_ns > 0) {
        int64_t w = wall(eng);
        if (info->reset_ns > w)
            until = now + (info->reset_ns - w);
    }
    /* Venues that share a window share the budget the venue complained about. */
    for (int i = 0; i < eng->n_venues; i++) {
        ks_venue_t *u = &eng->venues[i];
        if ((u == v || (v->rl_shared && u->rl_shared == v->rl_shared)) &&
            until > u->pause_new_until_ns)
            u->pause_new_until_ns = until;
    }
    rl_pump(eng, v);
}

/* ---- paper trading ---------------------------------------------------------------------- */

static void paper_emit(void *ud, uint32_t venue, const ks_event_t *ev)
{
    enqueue(ud, venue, ev);
}

static bool strat_is_paper(ks_engine_t *eng, int strat)
{
    ks_strat_acct_t *a = ks_oms_account(&eng->oms, strat);
    return a && a->paper;
}

/* Paper strategies earn or pay funding at each settlement the venue announces (its
 * ticker's next funding time moves on), on their own positions at the mark. */
static void paper_funding(ks_engine_t *eng, const ks_ticker_t *t)
{
    int32_t inst = t->hdr.inst;
    if (!(t->fields & KS_TK_NEXT_FUNDING) || !(t->fields & KS_TK_FUNDING_RATE))
        return;
    if (inst >= eng->n_paper_fund) {
        int32_t n = eng->market.n + 16;
        int64_t *nn = realloc(eng->paper_fund_next, (size_t)n * sizeof(*nn));
        if (!nn)
            return;
        eng->paper_fund_next = nn;
        ks_dec_t *nr = realloc(eng->paper_fund_rate, (size_t)n * sizeof(*nr));
        if (!nr)
            return;
        eng->paper_fund_rate = nr;
        for (int32_t i = eng->n_paper_fund; i < n; i++) {
            eng->paper_fund_next[i] = 0;
            eng->paper_fund_rate[i] = KS_DEC_ZERO;
        }
        eng->n_paper_fund = n;
    }
    int64_t prev = eng->paper_fund_next[inst];
    if (prev && t->next_funding_ts > prev) {
        ks_dec_t mark;
        ks_venue_t *v = ks_engine_venue(eng, t->hdr.venue);
        if (ks_market_mark(&eng->market, inst, &mark))
            for (int s = 0; s < eng->n_strats; s++)
                if (strat_is_paper(eng, s))
                    ks_oms_paper_funding(&eng->oms, s, inst, eng->paper_fund_rate[inst], mark, prev,
                                         v ? v->name : "", wall(eng));
    }
    eng->paper_fund_next[inst] = t->next_funding_ts;
    eng->paper_fund_rate[inst] = t->funding_rate;
}

/* Creates (write-ahead) and sends one order. */
static int place(ks_engine_t *eng, int strat, ks_order_intent_t *in, bool closing, char *cloid,
                 char *err, size_t err_len)
{
    const ks_inst_rec_t *ir = ks_market_inst(&eng->market, in->inst);
    ks_venue_t *v = ks_engine_venue(eng, ir->venue);
    ks_order_t *o;
    int rc;

    if (!v || !v->open)
        return refuse(err, err_len, "venue is not open");
    rc = ks_oms_create(&eng->oms, strat, v->id, v->name, in->inst, in, wall(eng), &o);
    if (rc != KS_OK)
        return refuse(err, err_len, "cannot record the order: %s", ks_strerror(rc));
    if (cloid)
        ks_strlcpy(cloid, o->rec.cloid, KS_CLOID_LEN);
    if (strat_is_paper(eng, strat)) {
        /* paper mode: the host's matcher fills it against the venue's quotes */
        ks_order_cmd_t cmd;
        fill_cmd(o, &cmd);
        o->paper = true;
        ks_oms_sent(&eng->oms, o, ks_loop_now_ns(eng->loop), wall(eng));
        rc = ks_paper_place(eng->paper, v->id, &cmd,
                            ks_oms_position(&eng->oms, strat, in->inst)->qty, wall(eng));
        if (rc != KS_OK) {
            ks_oms_send_failed(&eng->oms, o, KS_REJ_OTHER, "paper matcher refused it", wall(eng));
            return refuse(err, err_len, "paper matcher refused it: %s", ks_strerror(rc));
        }
        return KS_OK;
    }
    ks_vreq_t *r = calloc(1, sizeof(*r));
    if (!r) {
        ks_oms_send_failed(&eng->oms, o, KS_REJ_OTHER, "out of memory", wall(eng));
        return refuse(err, err_len, "out of memory");
    }
    r->kind = KS_REQ_PLACE;
    fill_cmd(o, &r->u.place);
    rc = venue_submit(eng, v, r, in->reduce_only || closing ? KS_PRIO_REDUCE : KS_PRIO_NEW);
    if (rc != KS_OK)
        return refuse(err, err_len, "%s", o->rec.reason);
    return KS_OK;
}

int ks_engine_check(ks_engine_t *eng, int strat, ks_order_intent_t *in, char *err, size_t err_len)
{
    int rc;
    if (!ks_market_inst(&eng->market, in->inst))
        return refuse(err, err_len, "unknown instrument");
    if (eng->blocked && !in->reduce_only)
        return refuse(err, err_len, "new entries are blocked (kill switch or risk)");
    if ((rc = shape_intent(eng, in, err, err_len)) != KS_OK)
        return rc;
    return run_risk(eng, in, err, err_len);
}

int ks_engine_send(ks_engine_t *eng, int strat, ks_order_intent_t *in, unsigned flags, char *cloid,
                   char *err, size_t err_len)
{
    int rc;
    if (!ks_market_inst(&eng->market, in->inst))
        return refuse(err, err_len, "unknown instrument");
    if ((rc = shape_intent(eng, in, err, err_len)) != KS_OK)
        return rc;
    if ((flags & KS_SEND_RISK) && (rc = run_risk(eng, in, err, err_len)) != KS_OK)
        return rc;
    return place(eng, strat, in, (flags & KS_SEND_CLOSING) != 0, cloid, err, err_len);
}

ks_legs_t *ks_engine_legs(ks_engine_t *eng)
{
    return eng->legs;
}

static void push_hedge_cb(lua_State *L, void *ud)
{
    ks_lua_api_push_hedge(L, ud);
}

void ks_engine_hedge_changed(ks_engine_t *eng, ks_hedge_t *h)
{
    if (h->strat >= 0 && h->strat < eng->n_strats && ks_strategy_enabled(eng->strats[h->strat]))
        ks_strategy_call(eng->strats[h->strat], "on_hedge", push_hedge_cb, h);
}

int ks_engine_submit(ks_engine_t *eng, int strat, const ks_order_intent_t *intent, char *cloid,
                     char *err, size_t err_len)
{
    ks_order_intent_t in = *intent;
    int rc;
    if (!ks_market_inst(&eng->market, in.inst))
        return refuse(err, err_len, "unknown instrument");
    if (eng->blocked && !in.reduce_only)
        return refuse(err, err_len, "new entries are blocked (kill switch or risk)");
    if ((rc = shape_intent(eng, &in, err, err_len)) != KS_OK)
        return rc;
    if ((rc = run_risk(eng, &in, err, err_len)) != KS_OK)
        return rc;
    return place(eng, strat, &in, false, cloid, err, err_len);
}

int ks_engine_cancel(ks_engine_t *eng, int strat, const char *cloid, char *err, size_t err_len)
{
    ks_order_t *o = ks_engine_order(eng, cloid);
    if (!o || (strat != -2 && o->strat != strat))
        return refuse(err, err_len, "no such order %s", cloid);
    if (ks_order_status_is_final(o->rec.status))
        return refuse(err, err_len, "order %s is already %s", cloid,
                      ks_order_status_name(o->rec.status));
    if (o->paper) {
        if (ks_paper_cancel(eng->paper, o->rec.cloid, wall(eng)) != KS_OK)
            return refuse(err, err_len, "paper order %s is not resting", cloid);
        return KS_OK;
    }
    ks_venue_t *v = ks_engine_venue(eng, o->venue);
    if (!v || !v->open)
        return refuse(err, err_len, "venue is not open");
    /* Still waiting for rate-limit tokens: it never left, so it is simply withdrawn. */
    if (o->rec.status == KS_OS_NEW && venue_withdraw(eng, v, o->rec.cloid)) {
        ks_order_update_t u;
        KS_EVENT_INIT(&u, KS_EV_ORDER);
        u.hdr.inst = o->inst;
        ks_strlcpy(u.cloid, o->rec.cloid, sizeof(u.cloid));
        u.status = KS_OS_CANCELED;
        ks_strlcpy(u.reason, "cancelled before it was sent (rate limit queue)", sizeof(u.reason));
        enqueue(eng, v->id, &u.hdr);
        return KS_OK;
    }
    ks_vreq_t *r = calloc(1, sizeof(*r));
    if (!r)
        return refuse(err, err_len, "out of memory");
    r->kind = KS_REQ_CANCEL;
    KS_INIT(&r->u.cancel);
    r->u.cancel.inst = o->inst;
    ks_strlcpy(r->u.cancel.cloid, o->rec.cloid, sizeof(r->u.cancel.cloid));
    ks_strlcpy(r->u.cancel.venue_id, o->rec.venue_id, sizeof(r->u.cancel.venue_id));
    int rc = venue_submit(eng, v, r, KS_PRIO_CANCEL);
    if (rc != KS_OK)
        return refuse(err, err_len, "cancel not sent: %s", ks_strerror(rc));
    return KS_OK;
}

int ks_engine_amend(ks_engine_t *eng, int strat, const char *cloid, ks_dec_t price, ks_dec_t qty,
                    char *err, size_t err_len)
{
    ks_order_t *o = ks_engine_order(eng, cloid);
    if (!o || (strat != -2 && o->strat != strat))
        return refuse(err, err_len, "no such order %s", cloid);
    if (ks_order_status_is_final(o->rec.status))
        return refuse(err, err_len, "order %s is already %s", cloid,
                      ks_order_status_name(o->rec.status));
    if (o->paper)
        return refuse(err, err_len, "amending is not supported in paper mode; cancel and replace");
    ks_venue_t *v = ks_engine_venue(eng, o->venue);
    if (!v || !v->open || !v->ops->amend || !(v->ops->caps & KS_XCAP_AMEND))
        return refuse(err, err_len, "venue %s does not support amending orders", v ? v->name : "?");
    const ks_instrument_t *s = &ks_market_inst(&eng->market, o->inst)->spec;
    ks_amend_cmd_t c;
    KS_INIT(&c);
    c.inst = o->inst;
    ks_strlcpy(c.cloid, o->rec.cloid, sizeof(c.cloid));
    ks_strlcpy(c.venue_id, o->rec.venue_id, sizeof(c.venue_id));
    if (price.mant > 0 && s->tick_size.mant > 0)
        ks_dec_quantize(price, s->tick_size,
                        o->rec.side == KS_SIDE_BUY ? KS_ROUND_FLOOR : KS_ROUND_CEIL, &c.price);
    if (qty.mant > 0 && s->lot_size.mant > 0)
        ks_dec_quantize(qty, s->lot_size, KS_ROUND_FLOOR, &c.qty);
    if (qty.mant > 0 && ks_dec_cmp(c.qty, s->min_qty) < 0)
        return refuse(err, err_len, "amended qty is below the minimum of %s",
                      ks_market_inst(&eng->market, o->inst)->symbol);
    ks_vreq_t *r = calloc(1, sizeof(*r));
    if (!r)
        return refuse(err, err_len, "out of memory");
    r->kind = KS_REQ_AMEND;
    r->u.amend = c;
    int rc = venue_submit(eng, v, r, KS_PRIO_CANCEL);
    if (rc != KS_OK)
        return refuse(err, err_len, "amend not sent: %s", ks_strerror(rc));
    return KS_OK;
}

int ks_engine_transfer(ks_engine_t *eng, int strat, uint32_t venue, const char *asset,
                       ks_dec_t amount, int from, int to, uint64_t *id, char *err, size_t err_len)
{
    ks_venue_t *v = ks_engine_venue(eng, venue);
    if (!v || !v->open)
        return refuse(err, err_len, "venue is not open");
    if (!v->ops->transfer || !(v->ops->caps & KS_XCAP_TRANSFER))
        return refuse(err, err_len, "venue %s has no separate wallets to transfer between",
                      v->name);
    if (ks_dec_sign(amount) <= 0)
        return refuse(err, err_len, "transfer amount must be positive");
    if (eng->n_xfers == (int)(sizeof(eng->xfers) / sizeof(eng->xfers[0])))
        return refuse(err, err_len, "too many transfers in flight");
    ks_transfer_cmd_t c;
    KS_INIT(&c);
    c.req_id = ++eng->next_req;
    ks_strlcpy(c.asset, asset, sizeof(c.asset));
    c.amount = amount;
    c.from = (uint8_t)from;
    c.to = (uint8_t)to;
    eng->xfers[eng->n_xfers++] = (pending_xfer_t){c.req_id, strat};
    int rc = v->ops->transfer(v->self, &c);
    if (rc != KS_OK) {
        eng->n_xfers--;
        return refuse(err, err_len, "transfer not sent: %s", ks_strerror(rc));
    }
    *id = c.req_id;
    return KS_OK;
}

typedef struct cancel_ctx {
    ks_engine_t *eng;
    int32_t inst;
    int n;
} cancel_ctx_t;

static void cancel_one(void *ud, ks_order_t *o)
{
    cancel_ctx_t *c = ud;
    char err[KS_REASON_LEN];
    if (c->inst >= 0 && o->inst != c->inst)
        return;
    if (ks_engine_cancel(c->eng, -2, o->rec.cloid, err, sizeof(err)) == KS_OK)
        c->n++;
}

static int cancel_scope(ks_engine_t *eng, int strat, int32_t inst, const char *reason)
{
    cancel_ctx_t c = {eng, inst, 0};
    ks_oms_foreach_open(&eng->oms, strat, cancel_one, &c);
    if (c.n)
        ks_log_info("engine", "cancelled %d open order(s)%s%s", c.n, reason ? ": " : "",
                    reason ? reason : "");
    return c.n;
}

int ks_engine_cancel_all(ks_engine_t *eng, int strat, const char *reason)
{
    cancel_ctx_t c = {eng, -1, 0};
    ks_oms_foreach_open(&eng->oms, strat, cancel_one, &c);
    if (c.n)
        ks_log_info("engine", "cancelled %d open order(s)%s%s", c.n, reason ? ": " : "",
                    reason ? reason : "");
    return c.n;
}

/* Sends one reduce-only (perps) market IOC order for account s taking qty (signed, as
 * held) off instrument i. Reducing bypasses the entry checks (risk) but still goes through
 * write-ahead. Returns 1 when sent. */
static int close_qty(ks_engine_t *eng, int s, int32_t i, ks_dec_t qty, const char *reason)
{
    const ks_inst_rec_t *r = ks_market_inst(&eng->market, i);
    ks_order_intent_t in;
    char err[KS_REASON_LEN];
    KS_INIT(&in);
    in.strategy = s >= 0 ? ks_strategy_name(eng->strats[s]) : "host";
    in.inst = i;
    in.side = ks_dec_sign(qty) > 0 ? KS_SIDE_SELL : KS_SIDE_BUY;
    in.type = KS_ORD_MARKET;
    in.tif = KS_TIF_IOC;
    in.reduce_only = r->spec.kind == KS_KIND_PERP;
    in.qty = ks_dec_abs(qty);
    if (ks_dec_is_zero(in.qty))
        return 0;
    if (ks_engine_send(eng, s, &in, KS_SEND_CLOSING, NULL, err, sizeof(err)) == KS_OK)
        return 1;
    ks_log_error("engine", "reducing %s failed: %s", r->symbol, err);
    return 0;
}

/* Reduces positions in scope (strat -2: every account incl. the host's; inst -1: every
 * instrument) by fraction (1: close) with reduce-only market orders. */
static int reduce_scope(ks_engine_t *eng, int strat, int32_t inst, ks_dec_t fraction,
                        const char *reason)
{
    int sent = 0;
    bool all = ks_dec_cmp(fraction, KS_DEC(1, 0)) >= 0;
    for (int s = (strat == -2 ? -1 : strat); s < (strat == -2 ? eng->n_strats : strat + 1); s++) {
        for (int32_t i = 0; i < eng->market.n; i++) {
            if (inst >= 0 && i != inst)
                continue;
            ks_dec_t q = ks_oms_position(&eng->oms, s, i)->qty;
            if (ks_dec_is_zero(q) ||
                (!all && ks_dec_mul_round(q, fraction, 12, KS_ROUND_TRUNC, &q) != KS_OK))
                continue;
            sent += close_qty(eng, s, i, q, reason);
        }
    }
    if (sent)
        ks_log_warn("engine", "%s: %d reduce-only market order(s) sent%s%s",
                    all ? "flattening" : "reducing", sent, reason ? ": " : "",
                    reason ? reason : "");
    return sent;
}

int ks_engine_flatten(ks_engine_t *eng, int strat, const char *reason)
{
    return reduce_scope(eng, strat, -1, KS_DEC(1, 0), reason);
}

static void push_notice(lua_State *L, void *ud)
{
    ks_lua_api_push_notice(L, ud);
}

int ks_engine_action(ks_engine_t *eng, struct ks_host *h, const ks_action_t *act)
{
    const char *reason = act->reason ? act->reason : "";
    int strat = act->strategy ? strat_index(eng, act->strategy) : -2;
    int32_t inst = KS_HAS_FIELD(act, ks_action_t, inst) ? act->inst : -1;
    static const char *const names[] = {"?",      "block_new",   "unblock", "cancel_all",
                                        "reduce", "flatten_all", "kill",    "notify"};
    const char *aname = act->kind <= KS_ACT_NOTIFY ? names[act->kind] : "?";
    if (act->strategy && strat < 0) {
        ks_log_error(h->component, "action %s for unknown strategy %s ignored", aname,
                     act->strategy);
        return KS_ENOENT;
    }
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "action", aname);
    cJSON_AddStringToObject(d, "reason", reason);
    if (act->strategy)
        cJSON_AddStringToObject(d, "strategy", act->strategy);
    if (inst >= 0 && ks_market_inst(&eng->market, inst))
        cJSON_AddStringToObject(d, "symbol", ks_market_inst(&eng->market, inst)->symbol);
    char *dj = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    ks_engine_journal(eng, "risk.action", h->name, dj);
    free(dj);
    ks_log_warn(h->component, "action %s%s%s: %s", aname, inst >= 0 ? " on " : "",
                inst >= 0 && ks_market_inst(&eng->market, inst)
                    ? ks_market_inst(&eng->market, inst)->symbol
                    : "",
                reason);
    switch ((ks_action_kind_t)act->kind) {
    case KS_ACT_BLOCK_NEW:
        eng->blocked = true;
        return KS_OK;
    case KS_ACT_UNBLOCK:
        eng->blocked = false;
        return KS_OK;
    case KS_ACT_CANCEL_ALL:
        cancel_scope(eng, strat, inst, reason);
        return KS_OK;
    case KS_ACT_REDUCE: {
        ks_dec_t f = act->fraction;
        if (ks_dec_sign(f) <= 0 || ks_dec_cmp(f, KS_DEC(1, 0)) > 0)
            f = KS_DEC(1, 0);
        reduce_scope(eng, strat, inst, f, reason);
        return KS_OK;
    }
    case KS_ACT_FLATTEN_ALL:
        cancel_scope(eng, strat, inst, reason);
        reduce_scope(eng, strat, inst, KS_DEC(1, 0), reason);
        return KS_OK;
    case KS_ACT_KILL:
        ks_engine_kill(eng, reason);
        return KS_OK;
    case KS_ACT_NOTIFY:
        for (int i = 0; i < eng->n_strats; i++) {
            if ((strat >= 0 && i != strat) || !ks_strategy_enabled(eng->strats[i]))
                continue;
            ks_risk_notice_t n = {h->name, reason,
                                  act->inst >= 0 && ks_market_inst(&eng->market, act->inst)
                                      ? ks_market_inst(&eng->market, act->inst)->symbol
                                      : NULL};
            ks_strategy_call(eng->strats[i], "on_risk", push_notice, &n);
        }
        return KS_OK;
    }
    return KS_EINVAL;
}

/* The watchdog, every second:
 *  - an order SENT without any answer for ACK_TIMEOUT becomes UNKNOWN and the venue is
 *    asked about it by client id; it is never resent blindly;
 *  - an UNKNOWN order whose question went unanswered (the request or its reply was lost)
 *    is asked again, 5 s doubling to 60 s apart; a market/IOC/FOK order acknowledged but
 *    still not final after ACK_TIMEOUT is asked about the same way (its final update was
 *    lost);
 *  - the venue answering that it never saw the order closes it REJECTED ("never reached
 *    the venue"), through the ordinary update path;
 *  - a finished order whose fills still fall short of what the venue reported filled,
 *    FILL_GRACE after it finished, gets the difference booked as one fill at the order's
 *    average price (the fills were lost); a real fill arriving later is not booked twice
 *    (ks_oms_on_fill). */
typedef struct wd_ctx {
    ks_engine_t *eng;
    int64_t now;
} wd_ctx_t;

static struct wd_query *wd_find(ks_engine_t *eng, const ks_order_t *o)
{
    for (int i = 0; i < eng->n_wdq; i++)
        if (eng->wdq[i].o == o)
            return &eng->wdq[i];
    return NULL;
}

/* Asks the venue about o by client id (again). */
static void wd_query(ks_engine_t *eng, ks_order_t *o, int64_t now)
{
    ks_venue_t *v = ks_engine_venue(eng, o->venue);
    struct wd_query *q = wd_find(eng, o);
    if (!v || !v->open)
        return;
    if (!q) {
        if (eng->n_wdq == eng->cap_wdq) {
            int nc = eng->cap_wdq ? eng->cap_wdq * 2 : 16;
            struct wd_query *nq = realloc(eng->wdq, (size_t)nc * sizeof(*nq));
            if (!nq)
                return;
            eng->wdq = nq;
            eng->cap_wdq = nc;
        }
        q = &eng->wdq[eng->n_wdq++];
        q->o = o;
        q->tries = 0;
    } else {
        q->tries++;
        ks_log_warn("engine", "order %s (%s): no answer from %s yet; asking again", o->rec.cloid,
                    ks_order_status_name(o->rec.status), v->name);
    }
    q->req = ++eng->next_req;
    q->asked_ns = now;
    /* A fetch that could not start is simply asked again later. */
    v->ops->fetch(v->self, KS_FETCH_ORDER, o->inst, o->rec.cloid, q->req);
}

static void wd_forget(ks_engine_t *eng, int i)
{
    eng->wdq[i] = eng->wdq[--eng->n_wdq];
}

/* A KS_FETCH_ORDER reply: true when it answered one of the watchdog's questions. */
static bool wd_answered(ks_engine_t *eng, const ks_sync_done_t *sd)
{
    for (int i = 0; i < eng->n_wdq; i++) {
        struct wd_query *q = &eng->wdq[i];
        if (q->req != sd->req_id)
            continue;
        ks_order_t *o = q->o;
        if (sd->rc == KS_ENOENT && !ks_order_status_is_final(o->rec.status)) {
            ks_order_update_t u;
            KS_EVENT_INIT(&u, KS_EV_ORDER);
            u.hdr.inst = o->inst;
            ks_strlcpy(u.cloid, o->rec.cloid, sizeof(u.cloid));
            u.filled = o->rec.filled;
            u.avg_price = o->rec.avg_price;
            u.fee = o->rec.fee;
            if (o->rec.status == KS_OS_ACKED || o->rec.status == KS_OS_PARTIAL) {
                /* The venue took it and no longer lists it: an immediate order that ended
                 * without a final update reaching us. Fills that still arrive count. */
                u.status = KS_OS_EXPIRED;
                ks_strlcpy(u.reason, "acknowledged, then no longer known to the venue",
                           sizeof(u.reason));
                ks_log_warn("engine",
                            "order %s: acknowledged but no longer known to the venue; "
                            "closed as expired",
                            o->rec.cloid);
            } else {
                u.status = KS_OS_REJECTED;
                u.reject = KS_REJ_UNKNOWN_ORDER;
                ks_strlcpy(u.reason, "never reached the venue (the venue does not know it)",
                           sizeof(u.reason));
                ks_log_warn("engine", "order %s: the venue never received it; closed as rejected",
                            o->rec.cloid);
            }
            enqueue(eng, sd->hdr.venue, &u.hdr);
            wd_forget(eng, i);
        } else if (ks_order_status_is_final(o->rec.status)) {
            wd_forget(eng, i); /* its final state came before this reply */
        } else if (sd->rc == KS_OK) {
            /* Answered, still open (a resting order): kept, so that an immediate order the
             * venue still shows open is asked again only with backoff. */
        } else {
            ks_log_warn("engine", "order query for %s failed: %s; asking again later", o->rec.cloid,
                        sd->detail[0] ? sd->detail : ks_strerror(sd->rc));
        }
        return true;
    }
    return false;
}

static void fill_wait_add(ks_engine_t *eng, ks_order_t *o)
{
    for (int i = 0; i < eng->n_fw; i++)
        if (eng->fw[i].o == o)
            return;
    if (eng->n_fw == eng->cap_fw) {
        int nc = eng->cap_fw ? eng->cap_fw * 2 : 16;
        struct fill_wait *nf = realloc(eng->fw, (size_t)nc * sizeof(*nf));
        if (!nf)
            return;
        eng->fw = nf;
        eng->cap_fw = nc;
    }
    eng->fw[eng->n_fw++] = (struct fill_wait){o, ks_loop_now_ns(eng->loop)};
}

/* Books the fills a finished order is missing (see ks_oms_book_missing_fill). */
static void book_missing_fills(ks_engine_t *eng, ks_order_t *o)
{
    ks_venue_t *v = ks_engine_venue(eng, o->venue);
    char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN], detail[300];
    ks_fill_t f;
    ks_dec_format(o->rec.filled, a, sizeof(a));
    ks_dec_format(o->fill_qty, b, sizeof(b));
    if (!ks_oms_book_missing_fill(&eng->oms, o, v ? v->name : "", wall(eng), &f))
        return;
    ks_log_warn("engine",
                "order %s is %s with %s filled but fills for only %s arrived: the "
                "difference is booked at the average price",
                o->rec.cloid, ks_order_status_name(o->rec.status), a, b);
    snprintf(detail, sizeof(detail), "{\"cloid\":\"%s\",\"filled\":\"%s\",\"fills\":\"%s\"}",
             o->rec.cloid, a, b);
    ks_engine_journal(eng, "order.missing_fill", o->rec.strategy[0] ? o->rec.strategy : "host",
                      detail);
    fill_applied(eng, o, &f);
}

static void watchdog_one(void *ud, ks_order_t *o)
{
    wd_ctx_t *w = ud;
    ks_engine_t *eng = w->eng;
    int st = o->rec.status;
    if (st == KS_OS_SENT) {
        if (w->now - o->sent_ns < ACK_TIMEOUT_NS)
            return;
        ks_oms_mark_unknown(&eng->oms, o, "no acknowledgement in time", wall(eng));
        ks_log_warn("engine", "order %s unacknowledged: UNKNOWN until the venue answers",
                    o->rec.cloid);
        wd_query(eng, o, w->now);
        return;
    }
    bool immediate =
        o->rec.type == KS_ORD_MARKET || o->rec.tif == KS_TIF_IOC || o->rec.tif == KS_TIF_FOK;
    bool stuck = (st == KS_OS_ACKED || st == KS_OS_PARTIAL) && immediate && o->sent_ns &&
                 w->now - o->sent_ns >= ACK_TIMEOUT_NS;
    if (st != KS_OS_UNKNOWN && !stuck)
        return;
    struct wd_query *q = wd_find(eng, o);
    if (q) {
        int64_t wait = QUERY_RETRY_NS << (q->tries < 4 ? q->tries : 4);
        if (w->now - q->asked_ns < (wait < QUERY_RETRY_MAX_NS ? wait : QUERY_RETRY_MAX_NS))
            return;
    } else if (stuck) {
        ks_log_warn("engine", "%s order %s still %s: asking the venue",
                    ks_ord_type_name(o->rec.type), o->rec.cloid, ks_order_status_name(st));
    }
    wd_query(eng, o, w->now);
}

static void watchdog(ks_loop_t *loop, void *ud)
{
    ks_engine_t *eng = ud;
    wd_ctx_t w = {eng, ks_loop_now_ns(loop)};
    for (int i = 0; i < eng->n_wdq;) {
        if (ks_order_status_is_final(eng->wdq[i].o->rec.status))
            wd_forget(eng, i);
        else
            i++;
    }
    ks_oms_foreach_open(&eng->oms, -2, watchdog_one, &w);
    for (int i = 0; i < eng->n_fw;) {
        struct fill_wait *fw = &eng->fw[i];
        if (w.now - fw->since_ns < FILL_GRACE_NS) {
            i++;
            continue;
        }
        ks_order_t *o = fw->o;
        eng->fw[i] = eng->fw[--eng->n_fw];
        book_missing_fills(eng, o);
    }
    /* Orders finished long ago leave memory (the store keeps them; a late fill loads
     * them back). The watchdog lists above hold only recent ones. */
    ks_oms_retire(&eng->oms, wall(eng) - ORDER_RETAIN_NS);
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void flush_hook(ks_loop_t *loop, void *ud)
{
    ks_engine_t *eng = ud;
    if (!eng->store)
        return;
    if (eng->backtest && ++eng->iterations_since_flush < BACKTEST_FLUSH_EVERY)
        return;
    eng->iterations_since_flush = 0;
    ks_store_flush(eng->store);
}

static int take_lock(ks_engine_t *eng, char *err, size_t err_len)
{
    char path[1100];
    snprintf(path, sizeof(path), "%s/kestrel.lock", eng->state_dir);
    eng->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (eng->lock_fd < 0) {
        snprintf(err, err_len, "%s: cannot open lock file: %s", path, strerror(errno));
        return -1;
    }
    if (flock(eng->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, err_len,
                 "%s: another kestrel process is using this state directory (lock held)",
                 eng->state_dir);
        close(eng->lock_fd);
        eng->lock_fd = -1;
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(eng->lock_fd, 0) == 0 && write(eng->lock_fd, pid, (size_t)n) < 0) {
        /* the pid is informational only */
    }
    return 0;
}

/* backtest --data: the sim venues get {"replay": {"paths": [...]}} merged into their
 * config. Returns a malloc'ed JSON text, or NULL to use the config as it is. */
static char *venue_config_with_data(ks_engine_t *eng, const ks_venue_cfg_t *vc)
{
    if (!eng->n_data || strcmp(vc->plugin, "sim") != 0)
        return NULL;
    cJSON *root = cJSON_Parse(vc->config_json ? vc->config_json : "{}");
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return NULL;
    }
    /* Keep the replay options of the config (synthetic_spot, start, end, symbols...);
     * --data replaces only the paths. */
    cJSON *rep = cJSON_GetObjectItemCaseSensitive(root, "replay");
    if (!cJSON_IsObject(rep)) {
        cJSON_DeleteItemFromObject(root, "replay");
        rep = cJSON_AddObjectToObject(root, "replay");
    }
    cJSON_DeleteItemFromObject(rep, "paths");
    cJSON *paths = cJSON_AddArrayToObject(rep, "paths");
    for (int i = 0; i < eng->n_data; i++) {
        char real[PATH_MAX];
        cJSON_AddItemToArray(
            paths,
            cJSON_CreateString(realpath(eng->data_paths[i], real) ? real : eng->data_paths[i]));
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static int open_venues(ks_engine_t *eng, char *err, size_t err_len)
{
    const ks_config_t *cfg = eng->cfg;
    const char *defaults[4];
    int nd = ks_plugin_default_dirs(defaults, 4);
    const char *dirs[32];
    int n_dirs = 0;
    for (int i = 0; i < cfg->n_plugin_path && n_dirs < 28; i++)
        dirs[n_dirs++] = cfg->plugin_path[i];
    for (int i = 0; i < nd && n_dirs < 32; i++)
        dirs[n_dirs++] = defaults[i];

    eng->venues = calloc((size_t)(cfg->n_venues ? cfg->n_venues : 1), sizeof(ks_venue_t));
    eng->risk = calloc((size_t)(cfg->n_risk ? cfg->n_risk : 1), sizeof(ks_riskmod_t));
    eng->rl_groups =
        calloc((size_t)(cfg->n_rl_groups ? cfg->n_rl_groups : 1), sizeof(*eng->rl_groups));
    if (!eng->venues || !eng->risk || !eng->rl_groups) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    for (int g = 0; g < cfg->n_rl_groups; g++) {
        eng->n_rl_groups = g + 1;
        if (rlwin_init(&eng->rl_groups[g], cfg->rl_groups[g].name, &cfg->rl_groups[g].rl) !=
            KS_OK) {
            snprintf(err, err_len, "out of memory");
            return -1;
        }
    }
    for (int i = 0; i < cfg->n_venues; i++) {
        const ks_venue_cfg_t *vc = &cfg->venues[i];
        ks_venue_t *v = &eng->venues[i];
        char perr[512];
        v->id = (uint32_t)i;
        ks_strlcpy(v->name, vc->name, sizeof(v->name));
        eng->n_venues = i + 1;
        v->plugin = ks_plugin_set_load(eng->plugins, vc->plugin, dirs, n_dirs, perr, sizeof(perr));
        if (!v->plugin) {
            snprintf(err, err_len, "venues.%s.plugin: %s", vc->name, perr);
            return -1;
        }
        if (v->plugin->desc->kind != KS_PLUGIN_EXCHANGE) {
            snprintf(err, err_len, "venues.%s.plugin: %s is not an exchange plugin", vc->name,
                     v->plugin->path);
            return -1;
        }
        v->ops = v->plugin->desc->ops;
        ks_host_init(&v->host, eng, KS_PLUGIN_EXCHANGE, i, vc->name);
        if (rlwin_init(&v->rl, vc->name, &vc->rl) != KS_OK) {
            snprintf(err, err_len, "out of memory");
            return -1;
        }
        for (int g = 0; vc->rl_shared && g < cfg->n_rl_groups; g++)
            if (strcmp(cfg->rl_groups[g].name, vc->rl_shared) == 0)
                v->rl_shared = &eng->rl_groups[g];
        v->rng = 0x5eed0000u + (uint64_t)i;
        char *vcfg = venue_config_with_data(eng, vc);
        int orc = v->ops->open(ks_hostapi_table(), &v->host, vc->name,
                               vcfg ? vcfg : vc->config_json, &v->self, perr, sizeof(perr));
        free(vcfg);
        if (orc != KS_OK) {
            snprintf(err, err_len, "venues.%s.config: %s", vc->name, perr);
            return -1;
        }
        v->open = true;
    }
    for (int i = 0; i < cfg->n_risk; i++) {
        const ks_risk_cfg_t *rc = &cfg->risk[i];
        ks_riskmod_t *rm = &eng->risk[i];
        char perr[512];
        ks_strlcpy(rm->name, rc->name, sizeof(rm->name));
        eng->n_risk = i + 1;
        rm->plugin = ks_plugin_set_load(eng->plugins, rc->plugin, dirs, n_dirs, perr, sizeof(perr));
        if (!rm->plugin) {
            snprintf(err, err_len, "risk[%d].plugin: %s", i, perr);
            return -1;
        }
        if (rm->plugin->desc->kind != KS_PLUGIN_RISK) {
            snprintf(err, err_len, "risk[%d].plugin: %s is not a risk plugin", i, rm->plugin->path);
            return -1;
        }
        rm->ops = rm->plugin->desc->ops;
        ks_host_init(&rm->host, eng, KS_PLUGIN_RISK, i, rc->name);
        if (rm->ops->open(ks_hostapi_table(), &rm->host, rc->name, rc->config_json, &rm->self, perr,
                          sizeof(perr)) != KS_OK) {
            rm->self = NULL;
            snprintf(err, err_len, "risk[%d].config: %s", i, perr);
            return -1;
        }
    }
    return 0;
}

static int64_t epoch_ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t log_clock(void *ud)
{
    return ks_loop_wall_ns(((ks_engine_t *)ud)->loop);
}

/* ---- live operation: hot reload, config reload, control socket ----------------------- */

static bool same_file(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    if (!realpath(a, ra))
        ks_strlcpy(ra, a, sizeof(ra));
    if (!realpath(b, rb))
        ks_strlcpy(rb, b, sizeof(rb));
    return strcmp(ra, rb) == 0;
}

int ks_engine_reload_strategy(ks_engine_t *eng, int idx, char *err, size_t err_len)
{
    ks_strategy_t *st = ks_engine_strategy(eng, idx);
    if (!st) {
        snprintf(err, err_len, "no such strategy");
        return KS_ENOENT;
    }
    /* Events already queued are delivered after the swap, to the new version: the swap
     * happens between two events, never inside one. */
    return ks_strategy_reload(st, err, err_len);
}

static void on_strategy_file(void *ud, const char *path)
{
    ks_engine_t *eng = ud;
    char err[1024];
    for (int i = 0; i < eng->n_strats; i++)
        if (same_file(ks_strategy_cfg(eng->strats[i])->file, path) &&
            ks_strategy_enabled(eng->strats[i]))
            ks_engine_reload_strategy(eng, i, err, sizeof(err));
}

static void on_lib_file(void *ud, const char *path)
{
    ks_engine_t *eng = ud;
    char err[1024];
    ks_log_info("engine", "%s changed: reloading every enabled strategy", path);
    for (int i = 0; i < eng->n_strats; i++)
        if (ks_strategy_enabled(eng->strats[i]))
            ks_engine_reload_strategy(eng, i, err, sizeof(err));
}

static void on_config_file(void *ud, const char *path)
{
    char err[1024];
    ks_log_info("engine", "%s changed: re-reading the config", path);
    ks_engine_reload_config(ud, err, sizeof(err));
}

static void watch_strategy(ks_engine_t *eng, const ks_strategy_cfg_t *sc)
{
    char dir[PATH_MAX], lib[PATH_MAX + 8];
    if (!eng->watch)
        return;
    ks_watch_file(eng->watch, sc->file, on_strategy_file, eng);
    ks_strlcpy(dir, sc->file, sizeof(dir));
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    snprintf(lib, sizeof(lib), "%s/lib", slash ? dir : ".");
    struct stat sb;
    if (stat(lib, &sb) == 0 && S_ISDIR(sb.st_mode))
        ks_watch_dir(eng->watch, lib, ".lua", on_lib_file, eng);
}

static bool same_plugin_cfg(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Venues and risk modules are fixed for the life of the process. */
static bool same_rl(const ks_rl_cfg_t *a, const ks_rl_cfg_t *b)
{
    return a->requests == b->requests && (!a->requests || a->window_ms == b->window_ms);
}

static bool venues_unchanged(const ks_config_t *a, const ks_config_t *b)
{
    if (a->n_venues != b->n_venues || a->n_risk != b->n_risk)
        return false;
    if (a->n_rl_groups != b->n_rl_groups)
        return false;
    for (int i = 0; i < a->n_rl_groups; i++)
        if (strcmp(a->rl_groups[i].name, b->rl_groups[i].name) ||
            !same_rl(&a->rl_groups[i].rl, &b->rl_groups[i].rl))
            return false;
    for (int i = 0; i < a->n_venues; i++)
        if (strcmp(a->venues[i].name, b->venues[i].name) ||
            strcmp(a->venues[i].plugin, b->venues[i].plugin) ||
            !same_plugin_cfg(a->venues[i].config_json, b->venues[i].config_json) ||
            !same_rl(&a->venues[i].rl, &b->venues[i].rl) ||
            strcmp(a->venues[i].rl_shared ? a->venues[i].rl_shared : "",
                   b->venues[i].rl_shared ? b->venues[i].rl_shared : ""))
            return false;
    for (int i = 0; i < a->n_risk; i++)
        if (strcmp(a->risk[i].name, b->risk[i].name) ||
            strcmp(a->risk[i].plugin, b->risk[i].plugin) ||
            !same_plugin_cfg(a->risk[i].config_json, b->risk[i].config_json))
            return false;
    return true;
}

int ks_engine_reload_config(ks_engine_t *eng, char *err, size_t err_len)
{
    char e[1024];
    const ks_config_t *old = eng->cfg;
    if (!old->path) {
        snprintf(err, err_len, "the config was not read from a file; nothing to re-read");
        return KS_ESTATE;
    }
    ks_config_t *ncfg = ks_config_load(old->path, e, sizeof(e));
    if (!ncfg)
        goto reject;
    if (!venues_unchanged(old, ncfg)) {
        snprintf(e, sizeof(e),
                 "venues, rate limits or risk modules changed: restart the host to apply that");
        goto reject;
    }
    /* Validate everything before changing anything: the new config applies as a whole. */
    int n_new = 0;
    for (int i = 0; i < ncfg->n_strategies; i++) {
        const ks_strategy_cfg_t *nc = &ncfg->strategies[i];
        int idx = strat_index(eng, nc->name);
        if (idx >= 0 && eng->strats[idx] &&
            (ks_strategy_cfg(eng->strats[idx])->mode == KS_MODE_PAPER) !=
                (nc->mode == KS_MODE_PAPER)) {
            ks_acct_totals_t t;
            ks_oms_totals(&eng->oms, idx, &t);
            if (t.open_positions || t.open_orders) {
                snprintf(e, sizeof(e),
                         "strategies.%s.mode: cannot switch between paper and live while it holds "
                         "positions or open orders; flatten it first",
                         nc->name);
                goto reject;
            }
        }
        if (idx >= 0 && eng->strats[idx] &&
            strcmp(ks_strategy_cfg(eng->strats[idx])->file, nc->file) == 0) {
            if (ks_strategy_check_params(eng->strats[idx], nc->params_json, e, sizeof(e)) != KS_OK)
                goto reject;
        } else {
            /* New strategy or new file: it must compile with its params. */
            ks_strategy_t *probe =
                ks_strategy_load(eng, idx >= 0 ? idx : eng->n_strats, nc, e, sizeof(e));
            if (!probe)
                goto reject;
            ks_strategy_free(probe);
            n_new += idx < 0;
        }
    }
    /* Apply. */
    ks_strategy_t **ns = realloc(eng->strats, (size_t)(eng->n_strats + n_new) * sizeof(*ns));
    ks_config_t **no = realloc(eng->owned_cfgs, (size_t)(eng->n_owned + 1) * sizeof(*no));
    if (ns)
        eng->strats = ns;
    if (no)
        eng->owned_cfgs = no;
    if (!ns || !no) {
        snprintf(e, sizeof(e), "out of memory");
        goto reject;
    }
    eng->owned_cfgs[eng->n_owned++] = ncfg;
    eng->cfg = ncfg;
    for (int i = 0; i < ncfg->n_strategies; i++) {
        const ks_strategy_cfg_t *nc = &ncfg->strategies[i];
        int idx = strat_index(eng, nc->name);
        if (idx < 0) {
            ks_dec_t capital = KS_DEC_ZERO;
            if (nc->capital)
                ks_dec_parse(nc->capital, (size_t)-1, &capital);
            idx = ks_oms_add_account(&eng->oms, nc->name, capital);
            if (idx >= 0 && nc->mode == KS_MODE_PAPER) {
                ks_oms_account(&eng->oms, idx)->paper = true;
                eng->any_paper = true;
            }
            ks_strategy_t *st = ks_strategy_load(eng, idx, nc, e, sizeof(e));
            if (!st) {
                ks_log_error("engine", "strategy %s could not be added: %s", nc->name, e);
                continue;
            }
            eng->strats[eng->n_strats++] = st;
            watch_strategy(eng, nc);
            ks_log_info("engine", "strategy %s added", nc->name);
            ks_engine_journal(eng, "strategy.added", nc->name, NULL);
            if (nc->enabled) {
                ks_engine_strategy_enabled(eng, idx);
                if (ks_strategy_start(st) == 0)
                    ks_log_info("engine", "strategy %s started", nc->name);
            }
            continue;
        }
        ks_strategy_t *st = eng->strats[idx];
        const ks_strategy_cfg_t *oc = ks_strategy_cfg(st);
        bool was_enabled = oc->enabled;
        ks_oms_account(&eng->oms, idx)->paper = nc->mode == KS_MODE_PAPER;
        eng->any_paper |= nc->mode == KS_MODE_PAPER;
        bool file_changed = strcmp(oc->file, nc->file) != 0;
        ks_strategy_set_cfg(st, nc);
        if (file_changed) {
            watch_strategy(eng, nc);
            if (ks_strategy_enabled(st))
                ks_strategy_reload(st, e, sizeof(e));
        }
        /* Only a change of `enabled` in the file toggles; ctl overrides stay otherwise. */
        if (nc->enabled != was_enabled) {
            if (nc->enabled)
                ks_strategy_enable(st, e, sizeof(e));
            else
                ks_strategy_disable_graceful(st, "disabled in the config");
        }
    }
    for (int i = 0; i < eng->n_strats; i++)
        if (!ks_config_strategy(ncfg, ks_strategy_name(eng->strats[i])) &&
            ks_strategy_enabled(eng->strats[i]))
            ks_strategy_disable_graceful(eng->strats[i], "removed from the config");
    ks_log_info("engine", "config applied (%s)", ncfg->path);
    ks_engine_journal(eng, "config.applied", "host", NULL);
    if (err_len)
        err[0] = '\0';
    return KS_OK;
reject:
    ks_config_free(ncfg);
    ks_log_error("engine", "new config rejected, the running one stays: %s", e);
    {
        char detail[1200], esc[1100];
        size_t j = 0;
        for (const char *p = e; *p && j + 2 < sizeof(esc); p++) {
            if (*p == '"' || *p == '\\')
                esc[j++] = '\\';
            esc[j++] = *p;
        }
        esc[j] = '\0';
        snprintf(detail, sizeof(detail), "{\"error\":\"%s\"}", esc);
        ks_engine_journal(eng, "config.rejected", "host", detail);
    }
    snprintf(err, err_len, "%s", e);
    return KS_EINVAL;
}

/* ---- ctx.record ---------------------------------------------------------------------- */

typedef struct record_file {
    FILE *f;
    char **cols;
    int n_cols;
} record_file_t;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void csv_value(FILE *f, const cJSON *v)
{
    if (!v || cJSON_IsNull(v))
        return;
    if (cJSON_IsNumber(v)) {
        char buf[40];
        if (v->valuedouble == (double)(int64_t)v->valuedouble && fabs(v->valuedouble) < 1e15) {
            fprintf(f, "%lld", (long long)v->valuedouble);
            return;
        }
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof(buf), "%.*g", prec, v->valuedouble);
            if (strtod(buf, NULL) == v->valuedouble)
                break;
        }
        fputs(buf, f);
    } else if (cJSON_IsBool(v)) {
        fputs(cJSON_IsTrue(v) ? "true" : "false", f);
    } else if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (!strpbrk(s, ",\"\n\r")) {
            fputs(s, f);
            return;
        }
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    }
}

int ks_engine_record(ks_engine_t *eng, int strat, const char *name, const char *row_json, char *err,
                     size_t err_len)
{
    const char *sname = strat >= 0 ? ks_strategy_name(eng->strats[strat]) : "host";
    char key[KS_NAME_LEN * 2 + 2];
    void *v;
    snprintf(key, sizeof(key), "%s.%s", sname, name);
    cJSON *row = cJSON_Parse(row_json);
    if (!cJSON_IsObject(row)) {
        cJSON_Delete(row);
        return refuse(err, err_len, "a record row must be a table of named values");
    }
    record_file_t *rf = NULL;
    if (ks_strmap_get(&eng->records, key, &v)) {
        rf = v;
    } else if (!eng->check_only) {
        char dir[1200], path[1400];
        snprintf(dir, sizeof(dir), "%s/records", eng->state_dir);
        mkdir_p(dir);
        snprintf(path, sizeof(path), "%s/%s.csv", dir, key);
        rf = calloc(1, sizeof(*rf));
        bool fresh = access(path, F_OK) != 0 || eng->backtest;
        if (rf)
            rf->f = fopen(path, eng->backtest ? "w" : "a");
        if (!rf || !rf->f) {
            free(rf);
            cJSON_Delete(row);
            return refuse(err, err_len, "%s: cannot write: %s", path, strerror(errno));
        }
        for (const cJSON *c = row->child; c; c = c->next)
            rf->n_cols++;
        rf->cols = calloc((size_t)(rf->n_cols ? rf->n_cols : 1), sizeof(char *));
        int i = 0;
        for (const cJSON *c = row->child; c; c = c->next)
            rf->cols[i++] = strdup(c->string);
        qsort(rf->cols, (size_t)rf->n_cols, sizeof(char *), cmp_str);
        if (fresh) {
            for (i = 0; i < rf->n_cols; i++)
                fprintf(rf->f, "%s%s", i ? "," : "", rf->cols[i]);
            fputc('\n', rf->f);
        }
        ks_strmap_put(&eng->records, key, rf);
    }
    if (rf) {
        for (int i = 0; i < rf->n_cols; i++) {
            if (i)
                fputc(',', rf->f);
            csv_value(rf->f, cJSON_GetObjectItemCaseSensitive(row, rf->cols[i]));
        }
        fputc('\n', rf->f);
        if (!eng->backtest)
            fflush(rf->f);
    }
    char kind[KS_NAME_LEN + 8];
    snprintf(kind, sizeof(kind), "record.%s", name);
    ks_engine_journal(eng, kind, sname, row_json);
    cJSON_Delete(row);
    return KS_OK;
}

static void records_free(ks_engine_t *eng)
{
    size_t it = 0;
    void *v;
    while (ks_strmap_next(&eng->records, &it, NULL, &v)) {
        record_file_t *rf = v;
        fclose(rf->f);
        for (int i = 0; i < rf->n_cols; i++)
            free(rf->cols[i]);
        free(rf->cols);
        free(rf);
    }
    ks_strmap_free(&eng->records);
}

/* ---- the kill switch -------------------------------------------------------------------- */

/* Flat at the venue (the net of every live account per instrument) and in every paper
 * account (paper positions never offset venue ones). */
static bool everything_flat(ks_engine_t *eng)
{
    if (eng->oms.n_open)
        return false;
    for (int32_t i = 0; i < eng->market.n; i++) {
        if (!ks_dec_is_zero(ks_oms_venue_position(&eng->oms, i)))
            return false;
        for (int s = 0; s < eng->n_strats; s++)
            if (strat_is_paper(eng, s) && !ks_dec_is_zero(ks_oms_position(&eng->oms, s, i)->qty))
                return false;
    }
    return true;
}

/* Flattens everything for the kill switch. Each holder closes its own position, except
 * where live accounts hold one instrument on both sides: the venue holds only their net,
 * and a reduce-only close of one holder can exceed or oppose it and be refused over and
 * over. There the net is closed in one order booked to the host account. */
static int kill_flatten(ks_engine_t *eng, const char *reason)
{
    int sent = 0;
    for (int32_t i = 0; i < eng->market.n; i++) {
        bool longs = false, shorts = false;
        for (int s = -1; s < eng->n_strats; s++) {
            int sign = ks_dec_sign(ks_oms_position(&eng->oms, s, i)->qty);
            if (!sign)
                continue;
            if (strat_is_paper(eng, s))
                sent += reduce_scope(eng, s, i, KS_DEC(1, 0), reason);
            else if (sign > 0)
                longs = true;
            else
                shorts = true;
        }
        if (!(longs && shorts)) {
            for (int s = -1; s < eng->n_strats; s++)
                if (!strat_is_paper(eng, s) &&
                    !ks_dec_is_zero(ks_oms_position(&eng->oms, s, i)->qty))
                    sent += reduce_scope(eng, s, i, KS_DEC(1, 0), reason);
            continue;
        }
        ks_dec_t net = ks_oms_venue_position(&eng->oms, i);
        if (ks_dec_is_zero(net))
            continue;
        ks_log_warn("engine",
                    "%s is held long and short by different strategies: closing the "
                    "net at the venue for the host account",
                    ks_market_inst(&eng->market, i)->symbol);
        sent += close_qty(eng, -1, i, net, reason);
    }
    return sent;
}

static void kill_check(ks_loop_t *loop, void *ud)
{
    ks_engine_t *eng = ud;
    if (everything_flat(eng)) {
        ks_log_error("engine", "kill switch: everything cancelled and flat; exiting");
        ks_engine_journal(eng, "kill.done", "host", NULL);
        if (eng->store)
            ks_store_flush(eng->store);
        eng->exit_code = 3;
        ks_loop_timer_stop(loop, eng->kill_timer);
        eng->kill_timer = 0;
        ks_engine_stop(eng);
        return;
    }
    if (ks_loop_now_ns(loop) >= eng->kill_deadline_ns) {
        ks_log_error("engine", "kill switch: positions or orders remain after the timeout; "
                               "exiting anyway (check the venue by hand)");
        ks_engine_journal(eng, "kill.timeout", "host", NULL);
        if (eng->store)
            ks_store_flush(eng->store);
        eng->exit_code = 4;
        ks_loop_timer_stop(loop, eng->kill_timer);
        eng->kill_timer = 0;
        ks_engine_stop(eng);
        return;
    }
    /* IOC closes can fill partly: when nothing is in flight any more, close the rest. */
    if (!eng->oms.n_open) {
        cancel_scope(eng, -2, -1, eng->kill_reason);
        kill_flatten(eng, eng->kill_reason);
    }
}

void ks_engine_kill(ks_engine_t *eng, const char *reason)
{
    if (eng->killing)
        return;
    eng->killing = true;
    eng->blocked = true;
    ks_strlcpy(eng->kill_reason, reason, sizeof(eng->kill_reason));
    ks_log_error("engine", "KILL SWITCH: %s: blocking entries, cancelling all, flattening all",
                 reason);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "reason", reason);
    char *dj = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    ks_engine_journal(eng, "kill.start", "host", dj);
    free(dj);
    for (int i = 0; i < eng->n_strats; i++)
        if (ks_strategy_enabled(eng->strats[i]))
            ks_strategy_stop(eng->strats[i]); /* on_stop; no new timers */
    cancel_scope(eng, -2, -1, reason);
    kill_flatten(eng, reason);
    if (eng->store)
        ks_store_flush(eng->store);
    int64_t t = eng->cfg->kill_timeout_ms > 0 ? eng->cfg->kill_timeout_ms : 30000;
    eng->kill_deadline_ns = ks_loop_now_ns(eng->loop) + t * 1000000LL;
    eng->kill_timer = ks_loop_timer_start(eng->loop, 0, 100000000LL, kill_check, eng);
}

/* EMERGENCY_STOP=true (or 1/yes) in the environment or in a .env file. */
static bool truthy(const char *v)
{
    return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0);
}

static bool dotenv_says_stop(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[256];
    bool stop = false;
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "export ", 7) == 0)
            p += 7;
        if (strncmp(p, "EMERGENCY_STOP", 14) != 0)
            continue;
        p += 14;
        while (*p == ' ')
            p++;
        if (*p++ != '=')
            continue;
        while (*p == ' ' || *p == '"' || *p == '\'')
            p++;
        char *e = p + strcspn(p, "\"' \t\r\n#");
        *e = '\0';
        stop = truthy(p);
    }
    fclose(f);
    return stop;
}

static const char *emergency_trigger(ks_engine_t *eng)
{
    static char why[1200];
    char path[1100];
    if (truthy(getenv("EMERGENCY_STOP")))
        return "EMERGENCY_STOP is set in the environment";
    if (dotenv_says_stop(".env"))
        return "EMERGENCY_STOP=true in ./.env";
    snprintf(path, sizeof(path), "%s/.env", eng->cfg->base_dir);
    if (dotenv_says_stop(path)) {
        snprintf(why, sizeof(why), "EMERGENCY_STOP=true in %s", path);
        return why;
    }
    if (eng->kill_path[0] && access(eng->kill_path, F_OK) == 0) {
        snprintf(why, sizeof(why), "kill file %s exists", eng->kill_path);
        return why;
    }
    return NULL;
}

/* Once a second: the kill triggers, the venue-silence dead-man, the loop heartbeat. */
static void safety_tick(ks_loop_t *loop, void *ud)
{
    ks_engine_t *eng = ud;
    atomic_fetch_add(&eng->heartbeat, 1);
    if (eng->killing)
        return;
    const char *why = emergency_trigger(eng);
    if (why) {
        ks_engine_kill(eng, why);
        return;
    }
    if (eng->cfg->venue_silence_ms > 0) {
        int64_t now = ks_loop_now_ns(loop);
        for (int i = 0; i < eng->n_venues; i++) {
            int64_t last = eng->venue_last_event_ns[i];
            if (last && now - last > eng->cfg->venue_silence_ms * 1000000LL) {
                char r[KS_REASON_LEN];
                snprintf(r, sizeof(r), "dead-man: no data from venue %s for %lld s",
                         eng->venues[i].name, (long long)((now - last) / 1000000000));
                ks_engine_kill(eng, r);
                return;
            }
        }
    }
}

/* The dead-man thread: when the loop stops making progress (a plugin or strategy hung
 * the process), nothing in this process can trade safely any more. It leaves a kill
 * file, so the next start flattens everything and exits non-zero, and ends the process. */
static void *deadman_main(void *ud)
{
    ks_engine_t *eng = ud;
    uint64_t last = atomic_load(&eng->heartbeat);
    int64_t quiet_ms = 0;
    while (!atomic_load(&eng->deadman_stop)) {
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
        uint64_t now = atomic_load(&eng->heartbeat);
        if (now != last) {
            last = now;
            quiet_ms = 0;
            continue;
        }
        quiet_ms += 200;
        if (quiet_ms >= eng->cfg->deadman_ms && eng->kill_path[0]) {
            int fd = open(eng->kill_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd >= 0) {
                const char msg[] = "dead-man: the event loop stopped making progress\n";
                ssize_t wr = write(fd, msg, sizeof(msg) - 1);
                (void)wr;
                fsync(fd);
                close(fd);
            }
            const char err[] = "kestrel: dead-man switch: the event loop stopped making progress; "
                               "kill file written, exiting\n";
            ssize_t wr = write(STDERR_FILENO, err, sizeof(err) - 1);
            (void)wr;
            _exit(4);
        }
    }
    return NULL;
}

static void start_safety(ks_engine_t *eng)
{
    const char *kf = eng->cfg->kill_file ? eng->cfg->kill_file : "KILL";
    if (kf[0] == '/')
        ks_strlcpy(eng->kill_path, kf, sizeof(eng->kill_path));
    else
        snprintf(eng->kill_path, sizeof(eng->kill_path), "%s/%s", eng->state_dir, kf);
    eng->venue_last_event_ns = calloc((size_t)(eng->n_venues ? eng->n_venues : 1), sizeof(int64_t));
    eng->safety_timer =
        ks_loop_timer_start(eng->loop, 1000000000LL, 1000000000LL, safety_tick, eng);
    if (eng->cfg->deadman_ms > 0 &&
        pthread_create(&eng->deadman_thread, NULL, deadman_main, eng) == 0)
        eng->deadman_running = true;
}

static void json_escape_into(char *dst, size_t cap, const char *s)
{
    size_t j = 0;
    for (; *s && j + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            dst[j++] = '\\';
            dst[j++] = (char)c;
        } else if (c < 0x20) {
            j += (size_t)snprintf(dst + j, cap - j, "\\u%04x", c);
        } else {
            dst[j++] = (char)c;
        }
    }
    dst[j] = '\0';
}

static size_t status_json(ks_engine_t *eng, char *out, size_t cap)
{
    size_t n = 0;
    n += (size_t)snprintf(out + n, cap - n, "{\"ok\":true,\"events\":%llu,\"strategies\":[",
                          (unsigned long long)eng->seq);
    for (int i = 0; i < eng->n_strats && n < cap; i++) {
        ks_strategy_t *st = eng->strats[i];
        ks_acct_totals_t t;
        ks_strategy_stats_t ss;
        char le[600], dr[400];
        ks_oms_totals(&eng->oms, i, &t);
        ks_strategy_stats(st, &ss);
        json_escape_into(le, sizeof(le), ks_strategy_last_error(st));
        json_escape_into(dr, sizeof(dr), ks_strategy_disabled_reason(st));
        const ks_strategy_cfg_t *sc = ks_strategy_cfg(st);
        n += (size_t)snprintf(
            out + n, cap - n,
            "%s{\"name\":\"%s\",\"enabled\":%s,\"mode\":\"%s\",\"on_disable\":\"%s\","
            "\"orders\":%llu,\"fills\":%llu,\"open_orders\":%u,\"open_positions\":%d,"
            "\"errors\":%llu,\"reloads\":%llu,\"reload_failures\":%llu,\"memory\":%zu,"
            "\"last_error\":\"%s\",\"disabled_reason\":\"%s\",\"metrics\":{",
            i ? "," : "", ks_strategy_name(st), ks_strategy_enabled(st) ? "true" : "false",
            ks_strategy_mode_name(sc->mode), ks_on_disable_name(sc->on_disable),
            (unsigned long long)t.orders, (unsigned long long)t.fills, t.open_orders,
            t.open_positions, (unsigned long long)ss.errors, (unsigned long long)ss.reloads,
            (unsigned long long)ss.reload_failures, ss.mem_bytes, le, dr);
        size_t it = 0;
        const char *mname;
        double mval;
        bool first = true;
        while (n < cap && ks_strategy_metric_next(st, &it, &mname, &mval)) {
            n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":%.17g", first ? "" : ",", mname,
                                  isfinite(mval) ? mval : 0.0);
            first = false;
        }
        if (n < cap)
            n += (size_t)snprintf(out + n, cap - n, "}}");
    }
    if (n < cap)
        n += (size_t)snprintf(out + n, cap - n, "],\"venues\":[");
    int64_t now = ks_loop_now_ns(eng->loop);
    for (int i = 0; i < eng->n_venues && n < cap; i++) {
        ks_venue_t *v = &eng->venues[i];
        int64_t paused = v->pause_new_until_ns > now ? v->pause_new_until_ns - now : 0;
        n += (size_t)snprintf(
            out + n, cap - n,
            "%s{\"name\":\"%s\",\"up\":%s,\"requests_sent\":%llu,\"queued\":%u,"
            "\"throttles\":%llu,\"new_orders_paused_s\":%.3f,\"rate_limit\":%u,"
            "\"rate_window_s\":%.3f,\"rate_shared\":\"%s\"}",
            i ? "," : "", v->name, v->up ? "true" : "false", (unsigned long long)v->sent,
            v->n_queued, (unsigned long long)v->throttles, (double)paused / 1e9, v->rl.limit,
            (double)v->rl.window_ns / 1e9, v->rl_shared ? v->rl_shared->name : "");
    }
    int hc[6];
    ks_legs_counts(eng->legs, hc);
    if (n < cap)
        n += (size_t)snprintf(out + n, cap - n,
                              "],\"hedges\":{\"opening\":%d,\"active\":%d,\"closing\":%d,"
                              "\"closed\":%d,\"failed\":%d},\"open_orders\":%u,"
                              "\"orders_in_memory\":%zu}",
                              hc[KS_HEDGE_IDLE] + hc[KS_HEDGE_OPENING], hc[KS_HEDGE_ACTIVE],
                              hc[KS_HEDGE_CLOSING], hc[KS_HEDGE_CLOSED], hc[KS_HEDGE_FAILED],
                              eng->oms.n_open, eng->oms.orders.count);
    return n < cap ? n : cap;
}

static void ctl_handler(void *ud, const char *cmd, const char *arg, char *reply, size_t cap)
{
    ks_engine_t *eng = ud;
    char err[1024] = "", esc[1100];
    int rc = KS_OK;
    ks_log_info("ctl", "request: %s%s%s", cmd, arg[0] ? " " : "", arg);
    if (strcmp(cmd, "status") == 0) {
        status_json(eng, reply, cap);
        return;
    }
    if (strcmp(cmd, "kill") == 0) {
        ks_engine_kill(eng, "kestrel ctl kill");
        snprintf(reply, cap, "{\"ok\":true,\"action\":\"kill\"}");
        return;
    }
    if (strcmp(cmd, "reload-config") == 0) {
        rc = ks_engine_reload_config(eng, err, sizeof(err));
    } else if (strcmp(cmd, "enable") == 0 || strcmp(cmd, "disable") == 0 ||
               strcmp(cmd, "reload") == 0) {
        int idx = strat_index(eng, arg[0] ? arg : NULL);
        if (idx < 0) {
            snprintf(err, sizeof(err), "no strategy named \"%s\"", arg);
            rc = KS_ENOENT;
        } else if (strcmp(cmd, "enable") == 0) {
            rc = ks_strategy_enable(eng->strats[idx], err, sizeof(err));
        } else if (strcmp(cmd, "disable") == 0) {
            ks_strategy_disable_graceful(eng->strats[idx], "disabled by kestrel ctl");
        } else {
            rc = ks_engine_reload_strategy(eng, idx, err, sizeof(err));
        }
    } else {
        snprintf(err, sizeof(err),
                 "unknown command \"%s\" (status, enable NAME, disable NAME, reload NAME, "
                 "reload-config, kill)",
                 cmd);
        rc = KS_EINVAL;
    }
    json_escape_into(esc, sizeof(esc), err);
    if (rc == KS_OK)
        snprintf(reply, cap, "{\"ok\":true,\"command\":\"%s\",\"name\":\"%s\"}", cmd, arg);
    else
        snprintf(reply, cap, "{\"ok\":false,\"command\":\"%s\",\"error\":\"%s\"}", cmd, esc);
}

static void start_live_ops(ks_engine_t *eng)
{
    char path[1200], err[1300];
    eng->watch = ks_watch_new(eng->loop, 150 * 1000000LL);
    if (!eng->watch) {
        ks_log_warn("engine", "inotify unavailable: no hot reload");
    } else {
        for (int i = 0; i < eng->n_strats; i++)
            watch_strategy(eng, ks_strategy_cfg(eng->strats[i]));
        char lib[PATH_MAX];
        snprintf(lib, sizeof(lib), "%s/strategies/lib", KS_SOURCE_DIR);
        struct stat sb;
        if (stat(lib, &sb) == 0 && S_ISDIR(sb.st_mode))
            ks_watch_dir(eng->watch, lib, ".lua", on_lib_file, eng);
        if (eng->cfg->path)
            ks_watch_file(eng->watch, eng->cfg->path, on_config_file, eng);
    }
    snprintf(path, sizeof(path), "%s/kestrel.sock", eng->state_dir);
    eng->ctl = ks_ctl_start(eng->loop, path, ctl_handler, eng, err, sizeof(err));
    if (!eng->ctl)
        ks_log_warn("engine", "no control socket: %s", err);
}

static void on_signal_stop(ks_loop_t *loop, void *ud)
{
    ks_log_info("engine", "signal received: stopping");
    ks_engine_stop(ud);
}

static void on_sighup(ks_loop_t *loop, void *ud)
{
    char err[1024];
    ks_log_info("engine", "SIGHUP: re-reading the config");
    ks_engine_reload_config(ud, err, sizeof(err));
}

ks_engine_t *ks_engine_new(const ks_engine_opts_t *opts, char *err, size_t err_len)
{
    ks_engine_t *eng = calloc(1, sizeof(*eng));
    if (!eng) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    eng->cfg = opts->cfg;
    eng->backtest = opts->backtest;
    eng->check_only = opts->check_only;
    eng->data_paths = opts->data_paths;
    eng->n_data = opts->n_data;
    eng->lock_fd = -1;
    ks_market_init(&eng->market);
    ks_strlcpy(eng->state_dir, opts->state_dir ? opts->state_dir : "state", sizeof(eng->state_dir));
    snprintf(eng->db_path, sizeof(eng->db_path), "%s/kestrel.db", eng->state_dir);

    eng->loop = ks_loop_new(opts->backtest, opts->start_wall_ns);
    if (!eng->loop) {
        snprintf(err, err_len, "cannot create the event loop");
        goto fail;
    }
    if (eng->backtest)
        ks_log_set_clock(log_clock, eng);
    if (!eng->backtest && !eng->check_only) {
        /* Before any thread exists (curl's resolver, lws DNS): signals must be blocked in
         * every thread so only the loop's signalfd receives them. */
        ks_loop_signal(eng->loop, SIGINT, on_signal_stop, eng);
        ks_loop_signal(eng->loop, SIGTERM, on_signal_stop, eng);
        ks_loop_signal(eng->loop, SIGHUP, on_sighup, eng);
    }
    if (!eng->check_only) {
        if (mkdir_p(eng->state_dir) != 0) {
            snprintf(err, err_len, "%s: cannot create state directory: %s", eng->state_dir,
                     strerror(errno));
            goto fail;
        }
        if (take_lock(eng, err, err_len) != 0)
            goto fail;
        if (eng->backtest) {
            /* A backtest starts from an empty database every time (deterministic). */
            char p[1200];
            unlink(eng->db_path);
            snprintf(p, sizeof(p), "%s-wal", eng->db_path);
            unlink(p);
            snprintf(p, sizeof(p), "%s-shm", eng->db_path);
            unlink(p);
        }
        eng->store = ks_store_open(eng->db_path, err, err_len);
        if (!eng->store)
            goto fail;
        if (eng->backtest)
            ks_store_set_simulation(eng->store, true);
    }
    if (!eng->backtest && !eng->check_only) {
        eng->http = ks_http_new(eng->loop);
        eng->ws = ks_wsctx_new(eng->loop);
        if (!eng->http || !eng->ws) {
            snprintf(err, err_len, "cannot start the HTTP/WebSocket clients");
            goto fail;
        }
    }
    ks_oms_init(&eng->oms, eng->store, &eng->market,
                eng->backtest ? opts->start_wall_ns / 1000000 : epoch_ms_now());
    eng->plugins = ks_plugin_set_new();
    eng->legs = ks_legs_new(eng);
    eng->paper = ks_paper_new(&eng->market, paper_emit, eng);
    if (!eng->plugins || !eng->legs || !eng->paper || open_venues(eng, err, err_len) != 0)
        goto fail;

    const ks_config_t *cfg = eng->cfg;
    eng->strats = calloc((size_t)(cfg->n_strategies ? cfg->n_strategies : 1), sizeof(*eng->strats));
    if (!eng->strats) {
        snprintf(err, err_len, "out of memory");
        goto fail;
    }
    for (int i = 0; i < cfg->n_strategies; i++) {
        const ks_strategy_cfg_t *sc = &cfg->strategies[i];
        ks_dec_t capital = KS_DEC_ZERO;
        if (sc->capital)
            ks_dec_parse(sc->capital, (size_t)-1, &capital);
        int acct = ks_oms_add_account(&eng->oms, sc->name, capital);
        if (acct >= 0 && sc->mode == KS_MODE_PAPER) {
            ks_oms_account(&eng->oms, acct)->paper = true;
            eng->any_paper = true;
        }
        eng->strats[i] = ks_strategy_load(eng, i, sc, err, err_len);
        if (!eng->strats[i])
            goto fail;
        eng->n_strats = i + 1;
    }
    ks_loop_add_hook(eng->loop, flush_hook, eng);
    return eng;
fail:
    ks_engine_free(eng);
    return NULL;
}

/* ---- recovery and reconciliation ------------------------------------------------------- */

static void recon_order(ks_engine_t *eng, const ks_order_update_t *u, ks_order_t *o)
{
    if (o) {
        if (!ks_order_status_is_final(u->status))
            ks_strmap_put(&eng->recon_seen, u->cloid, NULL);
        return;
    }
    if (ks_order_status_is_final(u->status))
        return;
    struct recon_unknown *nu =
        realloc(eng->recon_unknown, (size_t)(eng->n_recon_unknown + 1) * sizeof(*nu));
    if (!nu)
        return;
    eng->recon_unknown = nu;
    struct recon_unknown *x = &nu[eng->n_recon_unknown++];
    x->venue = u->hdr.venue;
    x->inst = u->hdr.inst;
    ks_strlcpy(x->cloid, u->cloid, sizeof(x->cloid));
    ks_strlcpy(x->venue_id, u->venue_id, sizeof(x->venue_id));
}

static int strat_of_name(void *ud, const char *name)
{
    int i = strat_index(ud, name);
    return i >= 0 ? i : -1;
}

static int32_t inst_of_names(void *ud, const char *venue, const char *symbol, uint32_t *vid)
{
    ks_engine_t *eng = ud;
    int v = ks_engine_venue_by_name(eng, venue);
    if (v < 0)
        return -1;
    *vid = (uint32_t)v;
    return ks_market_find(&eng->market, (uint32_t)v, symbol);
}

ks_order_t *ks_engine_order(ks_engine_t *eng, const char *cloid)
{
    return ks_oms_revive(&eng->oms, cloid, strat_of_name, inst_of_names, eng, wall(eng));
}

/* Scales every (non-paper) holder of an instrument by num/den, remembering the change
 * for the leg groups. */
static void scale_holders(ks_engine_t *eng, int32_t inst, ks_dec_t num, ks_dec_t den,
                          const char *venue, int64_t w)
{
    for (int s = -1; s < eng->n_strats; s++) {
        const ks_pos_t *p = ks_oms_position(&eng->oms, s, inst);
        if (ks_dec_is_zero(p->qty) || strat_is_paper(eng, s))
            continue;
        ks_dec_t t, nq, delta;
        if (ks_dec_mul(p->qty, num, &t) != KS_OK ||
            ks_dec_div(t, den, 12, KS_ROUND_TRUNC, &nq) != KS_OK)
            nq = KS_DEC_ZERO;
        ks_dec_sub(nq, p->qty, &delta);
        ks_oms_adjust_position(&eng->oms, s, inst, nq, venue, w);
        if (s < 0 || ks_dec_is_zero(delta))
            continue;
        struct recon_shrunk *nx =
            realloc(eng->recon_shrunk, (size_t)(eng->n_recon_shrunk + 1) * sizeof(*nx));
        if (!nx)
            continue;
        eng->recon_shrunk = nx;
        nx[eng->n_recon_shrunk++] = (struct recon_shrunk){s, inst, delta};
    }
}

/* Spot holdings are wallet balances, not positions: a venue that listed its balances is
 * asked whether it still holds, per base asset, at least what the strategies' spot legs
 * say. Holding more is normal (the account's own coins); holding less by a lot or more
 * (sold outside the host, or lost while it was down) scales the holders down to what is
 * there. Returns the number of base assets scaled. */
static int recon_spot(ks_engine_t *eng, int64_t w)
{
    int scaled = 0;
    for (int32_t i = 0; i < eng->recon_n; i++) {
        const ks_inst_rec_t *r = ks_market_inst(&eng->market, i);
        ks_venue_t *v = ks_engine_venue(eng, r->venue);
        if (r->spec.kind != KS_KIND_SPOT || !v || !v->recon_bal_ok)
            continue;
        /* Each base asset once, at its first spot instrument on this venue. */
        bool seen = false;
        for (int32_t j = 0; j < i && !seen; j++) {
            const ks_inst_rec_t *q = ks_market_inst(&eng->market, j);
            seen = q->venue == r->venue && q->spec.kind == KS_KIND_SPOT &&
                   strcmp(q->base, r->base) == 0;
        }
        if (seen)
            continue;
        ks_dec_t local = KS_DEC_ZERO, held = KS_DEC_ZERO, lot = r->spec.lot_size, short_by;
        for (int32_t j = i; j < eng->recon_n; j++) {
            const ks_inst_rec_t *q = ks_market_inst(&eng->market, j);
            if (q->venue == r->venue && q->spec.kind == KS_KIND_SPOT &&
                strcmp(q->base, r->base) == 0)
                ks_dec_add(local, ks_oms_venue_position(&eng->oms, j), &local);
        }
        if (ks_dec_sign(local) <= 0)
            continue;
        const ks_balance_t *b = ks_engine_balance(eng, v->id, KS_WALLET_SPOT, r->base);
        if (!b)
            b = ks_engine_balance(eng, v->id, KS_WALLET_UNIFIED, r->base);
        if (b) /* a venue lists the coins it holds: none listed is none held */
            held = b->total;
        ks_dec_sub(local, held, &short_by);
        if (ks_dec_sign(short_by) <= 0 || ks_dec_cmp(short_by, lot) < 0)
            continue; /* less than a lot short: fees taken in the coin, dust */
        if (ks_dec_sign(held) < 0)
            held = KS_DEC_ZERO;
        char a[KS_DEC_STRLEN], c[KS_DEC_STRLEN], detail[300];
        ks_dec_format(local, a, sizeof(a));
        ks_dec_format(held, c, sizeof(c));
        for (int32_t j = i; j < eng->recon_n; j++) {
            const ks_inst_rec_t *q = ks_market_inst(&eng->market, j);
            if (q->venue == r->venue && q->spec.kind == KS_KIND_SPOT &&
                strcmp(q->base, r->base) == 0)
                scale_holders(eng, j, held, local, v->name, w);
        }
        ks_log_warn("engine",
                    "%s on %s: the strategies hold %s in spot, the venue's wallet %s: spot "
                    "positions scaled down to the wallet",
                    r->base, v->name, a, c);
        snprintf(detail, sizeof(detail),
                 "{\"venue\":\"%s\",\"asset\":\"%s\",\"local\":\"%s\",\"wallet\":\"%s\"}", v->name,
                 r->base, a, c);
        ks_engine_journal(eng, "recovery.spot_short", r->base, detail);
        scaled++;
    }
    return scaled;
}

/* Runs the loop until every reconciliation fetch answered or the timeout passed. */
static bool recon_wait(ks_engine_t *eng)
{
    int64_t timeout = eng->cfg->reconcile_timeout_ms > 0 ? eng->cfg->reconcile_timeout_ms : 30000;
    int64_t deadline = ks_loop_now_ns(eng->loop) + timeout * 1000000LL;
    drain(eng->loop, eng);
    while (eng->recon_pending > 0 && ks_loop_now_ns(eng->loop) < deadline &&
           !ks_loop_stopped(eng->loop)) {
        int64_t step_to = ks_loop_now_ns(eng->loop) + 20000000LL;
        ks_loop_run_until(eng->loop, step_to < deadline ? step_to : deadline);
        drain(eng->loop, eng);
    }
    return eng->recon_pending == 0;
}

typedef struct recon_pass {
    ks_engine_t *eng;
    int queried;
} recon_pass_t;

static void query_unlisted(void *ud, ks_order_t *o)
{
    recon_pass_t *p = ud;
    ks_engine_t *eng = p->eng;
    if (ks_strmap_get(&eng->recon_seen, o->rec.cloid, NULL))
        return;
    if (strat_is_paper(eng, o->strat)) {
        /* paper orders lived in the previous process's matcher only */
        ks_oms_send_failed(&eng->oms, o, KS_REJ_OTHER, "paper order dropped at restart", wall(eng));
        return;
    }
    ks_venue_t *v = ks_engine_venue(eng, o->venue);
    if (!v || !v->open)
        return;
    uint64_t req = ++eng->next_req;
    if (v->ops->fetch(v->self, KS_FETCH_ORDER, o->inst, o->rec.cloid, req) == KS_OK) {
        ks_u64map_put(&eng->recon_queries, req, o);
        eng->recon_pending++;
        p->queried++;
    }
}

/* A KS_CONN_UP from venue `id` is waiting in the queue. */
static bool conn_up_queued(const ks_engine_t *eng, uint32_t id)
{
    for (size_t i = 0; i < eng->next.n; i++) {
        const ks_any_event_t *e = &eng->next.q[i].ev;
        if (e->hdr.type == KS_EV_CONN && e->hdr.venue == id && e->conn.state == KS_CONN_UP)
            return true;
    }
    return false;
}

/* The instruments the store's open orders, positions and unfinished leg groups name on
 * configured venues that have not registered them (yet). */
typedef struct need_insts {
    ks_engine_t *eng;
    struct need_inst {
        uint32_t venue;
        char symbol[KS_SYMBOL_LEN];
    } * v;
    int n, cap;
} need_insts_t;

static void need_add(need_insts_t *ni, const char *venue, const char *symbol)
{
    int vi = ks_engine_venue_by_name(ni->eng, venue);
    if (vi < 0 || !symbol || ks_market_find(&ni->eng->market, (uint32_t)vi, symbol) >= 0)
        return;
    for (int i = 0; i < ni->n; i++)
        if (ni->v[i].venue == (uint32_t)vi && strcmp(ni->v[i].symbol, symbol) == 0)
            return;
    if (ni->n == ni->cap) {
        int nc = ni->cap ? ni->cap * 2 : 16;
        struct need_inst *nv = realloc(ni->v, (size_t)nc * sizeof(*nv));
        if (!nv)
            return;
        ni->v = nv;
        ni->cap = nc;
    }
    ni->v[ni->n].venue = (uint32_t)vi;
    ks_strlcpy(ni->v[ni->n].symbol, symbol, sizeof(ni->v[0].symbol));
    ni->n++;
}

static void need_order(void *ud, const ks_order_rec_t *r)
{
    need_add(ud, r->venue, r->symbol);
}

static void need_position(void *ud, const ks_position_rec_t *p)
{
    if (!ks_dec_is_zero(p->qty))
        need_add(ud, p->venue, p->symbol);
}

static void need_group(void *ud, const char *id, const char *strategy, int state,
                       const char *reason, const char *data)
{
    if (state == 4 || state == 5) /* closed, failed */
        return;
    cJSON *root = cJSON_Parse(data);
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(root, "legs"))
        need_add(ud, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "venue")),
                 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "symbol")));
    cJSON_Delete(root);
}

/* Venues may register their instruments asynchronously (Bybit: once instruments-info
 * answered), and the store's orders, positions and leg groups name instruments: they can
 * only be reloaded once those are registered. Until then (or until every venue is up, or
 * the recovery timeout) venue events are held in the queue, not dispatched, so none of
 * them (an order update or fill from an adapter's own resync after connecting) meets an
 * OMS that does not know its order yet. */
static void wait_instruments(ks_engine_t *eng, int64_t timeout_ns)
{
    need_insts_t ni = {eng, NULL, 0, 0};
    if (!eng->store)
        return;
    ks_store_orders_foreach(eng->store, true, need_order, &ni);
    ks_store_positions_foreach(eng->store, need_position, &ni);
    ks_store_legs_foreach(eng->store, need_group, &ni);
    if (!ni.n)
        return;
    int64_t deadline = ks_loop_now_ns(eng->loop) + timeout_ns;
    eng->hold_events = true;
    for (;;) {
        bool all_up = true, all_known = true;
        for (int i = 0; i < eng->n_venues; i++) {
            ks_venue_t *v = &eng->venues[i];
            if (v->open && !v->up && !conn_up_queued(eng, v->id))
                all_up = false;
        }
        for (int i = 0; i < ni.n && all_known; i++)
            all_known = ks_market_find(&eng->market, ni.v[i].venue, ni.v[i].symbol) >= 0;
        int64_t now = ks_loop_now_ns(eng->loop);
        if (all_up || all_known || now >= deadline || ks_loop_stopped(eng->loop))
            break;
        ks_loop_run_until(eng->loop, now + 20000000LL < deadline ? now + 20000000LL : deadline);
    }
    eng->hold_events = false;
    free(ni.v);
}

/* Recovery after a restart and reconciliation with every venue, before any strategy
 * runs: reload orders, positions and leg groups from the store; ask each venue for its
 * open orders, positions and balances; resolve every order we think is open by asking
 * about it; book fills the host missed; cancel (or adopt) orders only the venue knows;
 * flatten (or adopt) positions that differ. Everything is journaled. */
static int reconcile(ks_engine_t *eng, char *err, size_t err_len)
{
    int64_t w;
    int64_t timeout_ms =
        eng->cfg->reconcile_timeout_ms > 0 ? eng->cfg->reconcile_timeout_ms : 30000;
    wait_instruments(eng, timeout_ms * 1000000LL);
    int loaded = ks_oms_load(&eng->oms, strat_of_name, inst_of_names, eng);
    int groups = ks_legs_load(eng->legs);
    eng->recon_n = eng->market.n;
    eng->recon_vpos = calloc((size_t)(eng->recon_n ? eng->recon_n : 1), sizeof(ks_dec_t));
    eng->recon_vpos_seen = calloc((size_t)(eng->recon_n ? eng->recon_n : 1), sizeof(bool));
    if (!eng->recon_vpos || !eng->recon_vpos_seen) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    eng->recon_active = true;
    for (int i = 0; i < eng->n_venues; i++) {
        ks_venue_t *v = &eng->venues[i];
        const uint32_t what[] = {KS_FETCH_OPEN_ORDERS, KS_FETCH_POSITIONS, KS_FETCH_BALANCES};
        for (int k = 0; k < 3; k++)
            if (v->ops->fetch(v->self, what[k], -1, NULL, ++eng->next_req) == KS_OK)
                eng->recon_pending++;
    }
    if (!recon_wait(eng)) {
        snprintf(err, err_len, "reconciliation: the venues did not answer within %lld s",
                 (long long)(eng->cfg->reconcile_timeout_ms / 1000));
        eng->recon_active = false;
        return -1;
    }
    /* Orders we hold as open that the venue did not list: ask about each one. */
    recon_pass_t pass = {eng, 0};
    ks_oms_foreach_open(&eng->oms, -2, query_unlisted, &pass);
    if (pass.queried && !recon_wait(eng)) {
        snprintf(err, err_len, "reconciliation: order queries unanswered within the timeout");
        eng->recon_active = false;
        return -1;
    }
    w = wall(eng);
    /* Orders the venue never saw (the host died after the write-ahead record) were
     * closed as they were answered. */
    int never_sent = eng->recon_enoent, missing_fills = 0;
    /* Finished orders whose fills we did not all record. */
    {
        size_t it = 0;
        void *val;
        while (ks_strmap_next(&eng->oms.orders, &it, NULL, &val)) {
            ks_order_t *o = val;
            ks_fill_t f;
            ks_venue_t *v = ks_engine_venue(eng, o->venue);
            if (ks_order_status_is_final(o->rec.status) &&
                ks_oms_book_missing_fill(&eng->oms, o, v ? v->name : "", w, &f)) {
                missing_fills++;
                ks_legs_on_fill(eng->legs, o, &f);
            }
        }
    }
    /* Orders only the venue knows. */
    int cancelled = 0, adopted_orders = 0;
    for (int i = 0; i < eng->n_recon_unknown; i++) {
        struct recon_unknown *x = &eng->recon_unknown[i];
        ks_venue_t *v = ks_engine_venue(eng, x->venue);
        if (eng->cfg->recovery_adopt_orders) {
            adopted_orders++;
            ks_log_warn("engine",
                        "venue %s has open order %s we do not know: adopted (left "
                        "resting, owned by the host)",
                        v ? v->name : "?", x->cloid);
            continue;
        }
        ks_cancel_cmd_t c;
        KS_INIT(&c);
        c.inst = x->inst;
        ks_strlcpy(c.cloid, x->cloid, sizeof(c.cloid));
        ks_strlcpy(c.venue_id, x->venue_id, sizeof(c.venue_id));
        if (v && v->open && v->ops->cancel(v->self, &c) == KS_OK)
            cancelled++;
        ks_log_warn("engine", "venue %s has open order %s we do not know: cancelled",
                    v ? v->name : "?", x->cloid);
    }
    drain(eng->loop, eng);
    /* Positions: the venue is the truth. */
    int adjusted = 0, adopted = 0, flattened = 0;
    for (int32_t i = 0; i < eng->recon_n; i++) {
        const ks_inst_rec_t *r = ks_market_inst(&eng->market, i);
        /* Venues list perp positions only; an unlisted perp is flat. Spot holdings are
         * wallet balances, not positions: nothing to compare. */
        if (!eng->recon_vpos_seen[i] && r->spec.kind != KS_KIND_PERP)
            continue;
        ks_venue_t *v = ks_engine_venue(eng, r->venue);
        /* paper positions never existed at the venue */
        ks_dec_t local = ks_oms_venue_position(&eng->oms, i), venue = eng->recon_vpos[i], d;
        if (ks_dec_cmp(local, venue) == 0)
            continue;
        ks_dec_sub(venue, local, &d);
        char a[KS_DEC_STRLEN], b[KS_DEC_STRLEN];
        ks_dec_format(local, a, sizeof(a));
        ks_dec_format(venue, b, sizeof(b));
        bool shrink = ks_dec_sign(local) != 0 &&
                      (ks_dec_sign(venue) == ks_dec_sign(local) || ks_dec_is_zero(venue)) &&
                      ks_dec_cmp(ks_dec_abs(venue), ks_dec_abs(local)) < 0;
        if (shrink) {
            /* The venue holds less than we think: scale every holder down to it. */
            scale_holders(eng, i, venue, local, v->name, w);
            adjusted++;
            ks_log_warn("engine",
                        "%s on %s: the store holds %s, the venue %s: local positions "
                        "scaled down to the venue's",
                        r->symbol, v->name, a, b);
            continue;
        }
        /* The venue holds more (or the other way): adopt the difference into the host
         * account, then flatten it unless configured to keep it. */
        ks_pos_t *hp = (ks_pos_t *)ks_oms_position(&eng->oms, -1, i);
        ks_dec_t nh;
        ks_dec_add(hp->qty, d, &nh);
        ks_oms_adjust_position(&eng->oms, -1, i, nh, v->name, w);
        if (eng->cfg->recovery_adopt_positions) {
            adopted++;
            ks_log_warn("engine",
                        "%s on %s: the store holds %s, the venue %s: the difference is "
                        "adopted by the host account",
                        r->symbol, v->name, a, b);
        } else {
            flattened += reduce_scope(eng, -1, i, KS_DEC(1, 0), "reconciliation");
            ks_log_warn("engine",
                        "%s on %s: the store holds %s, the venue %s: the difference is "
                        "flattened",
                        r->symbol, v->name, a, b);
        }
    }
    int spot_scaled = recon_spot(eng, w);
    eng->recon_active = false;
    drain(eng->loop, eng);
    ks_legs_resume(eng->legs);
    /* Leg groups whose legs the venue holds less of rebalance now, as after a forced
     * fill: a hedge is never left with one side smaller than the other. */
    for (int k = 0; k < eng->n_recon_shrunk; k++) {
        struct recon_shrunk *x = &eng->recon_shrunk[k];
        ks_legs_on_forced(eng->legs, x->strat, x->inst, x->delta,
                          "reconciliation: the venue holds less");
    }
    free(eng->recon_shrunk);
    eng->recon_shrunk = NULL;
    eng->n_recon_shrunk = 0;
    drain(eng->loop, eng);
    char detail[400];
    snprintf(detail, sizeof(detail),
             "{\"open_orders_loaded\":%d,\"leg_groups\":%d,\"queried\":%d,\"never_sent\":%d,"
             "\"missing_fills\":%d,\"unknown_orders_cancelled\":%d,\"unknown_orders_adopted\":%d,"
             "\"positions_scaled\":%d,\"spot_scaled\":%d,\"positions_adopted\":%d,"
             "\"flatten_orders\":%d}",
             loaded, groups, pass.queried, never_sent, missing_fills, cancelled, adopted_orders,
             adjusted, spot_scaled, adopted, flattened);
    ks_engine_journal(eng, "recovery.report", "host", detail);
    if (loaded || groups || never_sent || missing_fills || eng->n_recon_unknown || adjusted ||
        spot_scaled || adopted || flattened)
        ks_log_info("engine", "reconciled: %s", detail);
    return 0;
}

int ks_engine_set_replay_span(ks_engine_t *eng, int64_t start_ns, int64_t end_ns)
{
    if (!eng->backtest || eng->started)
        return KS_ESTATE;
    if (!eng->replay_start_ns || start_ns < eng->replay_start_ns)
        eng->replay_start_ns = start_ns;
    if (end_ns > eng->replay_end_ns)
        eng->replay_end_ns = end_ns;
    ks_loop_set_wall_start(eng->loop, eng->replay_start_ns);
    return KS_OK;
}

int64_t ks_engine_data_span_ns(ks_engine_t *eng)
{
    return eng->replay_end_ns > eng->replay_start_ns ? eng->replay_end_ns - eng->replay_start_ns
                                                     : 0;
}

int ks_engine_start(ks_engine_t *eng, char *err, size_t err_len)
{
    eng->started = true;
    char detail[200];
    snprintf(detail, sizeof(detail), "{\"mode\":\"%s\",\"pid\":%d}",
             eng->backtest ? "backtest" : "run", (int)getpid());
    ks_engine_journal(eng, "host.start", "host", detail);
    for (int i = 0; i < eng->n_venues; i++) {
        ks_venue_t *v = &eng->venues[i];
        if (v->ops->start(v->self) != KS_OK) {
            snprintf(err, err_len, "venues.%s: failed to start", v->name);
            return -1;
        }
    }
    for (int i = 0; i < eng->n_strats; i++) {
        ks_strategy_t *st = eng->strats[i];
        const ks_strategy_cfg_t *sc = ks_strategy_cfg(st);
        for (int s = 0; s < sc->n_symbols; s++)
            ks_engine_subscribe(eng, i, ks_strategy_venue(st), sc->symbols[s]);
    }
    /* Let the venues' first events (instruments, balances) land before on_start. */
    drain(eng->loop, eng);
    if (!eng->backtest && !eng->check_only) {
        start_safety(eng);
        if (reconcile(eng, err, err_len) != 0)
            return -1;
        const char *why = emergency_trigger(eng);
        if (why) {
            /* Positions are known now: the kill switch can flatten them. */
            ks_engine_kill(eng, why);
            return 0;
        }
    }
    for (int i = 0; i < eng->n_strats; i++)
        if (ks_strategy_enabled(eng->strats[i]) && !eng->killing) {
            ks_strategy_start(eng->strats[i]);
            ks_log_info("engine", "strategy %s started (%s, mode %s)",
                        ks_strategy_name(eng->strats[i]), ks_strategy_cfg(eng->strats[i])->file,
                        ks_strategy_mode_name(ks_strategy_cfg(eng->strats[i])->mode));
        }
    eng->watchdog_timer = ks_loop_timer_start(eng->loop, WATCHDOG_NS, WATCHDOG_NS, watchdog, eng);
    if (!eng->backtest && !eng->check_only)
        start_live_ops(eng);
    eng->run_start_ns = ks_loop_now_ns(eng->loop);
    return 0;
}

void ks_engine_stop(ks_engine_t *eng)
{
    ks_loop_stop(eng->loop);
}

static void status_line(ks_loop_t *loop, void *ud)
{
    ks_engine_t *eng = ud;
    int64_t el = (ks_loop_now_ns(loop) - eng->run_start_ns) / 1000000000;
    uint64_t orders = 0, fills = 0;
    ks_dec_t pnl = KS_DEC_ZERO;
    for (int i = 0; i < eng->n_strats; i++) {
        ks_acct_totals_t t;
        ks_oms_totals(&eng->oms, i, &t);
        orders += t.orders;
        fills += t.fills;
        ks_dec_add(pnl, t.realized, &pnl);
        ks_dec_add(pnl, t.unrealized, &pnl);
        ks_dec_add(pnl, t.funding, &pnl);
        ks_dec_sub(pnl, t.fees, &pnl);
    }
    char p[KS_DEC_STRLEN];
    ks_dec_t r;
    ks_dec_rescale(pnl, 2, KS_ROUND_HALF_EVEN, &r);
    ks_dec_format_fixed(r, 2, KS_ROUND_HALF_EVEN, p, sizeof(p));
    double secs = (double)eng->cfg->status_interval_ms / 1000.0;
    printf("[kestrel] %02lld:%02lld:%02lld  events %llu (%.0f/s)  orders %llu  fills %llu  "
           "pnl %s USDT\n",
           (long long)(el / 3600), (long long)(el / 60 % 60), (long long)(el % 60),
           (unsigned long long)eng->seq, (double)(eng->seq - eng->last_status_events) / secs,
           (unsigned long long)orders, (unsigned long long)fills, p);
    fflush(stdout);
    eng->last_status_events = eng->seq;
}

/* Requests still queued for the rate limit or in flight (HTTP) when the run ends are
 * given a few seconds to leave and be answered, so an order placed in the last moment
 * is not left SENT without its request ever having gone out. */
static void finish_in_flight(ks_engine_t *eng)
{
    if (eng->backtest)
        return;
    int64_t deadline = ks_loop_now_ns(eng->loop) + 3000000000LL;
    for (;;) {
        uint32_t queued = 0;
        for (int i = 0; i < eng->n_venues; i++)
            queued += eng->venues[i].n_queued;
        int pending = eng->http ? ks_http_pending(eng->http) : 0;
        if ((!queued && !pending) || ks_loop_now_ns(eng->loop) >= deadline)
            break;
        ks_loop_run_until(eng->loop, ks_loop_now_ns(eng->loop) + 20000000LL);
        drain(eng->loop, eng);
    }
}

int ks_engine_run(ks_engine_t *eng, int64_t duration_ns)
{
    int rc;
    if (!eng->backtest) {
        if (eng->cfg->status_interval_ms > 0)
            eng->status_timer =
                ks_loop_timer_start(eng->loop, eng->cfg->status_interval_ms * 1000000LL,
                                    eng->cfg->status_interval_ms * 1000000LL, status_line, eng);
    }
    if (duration_ns > 0)
        rc = ks_loop_run_until(eng->loop, ks_loop_now_ns(eng->loop) + duration_ns);
    else
        rc = ks_loop_run(eng->loop);
    drain(eng->loop, eng);
    for (int i = 0; i < eng->n_strats; i++)
        ks_strategy_stop(eng->strats[i]);
    drain(eng->loop, eng);
    finish_in_flight(eng);
    if (eng->status_timer)
        ks_loop_timer_stop(eng->loop, eng->status_timer);
    if (eng->safety_timer)
        ks_loop_timer_stop(eng->loop, eng->safety_timer);
    if (eng->store)
        ks_store_flush(eng->store);
    ks_engine_journal(eng, "host.stop", "host", NULL);
    if (eng->store)
        ks_store_flush(eng->store);
    return rc < 0 ? rc : eng->exit_code;
}

void ks_engine_free(ks_engine_t *eng)
{
    if (!eng)
        return;
    if (eng->deadman_running) {
        atomic_store(&eng->deadman_stop, true);
        pthread_join(eng->deadman_thread, NULL);
    }
    ks_ctl_stop(eng->ctl);
    ks_watch_free(eng->watch);
    for (int i = 0; i < eng->n_strats; i++)
        ks_strategy_free(eng->strats[i]);
    free(eng->strats);
    for (int i = 0; i < eng->n_risk; i++) {
        ks_riskmod_t *rm = &eng->risk[i];
        if (rm->self)
            rm->ops->close(rm->self);
        ks_host_release(&rm->host);
    }
    free(eng->risk);
    for (int i = 0; i < eng->n_venues; i++) {
        ks_venue_t *v = &eng->venues[i];
        rl_free(eng, v);
        if (v->open)
            v->ops->close(v->self);
        ks_host_release(&v->host);
        size_t it = 0;
        void *val;
        while (ks_strmap_next(&v->balances, &it, NULL, &val))
            free(val);
        ks_strmap_free(&v->balances);
    }
    free(eng->venues);
    for (int g = 0; g < eng->n_rl_groups; g++)
        rlwin_free(&eng->rl_groups[g]);
    free(eng->rl_groups);
    ks_legs_free(eng->legs);
    ks_paper_free(eng->paper);
    free(eng->paper_fund_next);
    free(eng->paper_fund_rate);
    records_free(eng);
    ks_strmap_free(&eng->recon_seen);
    ks_u64map_free(&eng->recon_queries);
    free(eng->recon_vpos);
    free(eng->recon_vpos_seen);
    free(eng->recon_shrunk);
    free(eng->recon_unknown);
    free(eng->wdq);
    free(eng->fw);
    free(eng->venue_last_event_ns);
    ks_plugin_set_free(eng->plugins);
    ks_oms_free(&eng->oms);
    for (int32_t i = 0; i < eng->n_subs; i++)
        free(eng->subs[i].strats);
    free(eng->subs);
    free(eng->pending);
    ks_market_free(&eng->market);
    free(eng->cur.q);
    free(eng->cur.lv);
    free(eng->next.q);
    free(eng->next.lv);
    if (eng->ws)
        ks_wsctx_free(eng->ws);
    if (eng->http)
        ks_http_free(eng->http);
    if (eng->store)
        ks_store_close(eng->store);
    ks_log_set_clock(NULL, NULL);
    if (eng->loop)
        ks_loop_free(eng->loop);
    if (eng->lock_fd >= 0)
        close(eng->lock_fd);
    for (int i = 0; i < eng->n_owned; i++)
        ks_config_free(eng->owned_cfgs[i]);
    free(eng->owned_cfgs);
    free(eng);
}
