/* Kestrel SDK: ABI version numbers and the conventions every ABI struct follows.
 *
 * Every struct that crosses the plugin boundary starts with `uint32_t struct_size`,
 * set by whoever fills it (use the KS_INIT macros). Structs only grow at the end; a
 * reader uses KS_HAS_FIELD() before touching a field newer than the oldest size it
 * accepts. The ABI major is part of the plugin entry symbol's name, so a plugin built
 * for another major fails to load with a clear message instead of misbehaving. */
#ifndef KESTREL_ABI_H
#define KESTREL_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#define KS_ABI_MAJOR 1
#define KS_ABI_MINOR 0

#define KS_STR_(x)    #x
#define KS_STR(x)     KS_STR_(x)
#define KS_CAT_(a, b) a##b
#define KS_CAT(a, b)  KS_CAT_(a, b)

/* The one symbol a plugin exports: kestrel_plugin_v<MAJOR>. */
#define KS_PLUGIN_ENTRY        KS_CAT(kestrel_plugin_v, KS_ABI_MAJOR)
#define KS_PLUGIN_ENTRY_NAME   "kestrel_plugin_v" KS_STR(KS_ABI_MAJOR)
#define KS_PLUGIN_ENTRY_PREFIX "kestrel_plugin_v"

#if defined(__GNUC__)
#define KS_EXPORT       __attribute__((visibility("default")))
#define KS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define KS_EXPORT
#define KS_PRINTF(f, a)
#endif

/* True when a struct of the given declared size includes `field`. */
#ifdef __cplusplus
#define KS_EXTERN_C_BEGIN extern "C" {
#define KS_EXTERN_C_END   }
#else
#define KS_EXTERN_C_BEGIN
#define KS_EXTERN_C_END
#endif

#define KS_HAS_FIELD(ptr, type, field)                                                             \
    ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* Zero a struct and set its struct_size: `ks_order_cmd_t c; KS_INIT(&c);` (events use
 * KS_EVENT_INIT from event.h: their struct_size lives in the header). */
#define KS_INIT(ptr)                                                                               \
    do {                                                                                           \
        memset((ptr), 0, sizeof(*(ptr)));                                                          \
        (ptr)->struct_size = (uint32_t)sizeof(*(ptr));                                             \
    } while (0)

/* Fixed sizes of the text fields carried in events and commands (including NUL). */
#define KS_CLOID_LEN    48  /* client order id; venues allow at most 36 characters */
#define KS_VENUE_ID_LEN 64  /* the venue's own order or trade id */
#define KS_ASSET_LEN    16  /* "USDT", "BTC", "1000PEPE" */
#define KS_SYMBOL_LEN   64  /* unified symbol, "BTC/USDT:USDT" */
#define KS_REASON_LEN   160 /* a one-line human-readable reason */
#define KS_NAME_LEN     64  /* plugin, venue and strategy names */

#endif
