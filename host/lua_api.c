/* The strategy API: the `ctx` table of C functions each strategy VM gets, and the
 * conversion of events to Lua tables. Every function checks the phase it may run in
 * (lua-nginx-module style); programmer errors raise, expected refusals return nil, err. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "engine.h"
#include "legs.h"
#include "lua_json.h"
#include "log.h"
#include "lua_runtime.h"

enum {
    PH_LOAD = 1 << KS_PHASE_LOAD,
    PH_START = 1 << KS_PHASE_START,
    PH_EVENT = 1 << KS_PHASE_EVENT,
    PH_STOP = 1 << KS_PHASE_STOP,
    PH_RELOAD = 1 << KS_PHASE_RELOAD,
    PH_RUNNING = PH_START | PH_EVENT | PH_STOP | PH_RELOAD,
    PH_ANY = PH_LOAD | PH_RUNNING,
};

static const char *phase_name(ks_strategy_phase_t p)
{
    switch (p) {
    case KS_PHASE_LOAD:
        return "the strategy's top level";
    case KS_PHASE_START:
        return "on_start";
    case KS_PHASE_EVENT:
        return "a callback";
    case KS_PHASE_STOP:
        return "on_stop";
    case KS_PHASE_CLOSED:
        return "a disabled strategy";
    case KS_PHASE_RELOAD:
        return "on_reload";
    }
    return "?";
}

/* The strategy of this VM, checked to be in one of the allowed phases. */
static ks_strategy_t *strat(lua_State *L, int allowed, const char *fn)
{
    ks_strategy_t *st = ks_strategy_from_lua(L);
    if (!st)
        luaL_error(L, "%s: no strategy", fn);
    ks_strategy_phase_t ph = ks_strategy_phase(st);
    if (!(allowed & (1 << ph)))
        luaL_error(L, "ctx.%s is not allowed in %s", fn, phase_name(ph));
    return st;
}

/* Pushes t[k] without metamethods: a spec table with __index must not run strategy code
 * inside a ctx function. */
static void raw_field(lua_State *L, int t, const char *k)
{
    lua_pushstring(L, k);
    lua_rawget(L, t < 0 ? t - 1 : t);
}

/* Raises on a key of the table at idx that is not in known: an unknown field is a
 * programmer error (a typo must not send a different order). what names the table in the
 * message ("ctx.order: unknown field 'quantity'"). */
static void check_keys(lua_State *L, int idx, const char *const *known, const char *what)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        bool ok = false;
        if (lua_type(L, -2) == LUA_TSTRING)
            for (int i = 0; known[i]; i++)
                ok |= strcmp(lua_tostring(L, -2), known[i]) == 0;
        if (!ok)
            luaL_error(L, "%s '%s'", what,
                       lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?");
        lua_pop(L, 1);
    }
}

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_dec(lua_State *L, const char *k, ks_dec_t d)
{
    set_num(L, k, ks_dec_to_double(d));
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static void set_bool(lua_State *L, const char *k, bool v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

static double ms(int64_t ns)
{
    return (double)(ns / 1000000);
}

/* Resolves a symbol argument on the strategy's venue (or an explicit venue name). */
static int32_t resolve_inst(lua_State *L, ks_strategy_t *st, const char *symbol,
                            const char *venue_name)
{
    ks_engine_t *eng = ks_strategy_engine(st);
    uint32_t venue = ks_strategy_venue(st);
    if (venue_name) {
        int v = ks_engine_venue_by_name(eng, venue_name);
        if (v < 0)
            return -1;
        venue = (uint32_t)v;
    }
    return ks_engine_find_inst(eng, venue, symbol);
}

/* ---- ctx functions ---------------------------------------------------------------- */

static int ctx_now(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_ANY, "now");
    lua_pushnumber(L, ms(ks_loop_wall_ns(ks_engine_loop(ks_strategy_engine(st)))));
    return 1;
}

static int ctx_log(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_ANY, "log");
    int level = KS_LOG_INFO, first = 1;
    if (lua_gettop(L) >= 2 && lua_type(L, 1) == LUA_TSTRING) {
        int l = ks_log_level_parse(lua_tostring(L, 1));
        if (l >= 0) {
            level = l;
            first = 2;
        }
    }
    size_t len;
    const char *msg = luaL_checklstring(L, first, &len);
    ks_lua_charge(L, 100 + (int64_t)(len > 2000 ? 2000 : len) / 16);
    if (!ks_strategy_log_admit(st))
        return 0;
    char comp[KS_NAME_LEN + 16];
    snprintf(comp, sizeof(comp), "strategy.%s", ks_strategy_name(st));
    ks_log(level, comp, "%.*s", (int)(len > 2000 ? 2000 : len), msg);
    return 0;
}

