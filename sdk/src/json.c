/* The SDK's JSON reader (see kestrel/json.h): one recursive-descent pass. Nodes come from a
 * chain of blocks that never move, so child/next pointers stay valid while a document grows;
 * the string area is sized before parsing. Both are kept for ks_json_reparse(). */
#include <kestrel/json.h>
#include <kestrel/error.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct block block_t;
struct block {
    block_t *next;
    size_t cap;
    ks_json_t nodes[];
};

struct ks_json_mem {
    block_t *blocks; /* the chain, reused from its head by every parse */
    char *strs;      /* unescaped strings and number texts, each NUL-terminated */
    size_t str_cap;
};

typedef struct parser {
    const char *s;
    size_t len, pos;
    struct ks_json_mem *mem;
    block_t *blk; /* the block being filled, NULL before the first node */
    size_t used;  /* nodes used in blk */
    size_t total; /* capacity of the chain up to and including blk */
    char *str;    /* next free byte of the string area */
    int depth;
    int rc;
    char *err;
    size_t err_len;
} parser_t;

static int fail(parser_t *p, const char *fmt, ...) KS_PRINTF(2, 3);
static int fail(parser_t *p, const char *fmt, ...)
{
    p->rc = KS_EINVAL;
    if (p->err && p->err_len) {
        int n = snprintf(p->err, p->err_len, "invalid JSON at byte %zu: ", p->pos);
        if (n >= 0 && (size_t)n < p->err_len) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return KS_EINVAL;
}

static int no_memory(parser_t *p)
{
    p->rc = KS_ENOMEM;
    if (p->err && p->err_len)
        snprintf(p->err, p->err_len, "out of memory reading JSON");
    return KS_ENOMEM;
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        p->pos++;
    }
}

static bool at(const parser_t *p, char c)
{
    return p->pos < p->len && p->s[p->pos] == c;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The next free node, zeroed; moves to the next block of the chain (allocating it, twice
 * the size of the chain so far, when the chain ends). */
static ks_json_t *new_node(parser_t *p)
{
    if (!p->blk || p->used == p->blk->cap) {
        block_t *b = p->blk ? p->blk->next : p->mem->blocks;
        if (!b) {
            /* A first guess of one node per 8 bytes of text, then doubling. */
            size_t cap = p->total ? p->total : p->len / 8 + 16;
            b = malloc(sizeof(*b) + cap * sizeof(b->nodes[0]));
            if (!b) {
                no_memory(p);
                return NULL;
            }
            b->next = NULL;
            b->cap = cap;
            if (p->blk)
                p->blk->next = b;
            else
                p->mem->blocks = b;
        }
        p->blk = b;
        p->used = 0;
        p->total += b->cap;
    }
    ks_json_t *n = &p->blk->nodes[p->used++];
    *n = (ks_json_t){0};
    return n;
}

static int hex4(parser_t *p, uint32_t *out)
{
    uint32_t v = 0;
    if (p->len - p->pos < 4)
        return fail(p, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos + (size_t)i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return fail(p, "bad hex digit in a \\u escape");
        v = v * 16 + (uint32_t)d;
    }
    p->pos += 4;
    *out = v;
    return KS_OK;
}

static char *put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Reads the string at p->pos (on the opening quote) into the string area, unescaped and
 * NUL-terminated. No escape is shorter than the UTF-8 it stands for, so a string takes at
 * most its source length minus one byte (see reserve()). */
static int parse_string(parser_t *p, const char **out, size_t *out_len)
{
    char *start = p->str, *o = p->str;
    p->pos++; /* the opening quote */
    for (;;) {
        size_t run = p->pos;
        while (run < p->len) {
            unsigned char c = (unsigned char)p->s[run];
            if (c == '"' || c == '\\' || c < 0x20)
                break;
            run++;
        }
        memcpy(o, p->s + p->pos, run - p->pos);
        o += run - p->pos;
        p->pos = run;
        if (p->pos >= p->len)
            return fail(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return fail(p, "control character 0x%02x inside a string", c);
        if (++p->pos >= p->len)
            return fail(p, "unterminated escape");
        char e = p->s[p->pos++];
        switch (e) {
        case '"':
        case '\\':
        case '/':
            *o++ = e;
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            uint32_t cp, lo;
            if (hex4(p, &cp) != KS_OK)
                return KS_EINVAL;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail(p, "unpaired low surrogate in a \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return fail(p, "unpaired high surrogate in a \\u escape");
                p->pos += 2;
                if (hex4(p, &lo) != KS_OK)
                    return KS_EINVAL;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail(p, "unpaired high surrogate in a \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            o = put_utf8(o, cp);
            break;
        }
        default:
            p->pos--;
            return fail(p, "invalid escape \\%c", e >= 0x20 && e < 0x7f ? e : '?');
        }
    }
    *o = '\0';
    *out = start;
    *out_len = (size_t)(o - start);
    p->str = o + 1;
    return KS_OK;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, copied with a NUL. */
static int parse_number(parser_t *p, ks_json_t *node)
{
    size_t start = p->pos;
    if (at(p, '-'))
        p->pos++;
    if (at(p, '0')) {
        p->pos++;
    } else if (p->pos < p->len && is_digit(p->s[p->pos])) {
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    } else {
        return fail(p, "expected a digit");
    }
    if (at(p, '.')) {
        p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos]))
            return fail(p, "expected a digit after '.'");
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    if (at(p, 'e') || at(p, 'E')) {
        p->pos++;
        if (at(p, '+') || at(p, '-'))
            p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos]))
            return fail(p, "expected a digit in the exponent");
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    size_t n = p->pos - start;
    memcpy(p->str, p->s + start, n);
    p->str[n] = '\0';
    node->text = p->str;
    node->len = n;
    p->str += n + 1;
    return KS_OK;
}

