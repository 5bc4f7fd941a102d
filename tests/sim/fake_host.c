/* The fake host: see fake_host.h. Timers live in a binary heap keyed by (due, id), so
 * timers due at the same instant fire in creation order, as a deterministic host must. */
#include "fake_host.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_test_util.h"

void fh_init(ks_host_t *h, int64_t wall0)
{
    memset(h, 0, sizeof(*h));
    h->wall0 = wall0;
    h->next_timer_id = 1;
    h->record = true;
    h->hash = 0xcbf29ce484222325ULL;
    h->trace = getenv("KS_SIM_TRACE") != NULL;
}

void fh_free(ks_host_t *h)
{
    free(h->timers);
    free(h->heap);
    free(h->ev);
    memset(h, 0, sizeof(*h));
}

int64_t fh_wall(const ks_host_t *h)
{
    return h->wall0 + h->now;
}

/* ---- timer heap ---------------------------------------------------------------------- */

static bool earlier(const ks_host_t *h, uint32_t a, uint32_t b)
{
    const fh_timer_t *x = &h->timers[a], *y = &h->timers[b];
    return x->due < y->due || (x->due == y->due && x->id < y->id);
}

static void heap_push(ks_host_t *h, uint32_t t)
{
    if (h->n_heap == h->cap_heap) {
        h->cap_heap = h->cap_heap ? h->cap_heap * 2 : 16;
        h->heap = realloc(h->heap, h->cap_heap * sizeof(*h->heap));
    }
    uint32_t i = h->n_heap++;
    h->heap[i] = t;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!earlier(h, h->heap[i], h->heap[parent]))
            break;
        uint32_t tmp = h->heap[i];
        h->heap[i] = h->heap[parent];
        h->heap[parent] = tmp;
        i = parent;
    }
}

static uint32_t heap_pop(ks_host_t *h)
{
    uint32_t top = h->heap[0];
    h->heap[0] = h->heap[--h->n_heap];
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n_heap && earlier(h, h->heap[l], h->heap[m]))
            m = l;
        if (r < h->n_heap && earlier(h, h->heap[r], h->heap[m]))
            m = r;
        if (m == i)
            break;
        uint32_t tmp = h->heap[i];
        h->heap[i] = h->heap[m];
        h->heap[m] = tmp;
        i = m;
    }
    return top;
}

void fh_run_until(ks_host_t *h, int64_t t)
{
    while (h->n_heap) {
        uint32_t top = h->heap[0];
        if (h->timers[top].active && h->timers[top].due > t)
            break;
        heap_pop(h);
        fh_timer_t *tm = &h->timers[top];
        if (!tm->active)
            continue; /* stopped: lazily dropped */
        h->now = tm->due;
        if (!tm->repeat)
            tm->active = false;
        tm->cb(tm->ud); /* may start (realloc timers) or stop timers */
        tm = &h->timers[top];
        if (tm->active && tm->repeat) {
            tm->due += tm->repeat;
            heap_push(h, top);
        }
    }
    if (t > h->now)
        h->now = t;
}

void fh_advance(ks_host_t *h, int64_t dt)
{
    fh_run_until(h, h->now + dt);
}

size_t fh_active_timers(const ks_host_t *h)
{
    size_t n = 0;
    for (uint32_t i = 0; i < h->n_timers; i++)
        n += h->timers[i].active;
    return n;
}

/* ---- host API ------------------------------------------------------------------------ */

static void api_log(ks_host_t *h, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->last_log, sizeof(h->last_log), fmt, ap);
    va_end(ap);
    h->n_logs++;
    if (h->trace)
        printf("  log[%d] %s\n", level, h->last_log);
}

static int64_t api_now(ks_host_t *h)
{
    return h->now;
}

static int64_t api_wall(ks_host_t *h)
{
    return fh_wall(h);
}

static uint64_t api_timer_start(ks_host_t *h, int64_t after, int64_t repeat, ks_timer_cb cb,
                                void *ud)
{
    if (!cb || after < 0 || repeat < 0)
        return 0;
    if (h->n_timers == h->cap_timers) {
        h->cap_timers = h->cap_timers ? h->cap_timers * 2 : 16;
        h->timers = realloc(h->timers, h->cap_timers * sizeof(*h->timers));
    }
    uint32_t i = h->n_timers++;
    fh_timer_t *t = &h->timers[i];
    t->id = h->next_timer_id++;
    t->due = h->now + after;
    t->repeat = repeat;
    t->cb = cb;
    t->ud = ud;
    t->active = true;
    heap_push(h, i);
    return t->id;
}

static void api_timer_stop(ks_host_t *h, uint64_t id)
{
    if (id >= 1 && id <= h->n_timers)
        h->timers[id - 1].active = false; /* ids are 1-based slot numbers */
}