static void push_market(lua_State *L, ks_engine_t *eng, int32_t inst)
{
    ks_market_t *m = ks_engine_market(eng);
    const ks_inst_rec_t *r = ks_market_inst(m, inst);
    const ks_mkt_t *k = ks_market_state(m, inst);
    int64_t now = ks_loop_now_ns(ks_engine_loop(eng));
    ks_dec_t mid;

    lua_createtable(L, 0, 32);
    set_str(L, "symbol", r->symbol);
    set_str(L, "venue", ks_engine_venue(eng, r->venue)->name);
    set_str(L, "base", r->base);
    set_str(L, "quote", r->quote);
    set_str(L, "kind", r->spec.kind == KS_KIND_PERP ? "perp" : "spot");
    set_dec(L, "tick", r->spec.tick_size);
    set_dec(L, "lot", r->spec.lot_size);
    set_dec(L, "min_qty", r->spec.min_qty);
    set_dec(L, "min_notional", r->spec.min_notional);
    set_dec(L, "maker_fee", r->spec.maker_fee);
    set_dec(L, "taker_fee", r->spec.taker_fee);
    set_num(L, "spec_version", r->spec.spec_version);
    if (k->bbo_recv_ns) {
        set_dec(L, "bid", k->bid_px);
        set_dec(L, "ask", k->ask_px);
        set_dec(L, "bid_qty", k->bid_qty);
        set_dec(L, "ask_qty", k->ask_qty);
        set_num(L, "bbo_age_ms", (double)(now - k->bbo_recv_ns) / 1e6);
    }
    if (ks_market_mid(m, inst, &mid))
        set_dec(L, "mid", mid);
    if (k->ticker_recv_ns) {
        const ks_ticker_t *t = &k->ticker;
        if (t->fields & KS_TK_LAST)
            set_dec(L, "last", t->last);
        if (t->fields & KS_TK_MARK)
            set_dec(L, "mark", t->mark);
        if (t->fields & KS_TK_INDEX)
            set_dec(L, "index", t->index);
        int ih = (t->fields & KS_TK_FUNDING_INTERVAL) ? t->funding_interval_h
                                                      : r->spec.funding_interval_h;
        if (t->fields & KS_TK_FUNDING_RATE) {
            set_dec(L, "funding_rate", t->funding_rate);
            if (ih > 0)
                set_num(L, "funding_rate_8h", ks_dec_to_double(t->funding_rate) / ih * 8);
        }
        if (t->fields & KS_TK_NEXT_FUNDING)
            set_num(L, "next_funding_ts", ms(t->next_funding_ts));
        if (t->fields & KS_TK_FUNDING_INTERVAL)
            set_num(L, "funding_interval_h", t->funding_interval_h);
        if (t->fields & KS_TK_OPEN_INTEREST)
            set_dec(L, "open_interest", t->open_interest);
        if (t->fields & KS_TK_VOLUME_QUOTE_24H)
            set_dec(L, "volume_24h", t->volume_quote_24h);
        set_num(L, "ticker_age_ms", (double)(now - k->ticker_recv_ns) / 1e6);
    }
    if (r->spec.funding_interval_h && !(k->ticker_fields & KS_TK_FUNDING_INTERVAL))
        set_num(L, "funding_interval_h", r->spec.funding_interval_h);
    if (k->oracle_recv_ns) {
        set_dec(L, "oracle", k->oracle);
        set_num(L, "oracle_age_ms", (double)(now - k->oracle_recv_ns) / 1e6);
    }
    if (k->trade_recv_ns && !(k->ticker_fields & KS_TK_LAST))
        set_dec(L, "last", k->last_px);
}

static int ctx_market(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_RUNNING, "market");
    const char *symbol = luaL_checkstring(L, 1);
    const char *venue = luaL_optstring(L, 2, NULL);
    int32_t inst = resolve_inst(L, st, symbol, venue);
    if (inst < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "unknown symbol %s", symbol);
        return 2;
    }
    push_market(L, ks_strategy_engine(st), inst);
    return 1;
}

static int parse_enum(lua_State *L, const char *field, const char *v, const char *const *names,
                      const int *values)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(v, names[i]) == 0)
            return values[i];
    return luaL_error(L, "ctx.order: %s must be one of the documented values, got '%s'", field, v);
}

static int ctx_order(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_START | PH_EVENT | PH_RELOAD, "order");
    ks_engine_t *eng = ks_strategy_engine(st);
    static const char *const sides[] = {"buy", "sell", NULL};
    static const int side_v[] = {KS_SIDE_BUY, KS_SIDE_SELL};
    static const char *const types[] = {"market", "limit", NULL};
    static const int type_v[] = {KS_ORD_MARKET, KS_ORD_LIMIT};
    static const char *const tifs[] = {"gtc", "ioc", "fok", "post_only", NULL};
    static const int tif_v[] = {KS_TIF_GTC, KS_TIF_IOC, KS_TIF_FOK, KS_TIF_POST_ONLY};
    static const char *const known[] = {"symbol", "side",        "qty",   "price", "type",
                                        "tif",    "reduce_only", "venue", NULL};

    luaL_checktype(L, 1, LUA_TTABLE);
    check_keys(L, 1, known, "ctx.order: unknown field");
    raw_field(L, 1, "symbol");
    const char *symbol = luaL_checkstring(L, -1);
    raw_field(L, 1, "venue");
    const char *venue = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
    raw_field(L, 1, "side");
    int side = parse_enum(L, "side", luaL_checkstring(L, -1), sides, side_v);
    raw_field(L, 1, "qty");
    double qty = luaL_checknumber(L, -1);
    raw_field(L, 1, "price");
    bool has_price = !lua_isnil(L, -1);
    double price = has_price ? luaL_checknumber(L, -1) : 0;
    raw_field(L, 1, "type");
    int type = lua_isnil(L, -1) ? (has_price ? KS_ORD_LIMIT : KS_ORD_MARKET)
                                : parse_enum(L, "type", luaL_checkstring(L, -1), types, type_v);
    raw_field(L, 1, "tif");
    int tif = lua_isnil(L, -1) ? (type == KS_ORD_MARKET ? KS_TIF_IOC : KS_TIF_GTC)
                               : parse_enum(L, "tif", luaL_checkstring(L, -1), tifs, tif_v);
    raw_field(L, 1, "reduce_only");
    bool reduce_only = lua_toboolean(L, -1);

    if (type == KS_ORD_LIMIT && !has_price)
        return luaL_error(L, "ctx.order: a limit order needs a price");
    if (!(qty > 0) || !isfinite(qty))
        return luaL_error(L, "ctx.order: qty must be a positive number");
    if (has_price && (!(price > 0) || !isfinite(price)))
        return luaL_error(L, "ctx.order: price must be a positive number");

    if (ks_strategy_cfg(st)->mode == KS_MODE_OBSERVER) {
        lua_pushnil(L);
        lua_pushliteral(L, "observer mode: orders are never sent");
        return 2;
    }
    int32_t inst = resolve_inst(L, st, symbol, venue);
    if (inst < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "unknown symbol %s", symbol);
        return 2;
    }
    ks_order_intent_t in;
    KS_INIT(&in);
    in.strategy = ks_strategy_name(st);
    in.inst = inst;
    in.side = (int8_t)side;
    in.type = (uint8_t)type;
    in.tif = (uint8_t)tif;
    in.reduce_only = reduce_only;
    if (ks_dec_from_double(qty, 12, KS_ROUND_HALF_EVEN, &in.qty) != KS_OK ||
        (has_price && ks_dec_from_double(price, 12, KS_ROUND_HALF_EVEN, &in.price) != KS_OK))
        return luaL_error(L, "ctx.order: price or qty out of range");
    char cloid[KS_CLOID_LEN], err[KS_REASON_LEN];
    if (ks_engine_submit(eng, ks_strategy_index(st), &in, cloid, err, sizeof(err)) != KS_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushstring(L, cloid);
    return 1;
}

