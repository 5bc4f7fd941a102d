/* json_min: a strict JSON reader for plugin configs, run twice over the text: a counting
 * pass sizes one allocation, a filling pass writes nodes and unescaped strings into it, so
 * a document is a single block and every pointer in it stays valid until it is freed. */
#include "json_min.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kestrel/error.h>

#define MAX_DEPTH 64

typedef struct parser {
    const char *s;
    size_t len, pos;
    ks_json_min_node_t *nodes; /* NULL in the counting pass */
    char *strs;                /* NULL in the counting pass */
    size_t n_nodes, n_strs;    /* used so far */
    int depth;
    char *err;
    size_t err_len;
} parser_t;

static int fail(parser_t *p, const char *fmt, ...) KS_PRINTF(2, 3);
static int fail(parser_t *p, const char *fmt, ...)
{
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

static void skip_ws(parser_t *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        p->pos++;
    }
}

static bool at(parser_t *p, char c)
{
    return p->pos < p->len && p->s[p->pos] == c;
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

/* Reads a string at p->pos (on the opening quote); in the filling pass writes it,
 * unescaped and NUL-terminated, into the string area. */
static int parse_string(parser_t *p, const char **out, size_t *out_len)
{
    char *dst = p->strs ? p->strs + p->n_strs : NULL;
    size_t o = 0;
#define PUT(b)                                                                                     \
    do {                                                                                           \
        if (dst)                                                                                   \
            dst[o] = (char)(b);                                                                    \
        o++;                                                                                       \
    } while (0)

    p->pos++; /* the opening quote */
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return fail(p, "control character 0x%02x inside a string", c);
        if (c != '\\') {
            PUT(c);
            p->pos++;
            continue;
        }
        if (++p->pos >= p->len)
            return fail(p, "unterminated escape");
        char e = p->s[p->pos++];
        switch (e) {
        case '"':
        case '\\':
        case '/':
            PUT(e);
            break;
        case 'b':
            PUT('\b');
            break;
        case 'f':
            PUT('\f');
            break;
        case 'n':
            PUT('\n');
            break;
        case 'r':
            PUT('\r');
            break;
        case 't':
            PUT('\t');
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
            if (cp < 0x80) {
                PUT(cp);
            } else if (cp < 0x800) {
                PUT(0xC0 | (cp >> 6));
                PUT(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                PUT(0xE0 | (cp >> 12));
                PUT(0x80 | ((cp >> 6) & 0x3F));
                PUT(0x80 | (cp & 0x3F));
            } else {
                PUT(0xF0 | (cp >> 18));
                PUT(0x80 | ((cp >> 12) & 0x3F));
                PUT(0x80 | ((cp >> 6) & 0x3F));
                PUT(0x80 | (cp & 0x3F));
            }
            break;
        }
        default:
            p->pos--;
            return fail(p, "invalid escape \\%c", e >= 0x20 && e < 0x7f ? e : '?');
        }
    }
    PUT('\0');
#undef PUT
    *out = dst;
    *out_len = o - 1;
    p->n_strs += o;
    return KS_OK;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(parser_t *p, const char **out, size_t *out_len)
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
    char *dst = p->strs ? p->strs + p->n_strs : NULL;
    if (dst) {
        memcpy(dst, p->s + start, n);
        dst[n] = '\0';
    }
    p->n_strs += n + 1;
    *out = dst;
    *out_len = n;
    return KS_OK;
}

static int literal(parser_t *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, "invalid literal (expected %s)", word);
    p->pos += n;
    return KS_OK;
}

static int parse_value(parser_t *p, const char *key, ks_json_min_node_t **out);

/* Appends `child` to `parent` (filling pass only); refuses a repeated key. */
static int link_child(parser_t *p, ks_json_min_node_t *parent, ks_json_min_node_t **last,
                      ks_json_min_node_t *child, size_t key_pos)
{
    if (!parent)
        return KS_OK;
    if (parent->type == KS_JSON_MIN_OBJECT) {
        for (const ks_json_min_node_t *c = parent->child; c; c = c->next) {
            if (strcmp(c->key, child->key) == 0) {
                p->pos = key_pos;
                return fail(p, "duplicate key \"%.60s\"", child->key);
            }
        }
    }
    if (*last)
        (*last)->next = child;
    else
        parent->child = child;
    *last = child;
    parent->count++;
    return KS_OK;
}