static int literal(parser_t *p, const char *word, size_t n)
{
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, "invalid literal (expected %s)", word);
    p->pos += n;
    return KS_OK;
}

static int parse_value(parser_t *p, const char *key, ks_json_t **out);

static int parse_container(parser_t *p, ks_json_t *node, bool object)
{
    char close = object ? '}' : ']';
    ks_json_t *last = NULL;
    if (++p->depth > KS_JSON_MAX_DEPTH)
        return fail(p, "nested deeper than %d levels", KS_JSON_MAX_DEPTH);
    p->pos++;
    skip_ws(p);
    if (at(p, close)) {
        p->pos++;
        p->depth--;
        return KS_OK;
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len, key_pos = 0;
        ks_json_t *child;
        skip_ws(p);
        if (object) {
            key_pos = p->pos;
            if (!at(p, '"'))
                return fail(p, "expected a string key");
            if (parse_string(p, &key, &key_len) != KS_OK)
                return KS_EINVAL;
            skip_ws(p);
            if (!at(p, ':'))
                return fail(p, "expected ':' after a key");
            p->pos++;
        }
        if (parse_value(p, key, &child) != KS_OK)
            return p->rc;
        if (object) {
            for (const ks_json_t *c = node->child; c; c = c->next) {
                if (c->key[0] == key[0] && strcmp(c->key, key) == 0) {
                    p->pos = key_pos;
                    return fail(p, "duplicate key \"%.60s\"", key);
                }
            }
        }
        if (last)
            last->next = child;
        else
            node->child = child;
        last = child;
        node->count++;
        skip_ws(p);
        if (at(p, ',')) {
            p->pos++;
            continue;
        }
        if (at(p, close)) {
            p->pos++;
            p->depth--;
            return KS_OK;
        }
        return fail(p, object ? "expected ',' or '}' in an object"
                              : "expected ',' or ']' in an array");
    }
}

static int parse_value(parser_t *p, const char *key, ks_json_t **out)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, "unexpected end of input");
    ks_json_t *node = new_node(p);
    if (!node)
        return KS_ENOMEM;
    node->key = key;
    *out = node;
    char c = p->s[p->pos];
    switch (c) {
    case '{':
    case '[':
        node->type = c == '{' ? KS_JSON_OBJECT : KS_JSON_ARRAY;
        return parse_container(p, node, c == '{');
    case '"':
        node->type = KS_JSON_STRING;
        return parse_string(p, &node->text, &node->len);
    case 't':
        node->type = KS_JSON_BOOL;
        node->boolean = true;
        return literal(p, "true", 4);
    case 'f':
        node->type = KS_JSON_BOOL;
        return literal(p, "false", 5);
    case 'n':
        node->type = KS_JSON_NULL;
        return literal(p, "null", 4);
    default:
        if (c == '-' || is_digit(c)) {
            node->type = KS_JSON_NUMBER;
            return parse_number(p, node);
        }
        if (c > 0x20 && c < 0x7f)
            return fail(p, "unexpected character '%c'", c);
        return fail(p, "unexpected byte 0x%02x", (unsigned char)c);
    }
}

/* Makes the string area hold what parsing `len` bytes can write: a string takes at most
 * its source length minus one, a number one byte more than its source, and every number
 * but the last is followed by a byte that belongs to no value. So len + 1 suffices. */