static int ctx_cancel(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_START | PH_EVENT | PH_STOP | PH_RELOAD, "cancel");
    const char *cloid = luaL_checkstring(L, 1);
    char err[KS_REASON_LEN];
    if (ks_engine_cancel(ks_strategy_engine(st), ks_strategy_index(st), cloid, err, sizeof(err)) !=
        KS_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

typedef struct cancel_sym {
    ks_engine_t *eng;
    int32_t inst;
    int n;
} cancel_sym_t;

static void cancel_if_inst(void *ud, ks_order_t *o)
{
    cancel_sym_t *c = ud;
    char err[KS_REASON_LEN];
    if (o->inst == c->inst &&
        ks_engine_cancel(c->eng, o->strat, o->rec.cloid, err, sizeof(err)) == KS_OK)
        c->n++;
}

static int ctx_cancel_all(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_START | PH_EVENT | PH_STOP | PH_RELOAD, "cancel_all");
    const char *symbol = luaL_optstring(L, 1, NULL);
    ks_engine_t *eng = ks_strategy_engine(st);
    if (!symbol) {
        lua_pushinteger(L, ks_engine_cancel_all(eng, ks_strategy_index(st), "ctx.cancel_all"));
        return 1;
    }
    cancel_sym_t c = {eng, resolve_inst(L, st, symbol, NULL), 0};
    if (c.inst < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "unknown symbol %s", symbol);
        return 2;
    }
    ks_oms_foreach_open(ks_engine_oms(eng), ks_strategy_index(st), cancel_if_inst, &c);
    lua_pushinteger(L, c.n);
    return 1;
}

void ks_lua_api_push_position(lua_State *L, ks_strategy_t *st, int32_t inst)
{
    ks_engine_t *eng = ks_strategy_engine(st);
    ks_oms_t *oms = ks_engine_oms(eng);
    const ks_pos_t *p = ks_oms_position(oms, ks_strategy_index(st), inst);
    const ks_inst_rec_t *r = ks_market_inst(ks_engine_market(eng), inst);
    lua_createtable(L, 0, 8);
    if (r)
        set_str(L, "symbol", r->symbol);
    set_dec(L, "qty", p->qty);
    set_dec(L, "avg_entry", p->avg_entry);
    set_dec(L, "realized_pnl", p->realized);
    set_dec(L, "unrealized_pnl", ks_oms_unrealized(oms, p, inst));
    set_dec(L, "fees", p->fees);
    set_dec(L, "funding", p->funding);
}

static int ctx_position(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_RUNNING, "position");
    const char *symbol = luaL_checkstring(L, 1);
    int32_t inst = resolve_inst(L, st, symbol, luaL_optstring(L, 2, NULL));
    if (inst < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "unknown symbol %s", symbol);
        return 2;
    }
    ks_lua_api_push_position(L, st, inst);
    return 1;
}

static int ctx_balance(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_RUNNING, "balance");
    const char *asset = luaL_checkstring(L, 1);
    const char *wname = luaL_optstring(L, 2, "futures");
    int wallet = strcmp(wname, "spot") == 0      ? KS_WALLET_SPOT
                 : strcmp(wname, "futures") == 0 ? KS_WALLET_FUTURES
                 : strcmp(wname, "unified") == 0 ? KS_WALLET_UNIFIED
                                                 : -1;
    if (wallet < 0)
        return luaL_error(L, "ctx.balance: wallet must be spot, futures or unified");
    const ks_balance_t *b =
        ks_engine_balance(ks_strategy_engine(st), ks_strategy_venue(st), wallet, asset);
    if (!b && wallet == KS_WALLET_FUTURES)
        b = ks_engine_balance(ks_strategy_engine(st), ks_strategy_venue(st), KS_WALLET_UNIFIED,
                              asset);
    if (!b) {
        lua_pushnil(L);
        lua_pushfstring(L, "no %s balance for %s", wname, asset);
        return 2;
    }
    lua_createtable(L, 0, 5);
    set_str(L, "asset", b->asset);
    set_str(L, "wallet", ks_wallet_name(b->wallet));
    set_dec(L, "total", b->total);
    set_dec(L, "available", b->available);
    if (!ks_dec_is_zero(b->equity))
        set_dec(L, "equity", b->equity);
    return 1;
}

static int ctx_timer(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_START | PH_EVENT | PH_RELOAD, "timer");
    const char *name = luaL_checkstring(L, 1);
    double after = luaL_checknumber(L, 2);
    double every = luaL_optnumber(L, 3, 0);
    if (!(after >= 0) || !(every >= 0) || after > 1e7 || every > 1e7)
        return luaL_error(L, "ctx.timer: times must be seconds in [0, 1e7]");
    if (every > 0 && every < 0.001)
        return luaL_error(L, "ctx.timer: a repeating timer needs at least 1 ms");
    if (strlen(name) >= KS_NAME_LEN)
        return luaL_error(L, "ctx.timer: name too long");
    int rc = ks_strategy_timer(st, name, after, every);
    if (rc != KS_OK)
        return luaL_error(L, "ctx.timer: %s", rc == KS_ERANGE ? "too many timers (64)" : "failed");
    return 0;
}

static int ctx_cancel_timer(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_RUNNING, "cancel_timer");
    ks_strategy_timer_cancel(st, luaL_checkstring(L, 1));
    return 0;
}

