/* bybit_json: the tokenizer behind every Bybit message the adapter reads (see header).
 * One iterative pass with an explicit container stack; tokens are spans of the text. */
#include "bybit_json.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64
#define MIN_CAP   256

static int grow(ks_bybit_json_t *js)
{
    uint32_t nc = js->cap ? js->cap * 2 : MIN_CAP;
    ks_bybit_json_tok_t *nt = realloc(js->tok, (size_t)nc * sizeof(*nt));
    if (!nt)
        return KS_ENOMEM;
    js->tok = nt;
    js->cap = nc;
    return KS_OK;
}

static inline size_t skip_ws(const char *s, size_t p, size_t len)
{
    while (p < len && (s[p] == ' ' || s[p] == '\n' || s[p] == '\r' || s[p] == '\t'))
        p++;
    return p;
}

static int fail(ks_bybit_json_t *js, size_t off, const char *why)
{
    js->err = why;
    js->err_off = (uint32_t)off;
    return KS_EPROTO;
}

/* Scans a number starting at p; returns the offset after it, or 0 when malformed. */
static size_t scan_number(const char *s, size_t p, size_t len)
{
    size_t q = p;
    if (q < len && s[q] == '-')
        q++;
    if (q >= len)
        return 0;
    if (s[q] == '0') {
        q++;
    } else if (s[q] >= '1' && s[q] <= '9') {
        while (q < len && s[q] >= '0' && s[q] <= '9')
            q++;
    } else {
        return 0;
    }
    if (q < len && s[q] == '.') {
        q++;
        if (q >= len || s[q] < '0' || s[q] > '9')
            return 0;
        while (q < len && s[q] >= '0' && s[q] <= '9')
            q++;
    }
    if (q < len && (s[q] == 'e' || s[q] == 'E')) {
        q++;
        if (q < len && (s[q] == '+' || s[q] == '-'))
            q++;
        if (q >= len || s[q] < '0' || s[q] > '9')
            return 0;
        while (q < len && s[q] >= '0' && s[q] <= '9')
            q++;
    }
    return q;
}

/* Scans a string body from q (just after the opening quote) to its closing quote; returns
 * the quote's offset, or 0 when unterminated. Short strings dominate Bybit messages, so a
 * byte loop beats two memchr() calls per string. */
static inline size_t scan_string(const char *s, size_t q, size_t len, uint8_t *esc)
{
    while (q < len) {
        char c = s[q];
        if (c == '"')
            return q;
        if (c == '\\') {
            *esc = 1;
            q += 2;
            continue;
        }
        q++;
    }
    return 0;
}

