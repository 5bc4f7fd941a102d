/* json_min: the small JSON reader the shipped plugins compile in to read their configs
 * (a plugin links only the SDK). A document is parsed into one allocation; numbers keep
 * their source text so decimals parse exactly; the typed getters write one-line errors that
 * name the key ("per_strategy.carry.max_open_positions: expected an integer, got "x""). */
#ifndef KS_PLUGINS_JSON_MIN_H
#define KS_PLUGINS_JSON_MIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <kestrel/decimal.h>

typedef enum ks_json_min_type {
    KS_JSON_MIN_NULL = 0,
    KS_JSON_MIN_BOOL = 1,
    KS_JSON_MIN_NUMBER = 2,
    KS_JSON_MIN_STRING = 3,
    KS_JSON_MIN_ARRAY = 4,
    KS_JSON_MIN_OBJECT = 5,
} ks_json_min_type_t;

/* One value. Borrowed from its document; valid until ks_json_min_free(). */
typedef struct ks_json_min_node ks_json_min_node_t;
struct ks_json_min_node {
    uint8_t type;                    /* ks_json_min_type_t */
    bool boolean;                    /* KS_JSON_MIN_BOOL */
    uint32_t count;                  /* children of an array or object */
    const char *key;                 /* member name inside an object, else NULL */
    const char *text;                /* string (unescaped) or number text; NULL otherwise */
    size_t len;                      /* strlen(text); strings may hold "\u0000" */
    const ks_json_min_node_t *child; /* first child of an array or object, or NULL */
    const ks_json_min_node_t *next;  /* next sibling, or NULL */
};

typedef struct ks_json_min_doc {
    void *mem;                      /* nodes and strings, one block */
    const ks_json_min_node_t *root; /* NULL only after a failed parse */
} ks_json_min_doc_t;

/* Parses `len` bytes ((size_t)-1: NUL-terminated). Strict JSON: no comments, no trailing
 * commas, no duplicate keys in one object, nesting at most 64 deep. On failure writes one
 * line ("invalid JSON at byte 12: expected ':' after a key") and returns KS_EINVAL, or
 * KS_ENOMEM. Caller owns the document; free with ks_json_min_free() (also after a failure). */
int ks_json_min_parse(const char *text, size_t len, ks_json_min_doc_t *doc, char *err,
                      size_t err_len);
void ks_json_min_free(ks_json_min_doc_t *doc);

/* Member `key` of an object, or NULL (also when obj is not an object). */
const ks_json_min_node_t *ks_json_min_get(const ks_json_min_node_t *obj, const char *key);
/* "object", "array", "string", "number", "bool", "null". Static. */
const char *ks_json_min_type_name(int type);

/* Typed getters. Each reads obj[key] and returns 1 when it was present and stored in *out,
 * 0 when absent or null (*out untouched: the caller's default stays), or KS_EINVAL with
 * "<path><key>: <why>" in err. `path` prefixes the key in messages: "" at the top level,
 * "per_strategy.carry." inside a nested object. */

/* A decimal from a JSON number or a string ("0.05", 5e-2), parsed exactly. */
int ks_json_min_get_dec(const ks_json_min_node_t *obj, const char *path, const char *key,
                        ks_dec_t *out, char *err, size_t err_len);
/* An integer in [min, max] from a number or numeric string ("3", 3, 3.0). */
int ks_json_min_get_int(const ks_json_min_node_t *obj, const char *path, const char *key,
                        int64_t min, int64_t max, int64_t *out, char *err, size_t err_len);
int ks_json_min_get_bool(const ks_json_min_node_t *obj, const char *path, const char *key,
                         bool *out, char *err, size_t err_len);
/* An object or an array (of any elements) node. */
int ks_json_min_get_object(const ks_json_min_node_t *obj, const char *path, const char *key,
                           const ks_json_min_node_t **out, char *err, size_t err_len);
int ks_json_min_get_array(const ks_json_min_node_t *obj, const char *path, const char *key,
                          const ks_json_min_node_t **out, char *err, size_t err_len);

/* KS_OK when every member of obj is named in `allowed` (NULL-terminated), else KS_EINVAL
 * with "<path><key>: unknown key" — a typo must not silently turn a limit off. */
int ks_json_min_check_keys(const ks_json_min_node_t *obj, const char *path,
                           const char *const *allowed, char *err, size_t err_len);

/* Quotes at most 40 bytes of a value for an error message ("abc", "long…"), escaping
 * control characters. Returns buf. */
const char *ks_json_min_quote(const ks_json_min_node_t *v, char *buf, size_t cap);

#endif