static int parse_container(parser_t *p, ks_json_min_node_t *node, bool object)
{
    char close = object ? '}' : ']';
    ks_json_min_node_t *last = NULL;
    if (++p->depth > MAX_DEPTH)
        return fail(p, "nested deeper than %d levels", MAX_DEPTH);
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
        ks_json_min_node_t *child = NULL;
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
            return KS_EINVAL;
        if (link_child(p, node, &last, child, key_pos) != KS_OK)
            return KS_EINVAL;
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

static int parse_value(parser_t *p, const char *key, ks_json_min_node_t **out)
{
    ks_json_min_node_t *node = p->nodes ? &p->nodes[p->n_nodes] : NULL;
    p->n_nodes++;
    *out = node;
    if (node)
        node->key = key;
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, "unexpected end of input");
    char c = p->s[p->pos];
    int type;
    const char *text = NULL;
    size_t len = 0;
    int rc;
    switch (c) {
    case '{':
    case '[':
        type = c == '{' ? KS_JSON_MIN_OBJECT : KS_JSON_MIN_ARRAY;
        if (node)
            node->type = (uint8_t)type;
        return parse_container(p, node, c == '{');
    case '"':
        type = KS_JSON_MIN_STRING;
        rc = parse_string(p, &text, &len);
        break;
    case 't':
    case 'f':
        type = KS_JSON_MIN_BOOL;
        rc = literal(p, c == 't' ? "true" : "false");
        break;
    case 'n':
        type = KS_JSON_MIN_NULL;
        rc = literal(p, "null");
        break;
    default:
        if (c != '-' && !is_digit(c)) {
            if (c > 0x20 && c < 0x7f)
                return fail(p, "unexpected character '%c'", c);
            return fail(p, "unexpected byte 0x%02x", (unsigned char)c);
        }
        type = KS_JSON_MIN_NUMBER;
        rc = parse_number(p, &text, &len);
        break;
    }
    if (rc != KS_OK)
        return rc;
    if (node) {
        node->type = (uint8_t)type;
        node->boolean = c == 't';
        node->text = text;
        node->len = len;
    }
    return KS_OK;
}

static int parse_document(parser_t *p)
{
    ks_json_min_node_t *root;
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, "empty document");
    if (parse_value(p, NULL, &root) != KS_OK)
        return KS_EINVAL;
    skip_ws(p);
    if (p->pos < p->len)
        return fail(p, "unexpected text after the document");
    return KS_OK;
}

int ks_json_min_parse(const char *text, size_t len, ks_json_min_doc_t *doc, char *err,
                      size_t err_len)
{
    parser_t p;
    int rc;

    doc->mem = NULL;
    doc->root = NULL;
    if (!text) {
        snprintf(err, err_len, "invalid JSON: no text");
        return KS_EINVAL;
    }
    memset(&p, 0, sizeof(p));
    p.s = text;
    p.len = len == (size_t)-1 ? strlen(text) : len;
    p.err = err;
    p.err_len = err_len;
    if ((rc = parse_document(&p)) != KS_OK)
        return rc;

    size_t n_nodes = p.n_nodes, n_strs = p.n_strs;
    doc->mem = calloc(1, n_nodes * sizeof(ks_json_min_node_t) + n_strs);
    if (!doc->mem) {
        snprintf(err, err_len, "out of memory reading JSON");
        return KS_ENOMEM;
    }
    memset(&p, 0, sizeof(p));
    p.s = text;
    p.len = len == (size_t)-1 ? strlen(text) : len;
    p.err = err;
    p.err_len = err_len;
    p.nodes = doc->mem;
    p.strs = (char *)doc->mem + n_nodes * sizeof(ks_json_min_node_t);
    /* The second pass fails only on what needs the filled text: duplicate keys. */
    if ((rc = parse_document(&p)) != KS_OK)
        return rc;
    doc->root = p.nodes;
    return KS_OK;
}

void ks_json_min_free(ks_json_min_doc_t *doc)
{
    if (!doc)
        return;
    free(doc->mem);
    doc->mem = NULL;
    doc->root = NULL;
}

const ks_json_min_node_t *ks_json_min_get(const ks_json_min_node_t *obj, const char *key)
{
    if (!obj || obj->type != KS_JSON_MIN_OBJECT || !key)
        return NULL;
    for (const ks_json_min_node_t *c = obj->child; c; c = c->next)
        if (strcmp(c->key, key) == 0)
            return c;
    return NULL;
}

const char *ks_json_min_type_name(int type)
{
    switch ((ks_json_min_type_t)type) {
    case KS_JSON_MIN_NULL:
        return "null";
    case KS_JSON_MIN_BOOL:
        return "bool";
    case KS_JSON_MIN_NUMBER:
        return "number";
    case KS_JSON_MIN_STRING:
        return "string";
    case KS_JSON_MIN_ARRAY:
        return "array";
    case KS_JSON_MIN_OBJECT:
        return "object";
    }
    return "?";
}