int ks_bybit_json_parse(ks_bybit_json_t *js, const char *s, size_t len)
{
    uint32_t stack[MAX_DEPTH];
    int depth = 0;
    size_t p;

    js->text = s;
    js->text_len = len;
    js->n = 0;
    js->err = NULL;
    js->err_off = 0;
    if (len >= UINT32_MAX)
        return KS_ERANGE;
    p = skip_ws(s, 0, len);

value:
    if (p >= len)
        return fail(js, p, "unexpected end of text");
    if (js->n == js->cap && grow(js) != KS_OK)
        return KS_ENOMEM;
    {
        uint32_t idx = js->n++;
        ks_bybit_json_tok_t *t = &js->tok[idx];
        t->escaped = 0;
        t->len = 0;
        t->count = 0;
        t->start = (uint32_t)p;
        t->parent = depth ? (int32_t)stack[depth - 1] : -1;
        if (depth)
            js->tok[stack[depth - 1]].count++;
        switch (s[p]) {
        case '{':
        case '[': {
            bool obj = s[p] == '{';
            t->type = obj ? KS_BJ_OBJECT : KS_BJ_ARRAY;
            p = skip_ws(s, p + 1, len);
            if (p < len && s[p] == (obj ? '}' : ']')) {
                t->next = js->n;
                p++;
                goto after_value;
            }
            if (depth == MAX_DEPTH)
                return fail(js, p, "nested too deeply");
            stack[depth++] = idx;
            if (obj)
                goto member;
            goto value;
        }
        case '"': {
            uint8_t esc = 0;
            size_t e = scan_string(s, p + 1, len, &esc);
            if (!e)
                return fail(js, p, "unterminated string");
            t->type = KS_BJ_STRING;
            t->start = (uint32_t)(p + 1);
            t->len = (uint32_t)(e - p - 1);
            t->escaped = esc;
            p = e + 1;
            t->next = js->n;
            goto after_value;
        }
        case 't':
            if (len - p < 4 || memcmp(s + p, "true", 4) != 0)
                return fail(js, p, "invalid literal");
            t->type = KS_BJ_TRUE;
            p += 4;
            t->next = js->n;
            goto after_value;
        case 'f':
            if (len - p < 5 || memcmp(s + p, "false", 5) != 0)
                return fail(js, p, "invalid literal");
            t->type = KS_BJ_FALSE;
            p += 5;
            t->next = js->n;
            goto after_value;
        case 'n':
            if (len - p < 4 || memcmp(s + p, "null", 4) != 0)
                return fail(js, p, "invalid literal");
            t->type = KS_BJ_NULL;
            p += 4;
            t->next = js->n;
            goto after_value;
        default: {
            size_t q = scan_number(s, p, len);
            if (!q)
                return fail(js, p, "unexpected character");
            t->type = KS_BJ_NUMBER;
            t->len = (uint32_t)(q - p);
            p = q;
            t->next = js->n;
            goto after_value;
        }
        }
    }

member:
    /* Inside an object, before a member name. */
    if (p >= len || s[p] != '"')
        return fail(js, p, "expected a member name");
    {
        if (js->n == js->cap && grow(js) != KS_OK)
            return KS_ENOMEM;
        uint32_t idx = js->n++;
        ks_bybit_json_tok_t *t = &js->tok[idx];
        uint8_t esc = 0;
        size_t e = scan_string(s, p + 1, len, &esc);
        if (!e)
            return fail(js, p, "unterminated string");
        t->type = KS_BJ_STRING;
        t->escaped = esc;
        t->start = (uint32_t)(p + 1);
        t->len = (uint32_t)(e - p - 1);
        t->count = 0;
        t->parent = (int32_t)stack[depth - 1];
        t->next = js->n;
        p = e + 1;
        p = skip_ws(s, p, len);
        if (p >= len || s[p] != ':')
            return fail(js, p, "expected ':'");
        p = skip_ws(s, p + 1, len);
        goto value;
    }

after_value:
    p = skip_ws(s, p, len);
    if (!depth) {
        if (p != len)
            return fail(js, p, "trailing characters after the document");
        return KS_OK;
    }
    {
        uint32_t top = stack[depth - 1];
        bool obj = js->tok[top].type == KS_BJ_OBJECT;
        if (p >= len)
            return fail(js, p, "unexpected end of text");
        if (s[p] == ',') {
            p = skip_ws(s, p + 1, len);
            if (obj)
                goto member;
            goto value;
        }
        if (s[p] == (obj ? '}' : ']')) {
            js->tok[top].next = js->n;
            depth--;
            p++;
            goto after_value;
        }
        return fail(js, p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

void ks_bybit_json_free(ks_bybit_json_t *js)
{
    free(js->tok);
    memset(js, 0, sizeof(*js));
}

static inline bool key_is(const ks_bybit_json_t *js, uint32_t k, const char *key, size_t klen)
{
    const ks_bybit_json_tok_t *t = &js->tok[k];
    if (t->len != klen)
        return false;
    const char *a = js->text + t->start;
    for (size_t i = 0; i < klen; i++) /* keys are short: no memcmp() call */
        if (a[i] != key[i])
            return false;
    return true;
}

int ks_bybit_json_get(const ks_bybit_json_t *js, int obj, const char *key)
{
    if (obj < 0 || (uint32_t)obj >= js->n || js->tok[obj].type != KS_BJ_OBJECT)
        return -1;
    size_t klen = strlen(key);
    uint32_t end = js->tok[obj].next;
    uint32_t k = (uint32_t)obj + 1;
    while (k < end) {
        uint32_t v = k + 1;
        if (key_is(js, k, key, klen))
            return (int)v;
        k = js->tok[v].next;
    }
    return -1;
}

int ks_bybit_json_first(const ks_bybit_json_t *js, int c)
{
    if (c < 0 || (uint32_t)c >= js->n || !js->tok[c].count)
        return -1;
    if (js->tok[c].type == KS_BJ_ARRAY)
        return c + 1;
    if (js->tok[c].type == KS_BJ_OBJECT)
        return c + 2;
    return -1;
}

int ks_bybit_json_next(const ks_bybit_json_t *js, int i)
{
    if (i <= 0 || (uint32_t)i >= js->n)
        return -1;
    int32_t par = js->tok[i].parent;
    if (par < 0)
        return -1;
    uint32_t j = js->tok[i].next;
    if (j >= js->tok[par].next)
        return -1;
    return js->tok[par].type == KS_BJ_OBJECT ? (int)j + 1 : (int)j;
}

int ks_bybit_json_at(const ks_bybit_json_t *js, int arr, uint32_t n)
{
    if (ks_bybit_json_type(js, arr) != KS_BJ_ARRAY || n >= js->tok[arr].count)
        return -1;
    int i = arr + 1;
    while (n--)
        i = (int)js->tok[i].next;
    return i;
}

int ks_bybit_json_key_of(const ks_bybit_json_t *js, int value)
{
    if (value <= 0 || (uint32_t)value >= js->n)
        return -1;
    int32_t par = js->tok[value].parent;
    return par >= 0 && js->tok[par].type == KS_BJ_OBJECT ? value - 1 : -1;
}

const char *ks_bybit_json_raw(const ks_bybit_json_t *js, int i, size_t *len)
{
    int t = ks_bybit_json_type(js, i);
    if (t != KS_BJ_STRING && t != KS_BJ_NUMBER)
        return NULL;
    *len = js->tok[i].len;
    return js->text + js->tok[i].start;
}

bool ks_bybit_json_eq(const ks_bybit_json_t *js, int i, const char *s)
{
    size_t len;
    const char *r = ks_bybit_json_raw(js, i, &len);
    return r && strlen(s) == len && memcmp(r, s, len) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int read_u4(const char *s, size_t n)
{
    if (n < 4)
        return -1;
    int v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(s[k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Appends one code point as UTF-8; returns bytes written (0 when it did not fit). */
static size_t put_utf8(char *o, size_t room, uint32_t cp)
{
    if (cp < 0x80 && room >= 1) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800 && room >= 2) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000 && room >= 3) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (room >= 4) {
        o[0] = (char)(0xF0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
    return 0;
}

int ks_bybit_json_str(const ks_bybit_json_t *js, int i, char *buf, size_t cap)
{
    size_t len;
    const char *r = ks_bybit_json_raw(js, i, &len);
    if (!r)
        return -1;
    if (!js->tok[i].escaped) {
        if (cap) {
            size_t n = len < cap - 1 ? len : cap - 1;
            memcpy(buf, r, n);
            buf[n] = '\0';
        }
        return (int)len;
    }
    /* Unescape into a small bounce buffer, then truncate into buf. */
    size_t out = 0;
    char tmp[8];
    for (size_t k = 0; k < len; k++) {
        size_t w = 0;
        if (r[k] != '\\' || k + 1 >= len) {
            tmp[0] = r[k];
            w = 1;
        } else {
            char c = r[++k];
            switch (c) {
            case 'b':
                tmp[0] = '\b';
                w = 1;
                break;
            case 'f':
                tmp[0] = '\f';
                w = 1;
                break;
            case 'n':
                tmp[0] = '\n';
                w = 1;
                break;
            case 'r':
                tmp[0] = '\r';
                w = 1;
                break;
            case 't':
                tmp[0] = '\t';
                w = 1;
                break;
            case 'u': {
                int cp = read_u4(r + k + 1, len - k - 1);
                if (cp < 0) {
                    tmp[0] = '?';
                    w = 1;
                    break;
                }
                k += 4;
                uint32_t c32 = (uint32_t)cp;
                if (cp >= 0xD800 && cp < 0xDC00 && k + 6 < len && r[k + 1] == '\\' &&
                    r[k + 2] == 'u') {
                    int lo = read_u4(r + k + 3, len - k - 3);
                    if (lo >= 0xDC00 && lo < 0xE000) {
                        c32 = 0x10000 + (((uint32_t)cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
                        k += 6;
                    }
                }
                w = put_utf8(tmp, sizeof(tmp), c32);
                break;
            }
            default:
                tmp[0] = c;
                w = 1;
                break;
            }
        }
        for (size_t m = 0; m < w; m++) {
            if (cap && out + 1 < cap)
                buf[out] = tmp[m];
            out++;
        }
    }
    if (cap)
        buf[out < cap ? out : cap - 1] = '\0';
    return (int)out;
}

int ks_bybit_json_parse_dec(const char *s, size_t len, ks_dec_t *out)
{
    size_t k = 0;
    bool neg = false, dot = false;
    uint64_t m = 0;
    int digits = 0, scale = 0;

    if (!len)
        return KS_EINVAL;
    if (s[0] == '-') {
        neg = true;
        k = 1;
    }
    if (k == len)
        return KS_EINVAL;
    for (; k < len; k++) {
        char c = s[k];
        if (c >= '0' && c <= '9') {
            if (m || c != '0')
                digits++;
            if (digits > 18)
                return ks_dec_parse(s, len, out);
            m = m * 10 + (uint64_t)(c - '0');
            if (dot)
                scale++;
        } else if (c == '.' && !dot) {
            dot = true;
        } else {
            return ks_dec_parse(s, len, out);
        }
    }
    if (scale > KS_DEC_MAX_SCALE)
        return ks_dec_parse(s, len, out);
    if (dot && s[len - 1] == '.')
        return KS_EINVAL;
    out->mant = neg ? -(int64_t)m : (int64_t)m;
    out->scale = scale;
    return KS_OK;
}

int ks_bybit_json_dec(const ks_bybit_json_t *js, int i, ks_dec_t *out)
{
    size_t len;
    int t = ks_bybit_json_type(js, i);
    if (t == KS_BJ_NONE || t == KS_BJ_NULL)
        return KS_ENOENT;
    const char *r = ks_bybit_json_raw(js, i, &len);
    if (!r)
        return KS_EINVAL;
    if (!len)
        return KS_ENOENT;
    return ks_bybit_json_parse_dec(r, len, out) == KS_OK ? KS_OK : KS_EINVAL;
}

int ks_bybit_json_i64(const ks_bybit_json_t *js, int i, int64_t *out)
{
    size_t len;
    int t = ks_bybit_json_type(js, i);
    if (t == KS_BJ_NONE || t == KS_BJ_NULL)
        return KS_ENOENT;
    const char *r = ks_bybit_json_raw(js, i, &len);
    if (!r)
        return KS_EINVAL;
    if (!len)
        return KS_ENOENT;
    size_t k = 0;
    bool neg = false;
    uint64_t v = 0;
    if (r[0] == '-') {
        neg = true;
        k = 1;
    }
    if (k == len)
        return KS_EINVAL;
    for (; k < len; k++) {
        if (r[k] < '0' || r[k] > '9' || v > (UINT64_MAX - 9) / 10)
            return KS_EINVAL;
        v = v * 10 + (uint64_t)(r[k] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return KS_EINVAL;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return KS_OK;
}

int ks_bybit_json_bool(const ks_bybit_json_t *js, int i, bool *out)
{
    switch (ks_bybit_json_type(js, i)) {
    case KS_BJ_TRUE:
        *out = true;
        return KS_OK;
    case KS_BJ_FALSE:
        *out = false;
        return KS_OK;
    case KS_BJ_STRING:
    case KS_BJ_NUMBER:
        if (ks_bybit_json_eq(js, i, "true") || ks_bybit_json_eq(js, i, "1")) {
            *out = true;
            return KS_OK;
        }
        if (ks_bybit_json_eq(js, i, "false") || ks_bybit_json_eq(js, i, "0")) {
            *out = false;
            return KS_OK;
        }
        return KS_EINVAL;
    case KS_BJ_NONE:
    case KS_BJ_NULL:
        return KS_ENOENT;
    case KS_BJ_OBJECT:
    case KS_BJ_ARRAY:
        return KS_EINVAL;
    }
    return KS_EINVAL;
}

int ks_bybit_json_get_dec(const ks_bybit_json_t *js, int obj, const char *key, ks_dec_t *out)
{
    return ks_bybit_json_dec(js, ks_bybit_json_get(js, obj, key), out);
}

int ks_bybit_json_get_i64(const ks_bybit_json_t *js, int obj, const char *key, int64_t *out)
{
    return ks_bybit_json_i64(js, ks_bybit_json_get(js, obj, key), out);
}