static int ctx_subscribe(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_START | PH_EVENT | PH_RELOAD, "subscribe");
    const char *symbol = luaL_checkstring(L, 1);
    const char *venue = luaL_optstring(L, 2, NULL);
    ks_engine_t *eng = ks_strategy_engine(st);
    uint32_t v = ks_strategy_venue(st);
    if (venue) {
        int vi = ks_engine_venue_by_name(eng, venue);
        if (vi < 0) {
            lua_pushnil(L);
            lua_pushfstring(L, "unknown venue %s", venue);
            return 2;
        }
        v = (uint32_t)vi;
    }
    ks_engine_subscribe(eng, ks_strategy_index(st), v, symbol);
    lua_pushboolean(L, 1);
    return 1;
}

static int ctx_metric(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_ANY, "metric");
    const char *name = luaL_checkstring(L, 1);
    double v = luaL_checknumber(L, 2);
    size_t n = strlen(name);
    if (n == 0 || n >= KS_NAME_LEN)
        return luaL_error(L, "ctx.metric: name must be 1..%d characters", KS_NAME_LEN - 1);
    for (const char *p = name; *p; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9')))
            return luaL_error(L, "ctx.metric: name must match [A-Za-z0-9_]+");
    if (ks_strategy_metric(st, name, v) != KS_OK)
        return luaL_error(L, "ctx.metric: too many metrics (256)");
    return 0;
}

/* ctx.report_note(text): a line for the notes of the backtest report (summary.json and
 * report.html), e.g. how the strategy was configured for the data. Journaled once per
 * distinct text per VM ("report.note", detail: the text as a JSON string). */
#define MAX_REPORT_NOTES 32
static int ctx_report_note(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_ANY, "report_note");
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    char err[200], *json = NULL;
    if (len == 0 || len > 300 || strlen(text) != len)
        return luaL_error(L, "ctx.report_note: text must be 1..300 bytes of text");
    lua_getfield(L, LUA_REGISTRYINDEX, "kestrel.notes");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, "kestrel.notes");
    }
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    bool seen = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (seen) {
        lua_pop(L, 1);
        return 0;
    }
    lua_rawgeti(L, -1, 1); /* the count lives at [1]; notes are string keys */
    int n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (n >= MAX_REPORT_NOTES)
        return luaL_error(L, "ctx.report_note: too many notes (%d)", MAX_REPORT_NOTES);
    lua_pushinteger(L, n + 1);
    lua_rawseti(L, -2, 1);
    lua_pushvalue(L, 1);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    if (ks_lua_to_json(L, 1, "note", &json, err, sizeof(err)) != 0)
        return luaL_error(L, "ctx.report_note: %s", err);
    ks_engine_journal(ks_strategy_engine(st), "report.note", ks_strategy_name(st), json);
    free(json);
    return 0;
}

/* ctx.markets{...}: the venue's universe filtered; sorted by symbol. */
static int cmp_symbol(const void *a, const void *b)
{
    const ks_inst_rec_t *const *x = a, *const *y = b;
    return strcmp((*x)->symbol, (*y)->symbol);
}

static int ctx_markets(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_RUNNING, "markets");
    ks_engine_t *eng = ks_strategy_engine(st);
    ks_market_t *m = ks_engine_market(eng);
    static const char *const known[] = {"venue",          "kind",           "quote",
                                        "base",           "min_volume_24h", "min_funding_8h",
                                        "max_funding_8h", "symbols",        NULL};
    uint32_t venue = ks_strategy_venue(st);
    const char *kind = NULL, *quote = NULL, *base = NULL;
    double min_vol = -1, min_f = -1e300, max_f = 1e300;
    int symbols = 0;

    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        check_keys(L, 1, known, "ctx.markets: unknown filter");
        raw_field(L, 1, "venue");
        if (!lua_isnil(L, -1)) {
            int v = ks_engine_venue_by_name(eng, luaL_checkstring(L, -1));
            if (v < 0)
                return luaL_error(L, "ctx.markets: unknown venue '%s'", lua_tostring(L, -1));
            venue = (uint32_t)v;
        }
        raw_field(L, 1, "kind");
        kind = luaL_optstring(L, -1, NULL);
        if (kind && strcmp(kind, "spot") != 0 && strcmp(kind, "perp") != 0)
            return luaL_error(L, "ctx.markets: kind must be \"spot\" or \"perp\"");
        raw_field(L, 1, "quote");
        quote = luaL_optstring(L, -1, NULL);
        raw_field(L, 1, "base");
        base = luaL_optstring(L, -1, NULL);
        raw_field(L, 1, "min_volume_24h");
        min_vol = luaL_optnumber(L, -1, -1);
        raw_field(L, 1, "min_funding_8h");
        min_f = luaL_optnumber(L, -1, -1e300);
        raw_field(L, 1, "max_funding_8h");
        max_f = luaL_optnumber(L, -1, 1e300);
        raw_field(L, 1, "symbols");
        if (!lua_isnil(L, -1)) {
            luaL_checktype(L, -1, LUA_TTABLE);
            symbols = lua_gettop(L);
            size_t ns = lua_objlen(L, symbols);
            if (ns > 10000)
                return luaL_error(L, "ctx.markets: at most 10000 symbols in a filter");
            ks_lua_charge(L, (int64_t)m->n * (int64_t)ns);
        }
    }
    ks_lua_charge(L, (int64_t)m->n * 4);
    const ks_inst_rec_t **list = lua_newuserdata(L, (size_t)(m->n ? m->n : 1) * sizeof(*list));
    int n = 0;
    for (int32_t i = 0; i < m->n; i++) {
        const ks_inst_rec_t *r = ks_market_inst(m, i);
        const ks_mkt_t *k = ks_market_state(m, i);
        if (r->venue != venue)
            continue;
        if (kind && strcmp(kind, r->spec.kind == KS_KIND_PERP ? "perp" : "spot") != 0)
            continue;
        if ((quote && strcmp(quote, r->quote) != 0) || (base && strcmp(base, r->base) != 0))
            continue;
        if (min_vol >= 0 && (!(k->ticker_fields & KS_TK_VOLUME_QUOTE_24H) ||
                             ks_dec_to_double(k->ticker.volume_quote_24h) < min_vol))
            continue;
        if (min_f > -1e300 || max_f < 1e300) {
            int ih = (k->ticker_fields & KS_TK_FUNDING_INTERVAL) ? k->ticker.funding_interval_h
                                                                 : r->spec.funding_interval_h;
            if (!(k->ticker_fields & KS_TK_FUNDING_RATE) || ih <= 0)
                continue;
            double f8 = ks_dec_to_double(k->ticker.funding_rate) / ih * 8;
            if (f8 < min_f || f8 > max_f)
                continue;
        }
        if (symbols) {
            bool found = false;
            for (int j = 1; !found; j++) {
                lua_rawgeti(L, symbols, j);
                if (lua_isnil(L, -1)) {
                    lua_pop(L, 1);
                    break;
                }
                found =
                    lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), r->symbol) == 0;
                lua_pop(L, 1);
            }
            if (!found)
                continue;
        }
        list[n++] = r;
    }
    qsort(list, (size_t)n, sizeof(*list), cmp_symbol);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        push_market(L, eng, list[i]->id);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static void push_order_rec(lua_State *L, const ks_order_rec_t *r, int64_t ts)
{
    lua_createtable(L, 0, 14);
    set_str(L, "cloid", r->cloid);
    set_str(L, "symbol", r->symbol);
    set_str(L, "status", ks_order_status_name(r->status));
    set_str(L, "side", ks_side_name(r->side));
    set_str(L, "type", ks_ord_type_name(r->type));
    set_dec(L, "price", r->price);
    set_dec(L, "qty", r->qty);
    set_dec(L, "filled", r->filled);
    set_dec(L, "avg_price", r->avg_price);
    set_dec(L, "fee", r->fee);
    if (r->reason[0])
        set_str(L, "reason", r->reason);
    if (r->reject)
        set_str(L, "reject", ks_reject_name(r->reject));
    set_num(L, "ts", ms(ts ? ts : r->updated_ns));
}