const char *ks_json_min_quote(const ks_json_min_node_t *v, char *buf, size_t cap)
{
    if (!cap)
        return buf;
    switch ((ks_json_min_type_t)v->type) {
    case KS_JSON_MIN_NULL:
        snprintf(buf, cap, "null");
        return buf;
    case KS_JSON_MIN_BOOL:
        snprintf(buf, cap, "%s", v->boolean ? "true" : "false");
        return buf;
    case KS_JSON_MIN_ARRAY:
        snprintf(buf, cap, "an array");
        return buf;
    case KS_JSON_MIN_OBJECT:
        snprintf(buf, cap, "an object");
        return buf;
    case KS_JSON_MIN_NUMBER:
    case KS_JSON_MIN_STRING:
        break;
    }
    bool str = v->type == KS_JSON_MIN_STRING;
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
        /* Keys come from the config file: keep the message on one line. */
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

static const ks_json_min_node_t *present(const ks_json_min_node_t *obj, const char *key)
{
    const ks_json_min_node_t *v = ks_json_min_get(obj, key);
    return v && v->type != KS_JSON_MIN_NULL ? v : NULL;
}

int ks_json_min_get_dec(const ks_json_min_node_t *obj, const char *path, const char *key,
                        ks_dec_t *out, char *err, size_t err_len)
{
    const ks_json_min_node_t *v = present(obj, key);
    char q[64];
    if (!v)
        return 0;
    if (v->type != KS_JSON_MIN_NUMBER && v->type != KS_JSON_MIN_STRING)
        return bad(err, err_len, path, key, "expected a decimal number, got %s",
                   ks_json_min_quote(v, q, sizeof(q)));
    switch (ks_dec_parse(v->text, v->len, out)) {
    case KS_OK:
        return 1;
    case KS_ERANGE:
        return bad(err, err_len, path, key,
                   "%s does not fit an exact decimal (at most 18 fraction digits)",
                   ks_json_min_quote(v, q, sizeof(q)));
    default:
        return bad(err, err_len, path, key, "expected a decimal number, got %s",
                   ks_json_min_quote(v, q, sizeof(q)));
    }
}

int ks_json_min_get_int(const ks_json_min_node_t *obj, const char *path, const char *key,
                        int64_t min, int64_t max, int64_t *out, char *err, size_t err_len)
{
    const ks_json_min_node_t *v = present(obj, key);
    char q[64];
    ks_dec_t d;
    if (!v)
        return 0;
    if ((v->type != KS_JSON_MIN_NUMBER && v->type != KS_JSON_MIN_STRING) ||
        ks_dec_parse(v->text, v->len, &d) != KS_OK || ks_dec_normalize(d).scale != 0)
        return bad(err, err_len, path, key, "expected an integer, got %s",
                   ks_json_min_quote(v, q, sizeof(q)));
    d = ks_dec_normalize(d);
    if (d.mant < min || d.mant > max)
        return bad(err, err_len, path, key, "must be between %lld and %lld, got %s", (long long)min,
                   (long long)max, ks_json_min_quote(v, q, sizeof(q)));
    *out = d.mant;
    return 1;
}

int ks_json_min_get_bool(const ks_json_min_node_t *obj, const char *path, const char *key,
                         bool *out, char *err, size_t err_len)
{
    const ks_json_min_node_t *v = present(obj, key);
    char q[64];
    if (!v)
        return 0;
    if (v->type != KS_JSON_MIN_BOOL)
        return bad(err, err_len, path, key, "expected true or false, got %s",
                   ks_json_min_quote(v, q, sizeof(q)));
    *out = v->boolean;
    return 1;
}

static int get_typed(const ks_json_min_node_t *obj, const char *path, const char *key, int type,
                     const ks_json_min_node_t **out, char *err, size_t err_len)
{
    const ks_json_min_node_t *v = present(obj, key);
    char q[64];
    if (!v)
        return 0;
    if (v->type != type)
        return bad(err, err_len, path, key, "expected an %s, got %s", ks_json_min_type_name(type),
                   ks_json_min_quote(v, q, sizeof(q)));
    *out = v;
    return 1;
}

int ks_json_min_get_object(const ks_json_min_node_t *obj, const char *path, const char *key,
                           const ks_json_min_node_t **out, char *err, size_t err_len)
{
    return get_typed(obj, path, key, KS_JSON_MIN_OBJECT, out, err, err_len);
}

int ks_json_min_get_array(const ks_json_min_node_t *obj, const char *path, const char *key,
                          const ks_json_min_node_t **out, char *err, size_t err_len)
{
    return get_typed(obj, path, key, KS_JSON_MIN_ARRAY, out, err, err_len);
}

int ks_json_min_check_keys(const ks_json_min_node_t *obj, const char *path,
                           const char *const *allowed, char *err, size_t err_len)
{
    for (const ks_json_min_node_t *c = obj ? obj->child : NULL; c; c = c->next) {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, c->key) == 0;
        if (!known)
            return bad(err, err_len, path, c->key, "unknown key");
    }
    return KS_OK;
}
