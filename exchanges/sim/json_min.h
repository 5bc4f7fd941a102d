/* json_min: a small JSON reader for plugin configs (plugins link only the SDK).
 *
 * Parses a whole document into a flat node array: objects, arrays, strings (unescaped,
 * NUL-terminated), numbers kept as their source text (so decimals stay exact), true,
 * false and null. Read-only after parsing; no writer. */
#ifndef KS_SIM_JSON_MIN_H
#define KS_SIM_JSON_MIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ks_json_type {
    KS_JSON_NULL = 0,
    KS_JSON_BOOL = 1,
    KS_JSON_NUMBER = 2,
    KS_JSON_STRING = 3,
    KS_JSON_ARRAY = 4,
    KS_JSON_OBJECT = 5,
} ks_json_type_t;

/* One value. Children of an array or object are linked through `next`; index -1 ends a
 * list. Pointers point into the owning document. */
typedef struct ks_json {
    uint8_t type;     /* ks_json_type_t */
    bool boolean;     /* KS_JSON_BOOL */
    int32_t child;    /* first child (array, object), -1 when empty */
    int32_t next;     /* next sibling, -1 at the end */
    uint32_t count;   /* number of children */
    const char *key;  /* member name when the parent is an object, else NULL */
    const char *text; /* string value (unescaped) or number text; NUL-terminated */
    size_t len;       /* strlen(text) */
} ks_json_t;

typedef struct ks_json_doc {
    ks_json_t *nodes; /* nodes[0] is the root */
    uint32_t n, cap;
    char *strings; /* unescaped strings and number texts */
    size_t str_len, str_cap;
} ks_json_doc_t;

/* Parses `len` bytes of text ((size_t)-1: NUL-terminated). On failure writes a one-line
 * reason with the byte offset into err and returns KS_EINVAL (KS_ENOMEM when out of
 * memory). Free the document with ks_json_min_free() in either case. */
int ks_json_min_parse(const char *text, size_t len, ks_json_doc_t *doc, char *err, size_t err_len);
/* Like ks_json_min_parse() but reuses the buffers of `doc` (zeroed, or from an earlier
 * parse), for readers that parse many documents in a row. Free it once at the end. */
int ks_json_min_reparse(const char *text, size_t len, ks_json_doc_t *doc, char *err,
                        size_t err_len);
void ks_json_min_free(ks_json_doc_t *doc);

/* The root value, or NULL for an empty document. */
const ks_json_t *ks_json_min_root(const ks_json_doc_t *doc);
/* First child / next sibling, NULL at the end. */
const ks_json_t *ks_json_min_first(const ks_json_doc_t *doc, const ks_json_t *v);
const ks_json_t *ks_json_min_next(const ks_json_doc_t *doc, const ks_json_t *v);
/* Member `key` of an object (the last one when repeated), NULL when absent. */
const ks_json_t *ks_json_min_get(const ks_json_doc_t *doc, const ks_json_t *obj, const char *key);
/* "object", "array", "string", ... for error messages. */
const char *ks_json_min_type_name(int type);

#endif
