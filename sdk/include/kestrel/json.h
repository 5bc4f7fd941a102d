/* Kestrel SDK: a small strict JSON reader for plugin configs and recorded data.
 *
 * A document is parsed into nodes linked by pointers (first child, next sibling), so walking
 * it needs only a node. Numbers keep their source text, so decimals parse exactly with
 * ks_dec_parse(); strings are unescaped and NUL-terminated. The typed getters write one-line
 * errors that name the key ("per_strategy.carry.max_open_positions: expected an integer, got
 * "x""). Read-only; there is no writer.
 *
 *     ks_json_doc_t doc = KS_JSON_DOC_INIT;
 *     if (ks_json_parse(text, (size_t)-1, &doc, err, sizeof(err)) == KS_OK)
 *         for (const ks_json_t *m = doc.root->child; m; m = m->next)
 *             use(m->key, m);
 *     ks_json_free(&doc);
 *
 * To read many documents in a row (one JSON message per line), parse each with
 * ks_json_reparse() into the same document: its buffers are reused, so steady-state parsing
 * allocates nothing. */
#ifndef KESTREL_JSON_H
#define KESTREL_JSON_H

#include "abi.h"
#include "decimal.h"

KS_EXTERN_C_BEGIN

/* The deepest nesting of arrays and objects a document may have. */
#define KS_JSON_MAX_DEPTH 64

typedef enum ks_json_type {
    KS_JSON_NULL = 0,
    KS_JSON_BOOL = 1,
    KS_JSON_NUMBER = 2,
    KS_JSON_STRING = 3,
    KS_JSON_ARRAY = 4,
    KS_JSON_OBJECT = 5,
} ks_json_type_t;

/* One value. Borrowed from its document: every node, and every string a node points to, is
 * valid until the document is freed or reparsed. */
typedef struct ks_json ks_json_t;
struct ks_json {
    uint8_t type;           /* ks_json_type_t */
    bool boolean;           /* KS_JSON_BOOL: the value */
    uint32_t count;         /* number of children of an array or object */
    const char *key;        /* member name (unescaped) inside an object, else NULL */
    const char *text;       /* string (unescaped) or number (source text), NUL-terminated;
                               NULL for other types */
    size_t len;             /* bytes in text; a string may hold "\u0000" */
    const ks_json_t *child; /* first child of an array or object, or NULL */
    const ks_json_t *next;  /* next sibling, or NULL after the last */
};

/* A parsed document. `root` is the top-level value; NULL before the first parse and after a
 * failed one. The rest is private to the reader. */
typedef struct ks_json_doc {
    const ks_json_t *root;
    struct ks_json_mem *mem; /* nodes and strings, kept for ks_json_reparse() */
} ks_json_doc_t;

/* An empty document, ready for ks_json_reparse() or ks_json_free(). */
#define KS_JSON_DOC_INIT                                                                           \
    {                                                                                              \
        NULL, NULL                                                                                 \
    }

/* Parses `len` bytes of text ((size_t)-1: NUL-terminated) into a new document. Strict JSON
 * (RFC 8259): no comments, no trailing commas, no duplicate keys in one object, nesting at
 * most KS_JSON_MAX_DEPTH deep. On failure writes one line into err ("invalid JSON at byte
 * 12: expected ':' after a key") and returns KS_EINVAL, or KS_ENOMEM. `text` is borrowed
 * for the call; nothing points into it afterwards. `doc` need not be initialized (what it
 * held is not freed). Caller owns the document; free with ks_json_free(), also after a
 * failure. */
int ks_json_parse(const char *text, size_t len, ks_json_doc_t *doc, char *err, size_t err_len);

/* Like ks_json_parse() but reuses the buffers of `doc`, which must be KS_JSON_DOC_INIT or
 * hold an earlier parse (successful or not): every node of the earlier document becomes
 * invalid. For readers that parse many documents in a row; free once at the end. */
int ks_json_reparse(const char *text, size_t len, ks_json_doc_t *doc, char *err, size_t err_len);

/* Frees the document's memory and resets it to KS_JSON_DOC_INIT. NULL is a no-op. */
void ks_json_free(ks_json_doc_t *doc);

/* Member `key` of an object, or NULL (also when obj is NULL or not an object). Borrowed from
 * obj's document. */
const ks_json_t *ks_json_get(const ks_json_t *obj, const char *key);

/* "null", "bool", "number", "string", "array", "object" ("?" otherwise). Static. */
const char *ks_json_type_name(int type);

/* Typed getters. Each reads obj[key] and returns 1 when it was present and stored in *out,
 * 0 when absent or null (*out untouched: the caller's default stays), or KS_EINVAL with
 * "<path><key>: <why>" in err. `path` prefixes the key in messages: "" at the top level,
 * "per_strategy.carry." inside a nested object. Nodes stored in *out are borrowed from
 * obj's document. */

/* A decimal from a JSON number or a string ("0.05", 5e-2), parsed exactly. */
int ks_json_get_dec(const ks_json_t *obj, const char *path, const char *key, ks_dec_t *out,
                    char *err, size_t err_len);
/* An integer in [min, max] from a number or numeric string ("3", 3, 3.0, 1e2). */
int ks_json_get_int(const ks_json_t *obj, const char *path, const char *key, int64_t min,
                    int64_t max, int64_t *out, char *err, size_t err_len);
int ks_json_get_bool(const ks_json_t *obj, const char *path, const char *key, bool *out, char *err,
                     size_t err_len);
/* An object or an array (of any elements) node. */
int ks_json_get_object(const ks_json_t *obj, const char *path, const char *key,
                       const ks_json_t **out, char *err, size_t err_len);
int ks_json_get_array(const ks_json_t *obj, const char *path, const char *key,
                      const ks_json_t **out, char *err, size_t err_len);

/* KS_OK when every member of obj is named in `allowed` (NULL-terminated), else KS_EINVAL
 * with "<path><key>: unknown key": a typo must not silently turn a limit off. */
int ks_json_check_keys(const ks_json_t *obj, const char *path, const char *const *allowed,
                       char *err, size_t err_len);

/* Writes at most 40 bytes of a value into buf for an error message ("abc" with its quotes,
 * 12.5, true, "an array"), control characters replaced by '?'. Returns buf. */
const char *ks_json_quote(const ks_json_t *v, char *buf, size_t cap);

KS_EXTERN_C_END

#endif