static int reserve(parser_t *p, size_t len)
{
    struct ks_json_mem *m = p->mem;
    if (m->str_cap >= len + 1)
        return KS_OK;
    size_t cap = m->str_cap * 2 > len + 1 ? m->str_cap * 2 : len + 1;
    free(m->strs);
    m->str_cap = 0;
    if (!(m->strs = malloc(cap)))
        return no_memory(p);
    m->str_cap = cap;
    return KS_OK;
}

int ks_json_reparse(const char *text, size_t len, ks_json_doc_t *doc, char *err, size_t err_len)
{
    parser_t p;
    ks_json_t *root;

    if (!doc)
        return KS_EINVAL;
    doc->root = NULL;
    if (!text) {
        if (err && err_len)
            snprintf(err, err_len, "invalid JSON: no text");
        return KS_EINVAL;
    }
    memset(&p, 0, sizeof(p));
    p.s = text;
    p.len = len == (size_t)-1 ? strlen(text) : len;
    p.err = err;
    p.err_len = err_len;
    if (!doc->mem && !(doc->mem = calloc(1, sizeof(*doc->mem))))
        return no_memory(&p);
    p.mem = doc->mem;
    if (reserve(&p, p.len) != KS_OK)
        return p.rc;
    p.str = p.mem->strs;
    skip_ws(&p);
    if (p.pos >= p.len)
        return fail(&p, "empty document");
    if (parse_value(&p, NULL, &root) != KS_OK)
        return p.rc;
    skip_ws(&p);
    if (p.pos < p.len)
        return fail(&p, "unexpected text after the document");
    doc->root = root;
    return KS_OK;
}

int ks_json_parse(const char *text, size_t len, ks_json_doc_t *doc, char *err, size_t err_len)
{
    if (!doc)
        return KS_EINVAL;
    *doc = (ks_json_doc_t)KS_JSON_DOC_INIT;
    return ks_json_reparse(text, len, doc, err, err_len);
}

void ks_json_free(ks_json_doc_t *doc)
{
    if (!doc)
        return;
    if (doc->mem) {
        block_t *b = doc->mem->blocks;
        while (b) {
            block_t *next = b->next;
            free(b);
            b = next;
        }
        free(doc->mem->strs);
        free(doc->mem);
    }
    *doc = (ks_json_doc_t)KS_JSON_DOC_INIT;
}

const ks_json_t *ks_json_get(const ks_json_t *obj, const char *key)
{
    if (!obj || obj->type != KS_JSON_OBJECT || !key)
        return NULL;
    for (const ks_json_t *c = obj->child; c; c = c->next)
        if (c->key[0] == key[0] && strcmp(c->key, key) == 0)
            return c;
    return NULL;
}

const char *ks_json_type_name(int type)
{
    switch ((ks_json_type_t)type) {
    case KS_JSON_NULL:
        return "null";
    case KS_JSON_BOOL:
        return "bool";
    case KS_JSON_NUMBER:
        return "number";
    case KS_JSON_STRING:
        return "string";
    case KS_JSON_ARRAY:
        return "array";
    case KS_JSON_OBJECT:
        return "object";
    }
    return "?";
}

