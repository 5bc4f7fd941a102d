/* bybit_json: a small, allocation-light JSON tokenizer for Bybit messages.
 *
 * One pass over the message text produces a flat array of tokens that point back into
 * the text (nothing is copied or unescaped up front). Numbers stay decimal text, and a
 * price sent as "30247.20" or 30247.20 reads into an exact ks_dec_t. The token array
 * belongs to a reusable ks_bybit_json_t and only grows, so steady-state parsing of a
 * message stream allocates nothing.
 *
 *     ks_bybit_json_t js = {0};
 *     if (ks_bybit_json_parse(&js, text, len) == KS_OK) {
 *         int data = ks_bybit_json_get(&js, 0, "data");     // member of the root
 *         for (int lv = ks_bybit_json_first(&js, data); lv > 0; lv = ks_bybit_json_next(&js, lv))
 *             ...
 *     }
 *     ks_bybit_json_free(&js);
 *
 * Token 0 is the root. A token index <= 0 means "absent" for every lookup below except
 * where the root itself is meant. */
#ifndef KS_BYBIT_JSON_H
#define KS_BYBIT_JSON_H

#include <kestrel/kestrel.h>

typedef enum ks_bybit_json_type {
    KS_BJ_NONE = 0,
    KS_BJ_OBJECT = 1,
    KS_BJ_ARRAY = 2,
    KS_BJ_STRING = 3,
    KS_BJ_NUMBER = 4,
    KS_BJ_TRUE = 5,
    KS_BJ_FALSE = 6,
    KS_BJ_NULL = 7,
} ks_bybit_json_type_t;

typedef struct ks_bybit_json_tok {
    uint8_t type;    /* ks_bybit_json_type_t */
    uint8_t escaped; /* a string containing backslash escapes */
    uint32_t start;  /* strings: first byte after the quote; others: first byte */
    uint32_t len;    /* strings: bytes between the quotes; containers: 0 */
    uint32_t count;  /* containers: number of elements (object: members) */
    uint32_t next;   /* index of the first token after this value's subtree */
    int32_t parent;  /* enclosing container, -1 for the root */
} ks_bybit_json_tok_t;

typedef struct ks_bybit_json {
    const char *text; /* borrowed: the message being read */
    size_t text_len;
    ks_bybit_json_tok_t *tok; /* owned; grows */
    uint32_t n, cap;
    uint32_t err_off; /* byte offset of a syntax error */
    const char *err;  /* static text of the last syntax error */
} ks_bybit_json_t;

/* Tokenizes one JSON document (len bytes). The text must stay valid while tokens are
 * read. KS_OK, KS_EPROTO on a syntax error (err/err_off say where), KS_ENOMEM, or
 * KS_ERANGE for a message over 4 GiB or nested deeper than 64 levels. */
int ks_bybit_json_parse(ks_bybit_json_t *js, const char *text, size_t len);
void ks_bybit_json_free(ks_bybit_json_t *js);

/* Member `key` of object token `obj`, or -1. Keys are compared as raw bytes. */
int ks_bybit_json_get(const ks_bybit_json_t *js, int obj, const char *key);
/* First element (array) or first member value (object) of a container, or -1. */
int ks_bybit_json_first(const ks_bybit_json_t *js, int container);
/* The element after `i` in the same container, or -1 (needs the container for bounds). */
int ks_bybit_json_next(const ks_bybit_json_t *js, int i);
/* Element `n` of an array, or -1. */
int ks_bybit_json_at(const ks_bybit_json_t *js, int arr, uint32_t n);
/* For an object member value `i` returned by first/next: its key token. */
int ks_bybit_json_key_of(const ks_bybit_json_t *js, int value);

static inline int ks_bybit_json_type(const ks_bybit_json_t *js, int i)
{
    return i >= 0 && (uint32_t)i < js->n ? js->tok[i].type : KS_BJ_NONE;
}

/* The raw text of a string (between the quotes) or number token; NULL otherwise. */
const char *ks_bybit_json_raw(const ks_bybit_json_t *js, int i, size_t *len);
/* True when token i is a string or number whose text equals s. */
bool ks_bybit_json_eq(const ks_bybit_json_t *js, int i, const char *s);
/* Copies a string (unescaped) or number text into buf (truncating, NUL-terminated).
 * Returns the full length, or -1 when i is not a string/number. */
int ks_bybit_json_str(const ks_bybit_json_t *js, int i, char *buf, size_t cap);
/* Reads a decimal from a number or a numeric string. KS_ENOENT for a missing token, an
 * empty string or null; KS_EINVAL when not a number. */
int ks_bybit_json_dec(const ks_bybit_json_t *js, int i, ks_dec_t *out);
/* Reads an integer (number or numeric string, no fraction). KS_ENOENT/KS_EINVAL. */
int ks_bybit_json_i64(const ks_bybit_json_t *js, int i, int64_t *out);
/* true/false tokens, or the strings "true"/"false"/"1"/"0". */
int ks_bybit_json_bool(const ks_bybit_json_t *js, int i, bool *out);

/* Member helpers: the same reads on ks_bybit_json_get(js, obj, key). */
int ks_bybit_json_get_dec(const ks_bybit_json_t *js, int obj, const char *key, ks_dec_t *out);
int ks_bybit_json_get_i64(const ks_bybit_json_t *js, int obj, const char *key, int64_t *out);

/* Fast exact decimal parse of "-123.4500" (at most 18 digits, no exponent); falls back
 * to ks_dec_parse for anything else. Trailing zeros are kept in the scale. */
int ks_bybit_json_parse_dec(const char *s, size_t len, ks_dec_t *out);

#endif
