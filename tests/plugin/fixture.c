/* Test plugins for the loader: one source built into several MODULEs, each breaking one
 * rule through its compile definitions (tests/plugin.cmake lists them). With none, it
 * is a well-formed exchange plugin named "good". */
#include <kestrel/kestrel.h>

#ifndef FIX_NAME
#define FIX_NAME "good"
#endif
#ifndef FIX_ABI_MAJOR
#define FIX_ABI_MAJOR KS_ABI_MAJOR
#endif
#ifndef FIX_ABI_MINOR
#define FIX_ABI_MINOR KS_ABI_MINOR
#endif
#ifndef FIX_CAPS
#define FIX_CAPS (KS_XCAP_AMEND | KS_XCAP_QUERY_BY_CLOID)
#endif
#ifdef FIX_RISK
#define FIX_OPS_TYPE     ks_risk_ops_t
#define FIX_DEFAULT_KIND KS_PLUGIN_RISK
#else
#define FIX_OPS_TYPE     ks_exchange_ops_t
#define FIX_DEFAULT_KIND KS_PLUGIN_EXCHANGE
#endif
#ifndef FIX_KIND
#define FIX_KIND FIX_DEFAULT_KIND
#endif
/* FIX_OPS_SIZE: the ops table's declared struct_size (default: its real size). */
#ifndef FIX_OPS_SIZE
#define FIX_OPS_SIZE sizeof(ops.v1)
#endif
/* FIX_NEWER_MINOR: descriptor and ops carry a field appended by a later 1.x.
 * FIX_NULL_PLACE, FIX_NO_AMEND: leave that operation NULL. */

/* Stubs stay defined when a variant leaves them out of the table. */
#define STUB static __attribute__((unused))

STUB int fx_open(const ks_host_api_t *api, ks_host_t *host, const char *name,
                 const char *config_json, void **self, char *err, size_t err_len)
{
    *self = NULL;
    return KS_OK;
}

STUB void fx_close(void *self)
{
}

#ifdef FIX_RISK
STUB void fx_check(void *self, const ks_order_intent_t *intent, const ks_portfolio_t *pf,
                   ks_risk_decision_t *out)
{
}
#else
STUB int fx_start(void *self)
{
    return KS_OK;
}

STUB int fx_subscribe(void *self, int32_t inst, uint32_t channels)
{
    return KS_OK;
}

STUB int fx_place(void *self, const ks_order_cmd_t *cmd)
{
    return KS_OK;
}

STUB int fx_cancel(void *self, const ks_cancel_cmd_t *cmd)
{
    return KS_OK;
}

STUB int fx_cancel_all(void *self, int32_t inst)
{
    return KS_OK;
}

STUB int fx_amend(void *self, const ks_amend_cmd_t *cmd)
{
    return KS_OK;
}

STUB int fx_fetch(void *self, uint32_t what, int32_t inst, const char *cloid, uint64_t req_id)
{
    return KS_OK;
}
#endif

static const struct {
    FIX_OPS_TYPE v1;
    uint64_t added_later; /* only counted in struct_size with FIX_NEWER_MINOR */
} ops = {
    .v1 =
        {
#ifdef FIX_NEWER_MINOR
            .struct_size = sizeof(ops),
#else
            .struct_size = FIX_OPS_SIZE,
#endif
            .open = fx_open,
            .close = fx_close,
#ifdef FIX_RISK
            .check = fx_check,
#else
            .caps = FIX_CAPS,
            .start = fx_start,
            .subscribe = fx_subscribe,
#ifndef FIX_NULL_PLACE
            .place = fx_place,
#endif
            .cancel = fx_cancel,
            .cancel_all = fx_cancel_all,
#ifndef FIX_NO_AMEND
            .amend = fx_amend,
#endif
            .fetch = fx_fetch,
#endif
        },
};

static const struct {
    ks_plugin_desc_t v1;
    const char *added_later;
} desc = {
    .v1 =
        {
#ifdef FIX_NEWER_MINOR
            .struct_size = sizeof(desc),
#else
            .struct_size = sizeof(ks_plugin_desc_t),
#endif
            .abi_major = FIX_ABI_MAJOR,
            .abi_minor = FIX_ABI_MINOR,
            .kind = FIX_KIND,
            .name = FIX_NAME,
            .version = "1.2.3",
            .description = "Loader test fixture",
            .ops = &ops.v1,
        },
    .added_later = "a field this host does not know",
};

KS_PLUGIN_DEFINE(desc.v1)