static int ctx_get_order(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_RUNNING, "get_order");
    ks_order_t *o = ks_engine_order(ks_strategy_engine(st), luaL_checkstring(L, 1));
    if (!o || o->strat != ks_strategy_index(st)) {
        lua_pushnil(L);
        return 1;
    }
    push_order_rec(L, &o->rec, 0);
    return 1;
}

typedef struct open_ctx {
    lua_State *L;
    const char *symbol;
    int n;
} open_ctx_t;

static void collect_open(void *ud, ks_order_t *o)
{
    open_ctx_t *c = ud;
    if (c->symbol && strcmp(c->symbol, o->rec.symbol) != 0)
        return;
    push_order_rec(c->L, &o->rec, 0);
    lua_rawseti(c->L, -2, ++c->n);
}

static int ctx_open_orders(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_RUNNING, "open_orders");
    open_ctx_t c = {L, luaL_optstring(L, 1, NULL), 0};
    lua_newtable(L);
    ks_oms_foreach_open(ks_engine_oms(ks_strategy_engine(st)), ks_strategy_index(st), collect_open,
                        &c);
    return 1;
}

static int ctx_amend(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_START | PH_EVENT | PH_RELOAD, "amend");
    const char *cloid = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    ks_dec_t price = KS_DEC_ZERO, qty = KS_DEC_ZERO;
    raw_field(L, 2, "price");
    if (!lua_isnil(L, -1) &&
        ks_dec_from_double(luaL_checknumber(L, -1), 12, KS_ROUND_HALF_EVEN, &price) != KS_OK)
        return luaL_error(L, "ctx.amend: price out of range");
    raw_field(L, 2, "qty");
    if (!lua_isnil(L, -1) &&
        ks_dec_from_double(luaL_checknumber(L, -1), 12, KS_ROUND_HALF_EVEN, &qty) != KS_OK)
        return luaL_error(L, "ctx.amend: qty out of range");
    if (ks_dec_sign(price) < 0 || ks_dec_sign(qty) < 0 || (price.mant == 0 && qty.mant == 0))
        return luaL_error(L, "ctx.amend: give a positive price and/or qty");
    char err[KS_REASON_LEN];
    if (ks_engine_amend(ks_strategy_engine(st), ks_strategy_index(st), cloid, price, qty, err,
                        sizeof(err)) != KS_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int ctx_positions(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_RUNNING, "positions");
    ks_engine_t *eng = ks_strategy_engine(st);
    ks_market_t *m = ks_engine_market(eng);
    int n = 0;
    lua_newtable(L);
    for (int32_t i = 0; i < m->n; i++) {
        if (ks_dec_is_zero(ks_oms_position(ks_engine_oms(eng), ks_strategy_index(st), i)->qty))
            continue;
        ks_lua_api_push_position(L, st, i);
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

static int ctx_margin_level(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_RUNNING, "margin_level");
    ks_engine_t *eng = ks_strategy_engine(st);
    uint32_t venue = ks_strategy_venue(st);
    const char *vn = luaL_optstring(L, 1, NULL);
    double lvl;
    if (vn) {
        int v = ks_engine_venue_by_name(eng, vn);
        if (v < 0)
            return luaL_error(L, "ctx.margin_level: unknown venue '%s'", vn);
        venue = (uint32_t)v;
    }
    if (!ks_engine_margin_level(eng, venue, &lvl))
        lua_pushnil(L);
    else
        lua_pushnumber(L, lvl);
    return 1;
}

static int ctx_equity(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_RUNNING, "equity");
    lua_pushnumber(
        L, ks_dec_to_double(ks_engine_equity(ks_strategy_engine(st), ks_strategy_index(st))));
    return 1;
}

static int wallet_arg(lua_State *L, const char *fn, const char *v)
{
    if (strcmp(v, "spot") == 0)
        return KS_WALLET_SPOT;
    if (strcmp(v, "futures") == 0)
        return KS_WALLET_FUTURES;
    if (strcmp(v, "unified") == 0)
        return KS_WALLET_UNIFIED;
    return luaL_error(L, "%s: wallet must be spot, futures or unified, got '%s'", fn, v);
}