static int api_instrument_upsert(ks_host_t *h, const ks_instrument_t *in, int32_t *id)
{
    int32_t found = fh_inst_id(h, in->symbol);
    fh_inst_t *r;
    if (found >= 0) {
        r = (fh_inst_t *)fh_inst_get(h, found);
    } else {
        if (h->n_inst >= (int)(sizeof(h->inst) / sizeof(h->inst[0])))
            return KS_ERANGE;
        r = &h->inst[h->n_inst];
        r->id = 1000 + 7 * h->n_inst; /* not 0..n-1: the plugin must map ids */
        h->n_inst++;
    }
    r->spec = *in;
    ks_strlcpy(r->symbol, in->symbol, sizeof(r->symbol));
    ks_strlcpy(r->venue_symbol, in->venue_symbol ? in->venue_symbol : "", sizeof(r->venue_symbol));
    ks_strlcpy(r->base, in->base ? in->base : "", sizeof(r->base));
    ks_strlcpy(r->quote, in->quote ? in->quote : "", sizeof(r->quote));
    ks_strlcpy(r->settle, in->settle ? in->settle : "", sizeof(r->settle));
    r->spec.symbol = r->symbol;
    r->spec.venue_symbol = r->venue_symbol;
    r->spec.base = r->base;
    r->spec.quote = r->quote;
    r->spec.settle = in->settle ? r->settle : NULL;
    *id = r->id;
    return KS_OK;
}

static int api_instrument_find(ks_host_t *h, const char *symbol, int32_t *id)
{
    *id = fh_inst_id(h, symbol);
    return *id >= 0 ? KS_OK : KS_ENOENT;
}

static int api_emit(ks_host_t *h, const ks_event_t *e)
{
    char text[16384];
    if (e->type < 1 || e->type > KS_EV_TYPE_MAX || e->struct_size < sizeof(ks_event_t))
        return KS_EINVAL;
    h->counts[e->type]++;
    if (!h->no_hash || h->trace) {
        sim_event_text(e, text, sizeof(text));
        h->hash = sim_fnv1a(sim_fnv1a(h->hash, text), "\n");
    }
    if (h->trace)
        printf("  [%lld] %s\n", (long long)h->now, text);
    if (!h->record)
        return KS_OK;
    if (h->n_ev == h->cap_ev) {
        h->cap_ev = h->cap_ev ? h->cap_ev * 2 : 1024;
        h->ev = realloc(h->ev, h->cap_ev * sizeof(*h->ev));
    }
    fh_ev_t *c = &h->ev[h->n_ev++];
    memset(c, 0, sizeof(*c));
    memcpy(c, e, e->struct_size < sizeof(*c) ? e->struct_size : sizeof(*c));
    if (e->type == KS_EV_BOOK)
        c->book.bids = c->book.asks = NULL;
    return KS_OK;
}

static const ks_host_api_t fh_api_table = {
    .struct_size = sizeof(ks_host_api_t),
    .abi_major = KS_ABI_MAJOR,
    .abi_minor = KS_ABI_MINOR,
    .log = api_log,
    .now_ns = api_now,
    .wall_ns = api_wall,
    .timer_start = api_timer_start,
    .timer_stop = api_timer_stop,
    .instrument_upsert = api_instrument_upsert,
    .instrument_find = api_instrument_find,
    .emit = api_emit,
};

const ks_host_api_t *fh_api(void)
{
    return &fh_api_table;
}

/* ---- queries ------------------------------------------------------------------------- */

void fh_clear(ks_host_t *h)
{
    h->n_ev = 0;
}

size_t fh_count(const ks_host_t *h, int type)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_ev; i++)
        n += h->ev[i].hdr.type == type;
    return n;
}

const fh_ev_t *fh_nth(const ks_host_t *h, int type, size_t k)
{
    for (size_t i = 0; i < h->n_ev; i++)
        if (h->ev[i].hdr.type == type && k-- == 0)
            return &h->ev[i];
    return NULL;
}

const fh_ev_t *fh_last(const ks_host_t *h, int type)
{
    for (size_t i = h->n_ev; i-- > 0;)
        if (h->ev[i].hdr.type == type)
            return &h->ev[i];
    return NULL;
}

int32_t fh_inst_id(const ks_host_t *h, const char *symbol)
{
    for (int i = 0; i < h->n_inst; i++)
        if (strcmp(h->inst[i].symbol, symbol) == 0)
            return h->inst[i].id;
    return -1;
}

const fh_inst_t *fh_inst_get(const ks_host_t *h, int32_t id)
{
    for (int i = 0; i < h->n_inst; i++)
        if (h->inst[i].id == id)
            return &h->inst[i];
    return NULL;
}

/* ---- plugin loading ------------------------------------------------------------------ */

int fh_plugin_load(fh_plugin_t *p, const char *name)
{
    char path[4096];
    const char *dir = getenv("KS_BUILD_DIR");
    memset(p, 0, sizeof(*p));
    snprintf(path, sizeof(path), "%s/plugins/%s.so", dir && *dir ? dir : ".", name);
    p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl) {
        printf("dlopen(%s): %s\n", path, dlerror());
        return -1;
    }
    ks_plugin_entry_fn entry;
    *(void **)&entry = dlsym(p->dl, KS_PLUGIN_ENTRY_NAME);
    if (!entry) {
        printf("%s: no %s\n", path, KS_PLUGIN_ENTRY_NAME);
        dlclose(p->dl);
        p->dl = NULL;
        return -1;
    }
    p->desc = entry();
    p->ops = p->desc->ops;
    return 0;
}

void fh_plugin_unload(fh_plugin_t *p)
{
    if (p->dl)
        dlclose(p->dl);
    memset(p, 0, sizeof(*p));
}
