/* Kestrel SDK: the plugin descriptor and the entry point a plugin exports.
 *
 *     static const ks_exchange_ops_t ops = { .struct_size = sizeof(ops), ... };
 *     static const ks_plugin_desc_t desc = KS_PLUGIN_DESC(KS_PLUGIN_EXCHANGE, "myvenue",
 *                                                         "0.1.0", "My venue", &ops);
 *     KS_PLUGIN_DEFINE(desc)
 */
#ifndef KESTREL_PLUGIN_H
#define KESTREL_PLUGIN_H

#include "abi.h"

typedef enum ks_plugin_kind {
    KS_PLUGIN_EXCHANGE = 1, /* ops is a ks_exchange_ops_t */
    KS_PLUGIN_RISK = 2,     /* ops is a ks_risk_ops_t */
} ks_plugin_kind_t;

typedef struct ks_plugin_desc {
    uint32_t struct_size;
    uint32_t abi_major; /* KS_ABI_MAJOR the plugin was built with */
    uint32_t abi_minor;
    uint32_t kind;           /* ks_plugin_kind_t */
    const char *name;        /* [a-z0-9_]{1,32}, unique among loaded plugins; static */
    const char *version;     /* the plugin's own version, required; static */
    const char *description; /* one line, may be NULL; static */
    const void *ops;         /* static operations table of the kind's type */
} ks_plugin_desc_t;

typedef const ks_plugin_desc_t *(*ks_plugin_entry_fn)(void);

#define KS_PLUGIN_DESC(kind_, name_, version_, descr_, ops_)                                       \
    {                                                                                              \
        sizeof(ks_plugin_desc_t), KS_ABI_MAJOR, KS_ABI_MINOR, (kind_), (name_), (version_),        \
            (descr_), (ops_)                                                                       \
    }

#define KS_PLUGIN_DEFINE(desc_)                                                                    \
    KS_EXTERN_C_BEGIN KS_EXPORT const ks_plugin_desc_t *KS_PLUGIN_ENTRY(void);                     \
    KS_EXTERN_C_END                                                                                \
    KS_EXPORT const ks_plugin_desc_t *KS_PLUGIN_ENTRY(void)                                        \
    {                                                                                              \
        return &(desc_);                                                                           \
    }

#endif