static int ctx_transfer(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_START | PH_EVENT | PH_RELOAD, "transfer");
    ks_engine_t *eng = ks_strategy_engine(st);
    luaL_checktype(L, 1, LUA_TTABLE);
    raw_field(L, 1, "asset");
    const char *asset = luaL_checkstring(L, -1);
    raw_field(L, 1, "amount");
    double amount = luaL_checknumber(L, -1);
    raw_field(L, 1, "from");
    int from = wallet_arg(L, "ctx.transfer", luaL_checkstring(L, -1));
    raw_field(L, 1, "to");
    int to = wallet_arg(L, "ctx.transfer", luaL_checkstring(L, -1));
    raw_field(L, 1, "venue");
    uint32_t venue = ks_strategy_venue(st);
    if (!lua_isnil(L, -1)) {
        int v = ks_engine_venue_by_name(eng, luaL_checkstring(L, -1));
        if (v < 0)
            return luaL_error(L, "ctx.transfer: unknown venue '%s'", lua_tostring(L, -1));
        venue = (uint32_t)v;
    }
    if (strlen(asset) >= KS_ASSET_LEN || from == to)
        return luaL_error(L, "ctx.transfer: invalid asset or wallets");
    if (ks_strategy_cfg(st)->mode == KS_MODE_OBSERVER) {
        lua_pushnil(L);
        lua_pushliteral(L, "observer mode: transfers are never sent");
        return 2;
    }
    ks_dec_t amt;
    if (!(amount > 0) || ks_dec_from_double(amount, 8, KS_ROUND_FLOOR, &amt) != KS_OK)
        return luaL_error(L, "ctx.transfer: amount must be a positive number");
    uint64_t id;
    char err[KS_REASON_LEN];
    if (ks_engine_transfer(eng, ks_strategy_index(st), venue, asset, amt, from, to, &id, err,
                           sizeof(err)) != KS_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    char ids[24];
    snprintf(ids, sizeof(ids), "%llu", (unsigned long long)id);
    lua_pushstring(L, ids);
    return 1;
}

void ks_lua_api_push_notice(lua_State *L, const ks_risk_notice_t *n)
{
    lua_createtable(L, 0, 3);
    set_str(L, "module", n->module);
    set_str(L, "reason", n->reason);
    if (n->symbol)
        set_str(L, "symbol", n->symbol);
}

void ks_lua_api_push_transfer(lua_State *L, const ks_transfer_result_t *r)
{
    char ids[24];
    snprintf(ids, sizeof(ids), "%llu", (unsigned long long)r->req_id);
    lua_createtable(L, 0, 7);
    set_str(L, "id", ids);
    set_bool(L, "ok", r->rc == KS_OK);
    set_str(L, "asset", r->asset);
    set_dec(L, "amount", r->amount);
    set_str(L, "from", ks_wallet_name(r->from));
    set_str(L, "to", ks_wallet_name(r->to));
    if (r->detail[0])
        set_str(L, "reason", r->detail);
}