const char *ks_json_quote(const ks_json_t *v, char *buf, size_t cap)
{
    if (!cap)
        return buf;
    switch ((ks_json_type_t)v->type) {
    case KS_JSON_NULL:
        snprintf(buf, cap, "null");
        return buf;
    case KS_JSON_BOOL:
        snprintf(buf, cap, "%s", v->boolean ? "true" : "false");
        return buf;
    case KS_JSON_ARRAY:
        snprintf(buf, cap, "an array");
        return buf;
    case KS_JSON_OBJECT:
        snprintf(buf, cap, "an object");
        return buf;
    case KS_JSON_NUMBER:
    case KS_JSON_STRING:
        break;
    }
    bool str = v->type == KS_JSON_STRING;
    size_t o = 0, limit = 40;
    if (str && o + 1 < cap)
        buf[o++] = '"';
    for (size_t i = 0; i < v->len && o + 5 < cap; i++) {
        if (i == limit) {
            o += (size_t)snprintf(buf + o, cap - o, "...");
            break;
        }
        unsigned char c = (unsigned char)v->text[i];
        buf[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (str && o + 1 < cap)
        buf[o++] = '"';
    buf[o < cap ? o : cap - 1] = '\0';
    return buf;
}

static int bad(char *err, size_t err_len, const char *path, const char *key, const char *fmt, ...)
    KS_PRINTF(5, 6);
static int bad(char *err, size_t err_len, const char *path, const char *key, const char *fmt, ...)
{
    if (err && err_len) {
        char k[64];
        size_t i = 0;
        /* Keys come from the document: keep the message on one line. */
        for (; key[i] && i + 1 < sizeof(k); i++)
            k[i] = (unsigned char)key[i] < 0x20 || key[i] == 0x7f ? '?' : key[i];
        k[i] = '\0';
        int n = snprintf(err, err_len, "%s%s: ", path ? path : "", k);
        if (n >= 0 && (size_t)n < err_len) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return KS_EINVAL;
}

static const ks_json_t *present(const ks_json_t *obj, const char *key)
{
    const ks_json_t *v = ks_json_get(obj, key);
    return v && v->type != KS_JSON_NULL ? v : NULL;
}

int ks_json_get_dec(const ks_json_t *obj, const char *path, const char *key, ks_dec_t *out,
                    char *err, size_t err_len)
{
    const ks_json_t *v = present(obj, key);
    char q[64];
    if (!v)
        return 0;
    if (v->type != KS_JSON_NUMBER && v->type != KS_JSON_STRING)
        return bad(err, err_len, path, key, "expected a decimal number, got %s",
                   ks_json_quote(v, q, sizeof(q)));
    switch (ks_dec_parse(v->text, v->len, out)) {
    case KS_OK:
        return 1;
    case KS_ERANGE:
        return bad(err, err_len, path, key,
                   "%s does not fit an exact decimal (at most 18 fraction digits)",
                   ks_json_quote(v, q, sizeof(q)));
    default:
        return bad(err, err_len, path, key, "expected a decimal number, got %s",
                   ks_json_quote(v, q, sizeof(q)));
    }
}

int ks_json_get_int(const ks_json_t *obj, const char *path, const char *key, int64_t min,
                    int64_t max, int64_t *out, char *err, size_t err_len)
{
    const ks_json_t *v = present(obj, key);
    char q[64];
    ks_dec_t d;
    if (!v)
        return 0;
    if ((v->type != KS_JSON_NUMBER && v->type != KS_JSON_STRING) ||
        ks_dec_parse(v->text, v->len, &d) != KS_OK || ks_dec_normalize(d).scale != 0)
        return bad(err, err_len, path, key, "expected an integer, got %s",
                   ks_json_quote(v, q, sizeof(q)));
    d = ks_dec_normalize(d);
    if (d.mant < min || d.mant > max)
        return bad(err, err_len, path, key, "must be between %lld and %lld, got %s", (long long)min,
                   (long long)max, ks_json_quote(v, q, sizeof(q)));
    *out = d.mant;
    return 1;
}

int ks_json_get_bool(const ks_json_t *obj, const char *path, const char *key, bool *out, char *err,
                     size_t err_len)
{
    const ks_json_t *v = present(obj, key);
    char q[64];
    if (!v)
        return 0;
    if (v->type != KS_JSON_BOOL)
        return bad(err, err_len, path, key, "expected true or false, got %s",
                   ks_json_quote(v, q, sizeof(q)));
    *out = v->boolean;
    return 1;
}

static int get_typed(const ks_json_t *obj, const char *path, const char *key, int type,
                     const ks_json_t **out, char *err, size_t err_len)
{
    const ks_json_t *v = present(obj, key);
    char q[64];
    if (!v)
        return 0;
    if (v->type != type)
        return bad(err, err_len, path, key, "expected an %s, got %s", ks_json_type_name(type),
                   ks_json_quote(v, q, sizeof(q)));
    *out = v;
    return 1;
}

int ks_json_get_object(const ks_json_t *obj, const char *path, const char *key,
                       const ks_json_t **out, char *err, size_t err_len)
{
    return get_typed(obj, path, key, KS_JSON_OBJECT, out, err, err_len);
}

int ks_json_get_array(const ks_json_t *obj, const char *path, const char *key,
                      const ks_json_t **out, char *err, size_t err_len)
{
    return get_typed(obj, path, key, KS_JSON_ARRAY, out, err, err_len);
}

int ks_json_check_keys(const ks_json_t *obj, const char *path, const char *const *allowed,
                       char *err, size_t err_len)
{
    if (!obj || obj->type != KS_JSON_OBJECT)
        return KS_OK;
    for (const ks_json_t *c = obj->child; c; c = c->next) {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, c->key) == 0;
        if (!known)
            return bad(err, err_len, path, c->key, "unknown key");
    }
    return KS_OK;
}
