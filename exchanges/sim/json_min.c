/* json_min: recursive-descent JSON reader into a flat node array (see json_min.h).
 * The string arena is sized up front (unescaped text never outgrows its source), so
 * key/text pointers stay valid while the node array grows. */
#include "json_min.h"

#include <kestrel/error.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

typedef struct parser {
    const char *s;
    size_t len, pos;
    ks_json_doc_t *doc;
    char *err;
    size_t err_len;
    int depth;
    int rc;
} parser_t;

static int fail(parser_t *p, const char *what)
{
    if (p->rc == KS_OK) {
        p->rc = KS_EINVAL;
        if (p->err && p->err_len)
            snprintf(p->err, p->err_len, "JSON syntax error at offset %zu: %s", p->pos, what);
    }
    return -1;
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int32_t new_node(parser_t *p, uint8_t type)
{
    ks_json_doc_t *d = p->doc;
    if (d->n == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 32;
        ks_json_t *nodes = realloc(d->nodes, cap * sizeof(*nodes));
        if (!nodes) {
            if (p->rc == KS_OK) {
                p->rc = KS_ENOMEM;
                if (p->err && p->err_len)
                    snprintf(p->err, p->err_len, "out of memory parsing JSON");
            }
            return -1;
        }
        d->nodes = nodes;
        d->cap = cap;
    }
    ks_json_t *n = &d->nodes[d->n];
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->child = -1;
    n->next = -1;
    return (int32_t)d->n++;
}

/* Appends bytes to the arena (capacity reserved in parse()). */
static char *arena_put(parser_t *p, const char *src, size_t n)
{
    ks_json_doc_t *d = p->doc;
    char *dst = d->strings + d->str_len;
    memcpy(dst, src, n);
    d->str_len += n;
    return dst;
}

static void put_utf8(parser_t *p, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    arena_put(p, b, n);
}

static int hex4(parser_t *p, uint32_t *out)
{
    uint32_t v = 0;
    if (p->pos + 4 > p->len)
        return fail(p, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return fail(p, "bad \\u escape");
    }
    *out = v;
    return 0;
}

/* Parses a string at p->pos (on the opening quote); *out points into the arena. Each
 * escape sequence is at least as long as the UTF-8 it produces, so the arena (sized at
 * twice the input) cannot overflow. */
static int parse_string(parser_t *p, const char **out, size_t *out_len)
{
    ks_json_doc_t *d = p->doc;
    size_t start = d->str_len;
    p->pos++; /* opening quote */
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return fail(p, "control character in string");
        if (c != '\\') {
            size_t run = p->pos;
            while (run < p->len && p->s[run] != '"' && p->s[run] != '\\' &&
                   (unsigned char)p->s[run] >= 0x20)
                run++;
            arena_put(p, p->s + p->pos, run - p->pos);
            p->pos = run;
            continue;
        }
        p->pos++;
        if (p->pos >= p->len)
            return fail(p, "unterminated escape");
        char e = p->s[p->pos++];
        char lit;
        switch (e) {
        case '"':
            lit = '"';
            break;
        case '\\':
            lit = '\\';
            break;
        case '/':
            lit = '/';
            break;
        case 'b':
            lit = '\b';
            break;
        case 'f':
            lit = '\f';
            break;
        case 'n':
            lit = '\n';
            break;
        case 'r':
            lit = '\r';
            break;
        case 't':
            lit = '\t';
            break;
        case 'u': {
            uint32_t cp, lo;
            if (hex4(p, &cp) < 0)
                return -1;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (p->pos + 2 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return fail(p, "unpaired surrogate in \\u escape");
                p->pos += 2;
                if (hex4(p, &lo) < 0)
                    return -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail(p, "unpaired surrogate in \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return fail(p, "unpaired surrogate in \\u escape");
            }
            if (cp == 0)
                return fail(p, "\\u0000 is not allowed");
            put_utf8(p, cp);
            continue;
        }
        default:
            return fail(p, "bad escape");
        }
        arena_put(p, &lit, 1);
    }
    *out_len = d->str_len - start;
    arena_put(p, "", 1);
    *out = d->strings + start;
    return 0;
}

static int parse_number(parser_t *p, int32_t idx)
{
    size_t start = p->pos;
    const char *s = p->s;
    if (p->pos < p->len && s[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
        return fail(p, "bad number");
    if (s[p->pos] == '0')
        p->pos++;
    else
        while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
            p->pos++;
    if (p->pos < p->len && s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
            return fail(p, "bad number");
        while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
            p->pos++;
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
            return fail(p, "bad number");
        while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
            p->pos++;
    }
    size_t n = p->pos - start;
    const char *text = arena_put(p, s + start, n);
    arena_put(p, "", 1);
    p->doc->nodes[idx].text = text;
    p->doc->nodes[idx].len = n;
    return 0;
}

static int parse_value(parser_t *p, int32_t *out);

static int parse_container(parser_t *p, int32_t idx, bool object)
{
    char close = object ? '}' : ']';
    int32_t last = -1;
    if (++p->depth > JSON_MAX_DEPTH)
        return fail(p, "nesting too deep");
    p->pos++; /* [ or { */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return 0;
    }
    for (;;) {
        const char *key = NULL;
        size_t key_len;
        int32_t child;
        skip_ws(p);
        if (object) {
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return fail(p, "expected a member name");
            if (parse_string(p, &key, &key_len) < 0)
                return -1;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return fail(p, "expected ':'");
            p->pos++;
        }
        if (parse_value(p, &child) < 0)
            return -1;
        ks_json_t *nodes = p->doc->nodes;
        nodes[child].key = key;
        if (last < 0)
            nodes[idx].child = child;
        else
            nodes[last].next = child;
        nodes[idx].count++;
        last = child;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    p->depth--;
    return 0;
}

static int literal(parser_t *p, const char *word)
{
    size_t n = strlen(word);
    if (p->pos + n > p->len || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, "unexpected character");
    p->pos += n;
    return 0;
}

static int parse_value(parser_t *p, int32_t *out)
{
    int32_t idx;
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, "unexpected end of input");
    char c = p->s[p->pos];
    switch (c) {
    case '{':
    case '[':
        if ((idx = new_node(p, c == '{' ? KS_JSON_OBJECT : KS_JSON_ARRAY)) < 0)
            return -1;
        *out = idx;
        return parse_container(p, idx, c == '{');
    case '"': {
        const char *text;
        size_t len;
        if ((idx = new_node(p, KS_JSON_STRING)) < 0)
            return -1;
        if (parse_string(p, &text, &len) < 0)
            return -1;
        p->doc->nodes[idx].text = text;
        p->doc->nodes[idx].len = len;
        *out = idx;
        return 0;
    }
    case 't':
    case 'f':
        if ((idx = new_node(p, KS_JSON_BOOL)) < 0)
            return -1;
        if (literal(p, c == 't' ? "true" : "false") < 0)
            return -1;
        p->doc->nodes[idx].boolean = c == 't';
        *out = idx;
        return 0;
    case 'n':
        if ((idx = new_node(p, KS_JSON_NULL)) < 0)
            return -1;
        *out = idx;
        return literal(p, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            if ((idx = new_node(p, KS_JSON_NUMBER)) < 0)
                return -1;
            *out = idx;
            return parse_number(p, idx);
        }
        return fail(p, "unexpected character");
    }
}

static int parse_doc(const char *text, size_t len, ks_json_doc_t *doc, char *err, size_t err_len)
{
    parser_t p;
    int32_t root;

    if (!text)
        return KS_EINVAL;
    if (len == (size_t)-1)
        len = strlen(text);
    doc->n = 0;
    doc->str_len = 0;
    if (!doc->strings || doc->str_cap < 2 * len + 16) {
        free(doc->strings);
        doc->str_cap = 2 * len + 16;
        doc->strings = malloc(doc->str_cap);
    }
    if (!doc->strings) {
        doc->str_cap = 0;
        if (err && err_len)
            snprintf(err, err_len, "out of memory parsing JSON");
        return KS_ENOMEM;
    }
    memset(&p, 0, sizeof(p));
    p.s = text;
    p.len = len;
    p.doc = doc;
    p.err = err;
    p.err_len = err_len;
    p.rc = KS_OK;
    if (parse_value(&p, &root) < 0)
        return p.rc;
    skip_ws(&p);
    if (p.pos != p.len) {
        fail(&p, "trailing characters after the value");
        return p.rc;
    }
    return KS_OK;
}

int ks_json_min_parse(const char *text, size_t len, ks_json_doc_t *doc, char *err, size_t err_len)
{
    memset(doc, 0, sizeof(*doc));
    return parse_doc(text, len, doc, err, err_len);
}

int ks_json_min_reparse(const char *text, size_t len, ks_json_doc_t *doc, char *err, size_t err_len)
{
    return parse_doc(text, len, doc, err, err_len);
}

void ks_json_min_free(ks_json_doc_t *doc)
{
    if (!doc)
        return;
    free(doc->nodes);
    free(doc->strings);
    memset(doc, 0, sizeof(*doc));
}

const ks_json_t *ks_json_min_root(const ks_json_doc_t *doc)
{
    return doc->n ? &doc->nodes[0] : NULL;
}

const ks_json_t *ks_json_min_first(const ks_json_doc_t *doc, const ks_json_t *v)
{
    return v && v->child >= 0 ? &doc->nodes[v->child] : NULL;
}

const ks_json_t *ks_json_min_next(const ks_json_doc_t *doc, const ks_json_t *v)
{
    return v && v->next >= 0 ? &doc->nodes[v->next] : NULL;
}

const ks_json_t *ks_json_min_get(const ks_json_doc_t *doc, const ks_json_t *obj, const char *key)
{
    const ks_json_t *found = NULL;
    if (!obj || obj->type != KS_JSON_OBJECT)
        return NULL;
    for (const ks_json_t *c = ks_json_min_first(doc, obj); c; c = ks_json_min_next(doc, c))
        if (strcmp(c->key, key) == 0)
            found = c;
    return found;
}

const char *ks_json_min_type_name(int type)
{
    switch ((ks_json_type_t)type) {
    case KS_JSON_NULL:
        return "null";
    case KS_JSON_BOOL:
        return "boolean";
    case KS_JSON_NUMBER:
        return "number";
    case KS_JSON_STRING:
        return "string";
    case KS_JSON_ARRAY:
        return "array";
    case KS_JSON_OBJECT:
        return "object";
    }
    return "value";
}