static int ctx_record(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_RUNNING, "record");
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    size_t n = strlen(name);
    if (n == 0 || n > 32)
        return luaL_error(L, "ctx.record: name must be 1..32 characters");
    for (const char *p = name; *p; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return luaL_error(L, "ctx.record: name must match [a-z0-9_]+");
    /* A row is flat: named scalars, at most 64 of them. */
    int keys = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        if (++keys > 64)
            return luaL_error(L, "ctx.record: a row has at most 64 values");
        int t = lua_type(L, -1);
        if (lua_type(L, -2) != LUA_TSTRING ||
            !(t == LUA_TNUMBER || t == LUA_TSTRING || t == LUA_TBOOLEAN))
            return luaL_error(L, "ctx.record: a row maps names to numbers, strings or booleans");
        lua_pop(L, 1);
    }
    char *json = NULL, err[KS_REASON_LEN];
    if (ks_lua_to_json(L, 2, "row", &json, err, sizeof(err)) != 0)
        return luaL_error(L, "ctx.record: %s", err);
    if (strlen(json) > 8192) {
        free(json);
        return luaL_error(L, "ctx.record: row larger than 8 KiB");
    }
    int rc = ks_engine_record(ks_strategy_engine(st), ks_strategy_index(st), name, json, err,
                              sizeof(err));
    free(json);
    if (rc != KS_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

void ks_lua_api_push_hedge(lua_State *L, const ks_hedge_t *h)
{
    ks_engine_t *eng = ks_legs_engine(h->owner);
    ks_market_t *m = ks_engine_market(eng);
    lua_createtable(L, 0, 5);
    set_str(L, "id", h->id);
    set_str(L, "state", ks_hedge_state_name(h->state));
    if (h->reason[0])
        set_str(L, "reason", h->reason);
    if (h->tag[0])
        set_str(L, "tag", h->tag);
    lua_createtable(L, h->n_legs, 0);
    for (int i = 0; i < h->n_legs; i++) {
        const ks_leg_t *l = &h->legs[i];
        ks_dec_t avg = KS_DEC_ZERO;
        if (l->open_qty.mant > 0)
            ks_dec_div(l->open_notional, l->open_qty, 12, KS_ROUND_HALF_EVEN, &avg);
        lua_createtable(L, 0, 5);
        set_str(L, "symbol", ks_market_inst(m, l->inst)->symbol);
        set_str(L, "side", ks_side_name(l->side));
        set_dec(L, "qty", l->target);
        set_dec(L, "filled", l->pos);
        set_dec(L, "avg_price", avg);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "legs");
}

static int ctx_hedge(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_START | PH_EVENT | PH_RELOAD, "hedge");
    ks_engine_t *eng = ks_strategy_engine(st);
    static const char *const known[] = {
        "legs", "open_timeout_ms", "max_slippage_bps", "balance", "tag", NULL};
    static const char *const leg_known[] = {"symbol", "side", "qty", "venue", NULL};
    ks_hedge_spec_t spec;
    memset(&spec, 0, sizeof(spec));
    luaL_checktype(L, 1, LUA_TTABLE);
    check_keys(L, 1, known, "ctx.hedge: unknown field");
    spec.strat = ks_strategy_index(st);
    raw_field(L, 1, "open_timeout_ms");
    double to = luaL_optnumber(L, -1, 5000);
    if (!(to > 0) || to > 3600000)
        return luaL_error(L, "ctx.hedge: open_timeout_ms must be in (0, 3600000]");
    spec.open_timeout_ns = (int64_t)(to * 1e6);
    raw_field(L, 1, "max_slippage_bps");
    double sl = luaL_optnumber(L, -1, 50);
    if (!(sl >= 0) || sl > 10000)
        return luaL_error(L, "ctx.hedge: max_slippage_bps must be in [0, 10000]");
    spec.max_slippage_bps = (int32_t)sl;
    raw_field(L, 1, "balance");
    const char *bal = luaL_optstring(L, -1, "trim");
    if (strcmp(bal, "trim") != 0 && strcmp(bal, "top_up") != 0)
        return luaL_error(L, "ctx.hedge: balance must be \"trim\" or \"top_up\"");
    spec.top_up = strcmp(bal, "top_up") == 0;
    raw_field(L, 1, "tag");
    spec.tag = luaL_optstring(L, -1, NULL);
    raw_field(L, 1, "legs");
    luaL_checktype(L, -1, LUA_TTABLE);
    int legs = lua_gettop(L);
    int n = (int)lua_objlen(L, legs);
    if (n < 2 || n > KS_LEGS_MAX)
        return luaL_error(L, "ctx.hedge: legs must be a list of 2 to %d legs", KS_LEGS_MAX);
    spec.n_legs = n;
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, legs, i + 1);
        int leg = lua_gettop(L);
        luaL_checktype(L, leg, LUA_TTABLE);
        char what[64];
        snprintf(what, sizeof(what), "ctx.hedge: legs[%d]: unknown field", i + 1);
        check_keys(L, leg, leg_known, what);
        raw_field(L, leg, "symbol");
        const char *symbol = luaL_checkstring(L, -1);
        raw_field(L, leg, "venue");
        const char *venue = lua_isnil(L, -1) ? NULL : luaL_checkstring(L, -1);
        raw_field(L, leg, "side");
        const char *side = luaL_checkstring(L, -1);
        raw_field(L, leg, "qty");
        double qty = luaL_checknumber(L, -1);
        if (strcmp(side, "buy") != 0 && strcmp(side, "sell") != 0)
            return luaL_error(L, "ctx.hedge: legs[%d].side must be \"buy\" or \"sell\"", i + 1);
        if (!(qty > 0) || !isfinite(qty))
            return luaL_error(L, "ctx.hedge: legs[%d].qty must be a positive number", i + 1);
        int32_t inst = resolve_inst(L, st, symbol, venue);
        if (inst < 0) {
            lua_pushnil(L);
            lua_pushfstring(L, "legs[%d]: unknown symbol %s", i + 1, symbol);
            return 2;
        }
        spec.legs[i].inst = inst;
        spec.legs[i].side = strcmp(side, "buy") == 0 ? KS_SIDE_BUY : KS_SIDE_SELL;
        if (ks_dec_from_double(qty, 12, KS_ROUND_HALF_EVEN, &spec.legs[i].qty) != KS_OK)
            return luaL_error(L, "ctx.hedge: legs[%d].qty out of range", i + 1);
        lua_settop(L, legs);
    }
    if (ks_strategy_cfg(st)->mode == KS_MODE_OBSERVER) {
        lua_pushnil(L);
        lua_pushliteral(L, "observer mode: orders are never sent");
        return 2;
    }
    ks_hedge_t *h;
    char err[KS_REASON_LEN];
    if (ks_legs_open(ks_engine_legs(eng), &spec, &h, err, sizeof(err)) != KS_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushstring(L, h->id);
    return 1;
}

static int ctx_close_hedge(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_START | PH_EVENT | PH_STOP | PH_RELOAD, "close_hedge");
    char err[KS_REASON_LEN];
    double fr = luaL_optnumber(L, 2, 1);
    ks_dec_t fraction;
    if (!(fr > 0) || fr > 1 || ks_dec_from_double(fr, 8, KS_ROUND_HALF_EVEN, &fraction) != KS_OK)
        return luaL_error(L, "ctx.close_hedge: fraction must be in (0, 1]");
    if (ks_legs_close(ks_engine_legs(ks_strategy_engine(st)), ks_strategy_index(st),
                      luaL_checkstring(L, 1), fraction, err, sizeof(err)) != KS_OK) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int ctx_get_hedge(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_RUNNING, "get_hedge");
    ks_hedge_t *h = ks_legs_find(ks_engine_legs(ks_strategy_engine(st)), luaL_checkstring(L, 1));
    if (!h || h->strat != ks_strategy_index(st))
        lua_pushnil(L);
    else
        ks_lua_api_push_hedge(L, h);
    return 1;
}

typedef struct hedges_ctx {
    lua_State *L;
    int n;
} hedges_ctx_t;

static void collect_hedge(void *ud, ks_hedge_t *h)
{
    hedges_ctx_t *c = ud;
    ks_lua_api_push_hedge(c->L, h);
    lua_rawseti(c->L, -2, ++c->n);
}

static int ctx_hedges(lua_State *L)
{
    ks_strategy_t *st = strat(L, PH_RUNNING, "hedges");
    hedges_ctx_t c = {L, 0};
    lua_newtable(L);
    ks_legs_foreach(ks_engine_legs(ks_strategy_engine(st)), ks_strategy_index(st), false,
                    collect_hedge, &c);
    return 1;
}

static const luaL_Reg ctx_funcs[] = {
    {"now", ctx_now},
    {"log", ctx_log},
    {"market", ctx_market},
    {"order", ctx_order},
    {"cancel", ctx_cancel},
    {"cancel_all", ctx_cancel_all},
    {"position", ctx_position},
    {"balance", ctx_balance},
    {"timer", ctx_timer},
    {"cancel_timer", ctx_cancel_timer},
    {"subscribe", ctx_subscribe},
    {"metric", ctx_metric},
    {"markets", ctx_markets},
    {"get_order", ctx_get_order},
    {"open_orders", ctx_open_orders},
    {"amend", ctx_amend},
    {"positions", ctx_positions},
    {"margin_level", ctx_margin_level},
    {"equity", ctx_equity},
    {"transfer", ctx_transfer},
    {"hedge", ctx_hedge},
    {"close_hedge", ctx_close_hedge},
    {"get_hedge", ctx_get_hedge},
    {"hedges", ctx_hedges},
    {"record", ctx_record},
    {"report_note", ctx_report_note},
    {NULL, NULL},
};

void ks_lua_api_push_ctx(lua_State *L, ks_strategy_t *st)
{
    const ks_strategy_cfg_t *cfg = ks_strategy_cfg(st);
    lua_createtable(L, 0, 24);
    for (const luaL_Reg *f = ctx_funcs; f->name; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, -2, f->name);
    }
    set_str(L, "name", cfg->name);
    set_str(L, "mode", ks_strategy_mode_name(cfg->mode));
    set_str(L, "venue", cfg->venue);
    lua_createtable(L, cfg->n_symbols, 0);
    for (int i = 0; i < cfg->n_symbols; i++) {
        lua_pushstring(L, cfg->symbols[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "symbols");
    lua_getfield(L, LUA_REGISTRYINDEX, "kestrel.params");
    lua_setfield(L, -2, "params");
    ks_dec_t cap;
    if (cfg->capital && ks_dec_parse(cfg->capital, (size_t)-1, &cap) == KS_OK)
        set_dec(L, "capital", cap);
}

/* ---- events ----------------------------------------------------------------------- */

void ks_lua_api_push_event(lua_State *L, ks_strategy_t *st, const ks_event_t *ev)
{
    ks_engine_t *eng = ks_strategy_engine(st);
    const ks_inst_rec_t *r = ks_market_inst(ks_engine_market(eng), ev->inst);
    lua_createtable(L, 0, 12);
    if (r)
        set_str(L, "symbol", r->symbol);
    set_num(L, "ts", ms(ev->venue_ts));
    switch ((ks_event_type_t)ev->type) {
    case KS_EV_BBO: {
        const ks_bbo_t *b = (const ks_bbo_t *)ev;
        set_dec(L, "bid", b->bid_px);
        set_dec(L, "bid_qty", b->bid_qty);
        set_dec(L, "ask", b->ask_px);
        set_dec(L, "ask_qty", b->ask_qty);
        break;
    }
    case KS_EV_BOOK: {
        const ks_book_t *b = (const ks_book_t *)ev;
        set_bool(L, "snapshot", b->snapshot);
        for (int side = 0; side < 2; side++) {
            uint32_t n = side ? b->n_asks : b->n_bids;
            const ks_level_t *lv = side ? b->asks : b->bids;
            lua_createtable(L, (int)n, 0);
            for (uint32_t i = 0; i < n; i++) {
                lua_createtable(L, 2, 0);
                lua_pushnumber(L, ks_dec_to_double(lv[i].px));
                lua_rawseti(L, -2, 1);
                lua_pushnumber(L, ks_dec_to_double(lv[i].qty));
                lua_rawseti(L, -2, 2);
                lua_rawseti(L, -2, (int)i + 1);
            }
            lua_setfield(L, -2, side ? "asks" : "bids");
        }
        break;
    }
    case KS_EV_TRADE: {
        const ks_trade_t *t = (const ks_trade_t *)ev;
        set_dec(L, "price", t->px);
        set_dec(L, "qty", t->qty);
        set_str(L, "side", ks_side_name(t->side));
        break;
    }
    case KS_EV_TICKER: {
        const ks_ticker_t *t = (const ks_ticker_t *)ev;
        if (t->fields & KS_TK_LAST)
            set_dec(L, "last", t->last);
        if (t->fields & KS_TK_MARK)
            set_dec(L, "mark", t->mark);
        if (t->fields & KS_TK_INDEX)
            set_dec(L, "index", t->index);
        if (t->fields & KS_TK_BID)
            set_dec(L, "bid", t->bid);
        if (t->fields & KS_TK_ASK)
            set_dec(L, "ask", t->ask);
        if (t->fields & KS_TK_FUNDING_RATE)
            set_dec(L, "funding_rate", t->funding_rate);
        if (t->fields & KS_TK_NEXT_FUNDING)
            set_num(L, "next_funding_ts", ms(t->next_funding_ts));
        if (t->fields & KS_TK_FUNDING_INTERVAL)
            set_num(L, "funding_interval_h", t->funding_interval_h);
        if (t->fields & KS_TK_OPEN_INTEREST)
            set_dec(L, "open_interest", t->open_interest);
        if (t->fields & KS_TK_VOLUME_QUOTE_24H)
            set_dec(L, "volume_24h", t->volume_quote_24h);
        break;
    }
    case KS_EV_ORACLE:
        set_dec(L, "price", ((const ks_oracle_t *)ev)->px);
        break;
    case KS_EV_LIQUIDATION: {
        const ks_liquidation_t *l = (const ks_liquidation_t *)ev;
        set_str(L, "side", ks_side_name(l->side));
        set_dec(L, "price", l->px);
        set_dec(L, "qty", l->qty);
        break;
    }
    case KS_EV_ORDER: {
        const ks_order_update_t *u = (const ks_order_update_t *)ev;
        ks_order_t *o = ks_oms_find(ks_engine_oms(eng), u->cloid);
        lua_pop(L, 1); /* the OMS record is the truth: it already merged this update */
        if (o) {
            push_order_rec(L, &o->rec, ev->venue_ts);
        } else {
            lua_createtable(L, 0, 4);
            set_str(L, "cloid", u->cloid);
            set_str(L, "status", ks_order_status_name(u->status));
        }
        break;
    }
    case KS_EV_FILL: {
        const ks_fill_t *f = (const ks_fill_t *)ev;
        set_str(L, "cloid", f->cloid);
        set_str(L, "trade_id", f->trade_id);
        set_str(L, "side", ks_side_name(f->side));
        set_dec(L, "price", f->px);
        set_dec(L, "qty", f->qty);
        set_dec(L, "fee", f->fee);
        set_str(L, "fee_asset", f->fee_asset);
        set_bool(L, "maker", f->maker);
        break;
    }
    default:
        set_str(L, "type", ks_event_type_name(ev->type));
        break;
    }
}
