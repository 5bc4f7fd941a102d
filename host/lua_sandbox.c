/* The strategy sandbox: a whitelist of the standard library, text-only load, a require
 * limited to strategies/lib, print to the strategy's log, and the string metatable
 * pointed at the sandboxed string table (no string.dump anywhere). Only base, table,
 * string, math and bit are opened in a strategy VM: io, os, package, debug, ffi and jit
 * never exist there.
 *
 * The instruction budget counts VM instructions, and the count hook never fires inside
 * a C function. So every library function whose work grows with its input is wrapped
 * here and charges that work to the budget (ks_lua_charge): one unit per 16 bytes it
 * scans or copies, one per pattern-matching step. Lua patterns backtrack (string.find
 * with "a*a*a*b" is polynomial in the subject's length), so find, match, gmatch and gsub
 * are a step-counted port of the Lua 5.1 matcher, with its recursion depth bounded.
 * Functions that call back into Lua check the C stack first (ks_lua_check_cstack), and
 * xpcall runs its handler after unwinding, where the budget's hook can reach it. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "log.h"
#include "lua_runtime.h"

#define BYTES_PER_UNIT     16   /* bytes scanned or copied per budget unit */
#define PRINT_MAX          4096 /* bytes of one print() line */
#define PRINT_CALL_COST    100  /* budget units per print() call */
#define MATCH_MAXCAPTURES  32
#define MATCH_MAXDEPTH     200       /* nested matcher calls ("pattern too complex") */
#define MATCH_MAX_STEPS    100000000 /* per call, even outside a budget (test code) */
#define MATCH_CHARGE_EVERY 4096
#define REQUIRE_LOADING    "kestrel.require.loading"

static void charge_bytes(lua_State *L, size_t n)
{
    ks_lua_charge(L, (int64_t)(n / BYTES_PER_UNIT) + 1);
}

/* ---- print, load, require, collectgarbage ------------------------------------------ */

static int sb_print(lua_State *L)
{
    ks_strategy_t *st = ks_strategy_from_lua(L);
    luaL_Buffer b;
    int n = lua_gettop(L);
    size_t total = 0;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n && total < PRINT_MAX; i++) {
        size_t len;
        const char *s;
        char tmp[64];
        int t = lua_type(L, i);
        if (i > 1) {
            luaL_addchar(&b, '\t');
            total++;
        }
        if (t == LUA_TSTRING || t == LUA_TNUMBER) {
            s = lua_tolstring(L, i, &len);
        } else {
            if (t == LUA_TNIL)
                snprintf(tmp, sizeof(tmp), "nil");
            else if (t == LUA_TBOOLEAN)
                snprintf(tmp, sizeof(tmp), "%s", lua_toboolean(L, i) ? "true" : "false");
            else /* no __tostring: a metamethod must not run inside print */
                snprintf(tmp, sizeof(tmp), "%s: %p", luaL_typename(L, i), lua_topointer(L, i));
            s = tmp;
            len = strlen(tmp);
        }
        if (len > PRINT_MAX - total)
            len = PRINT_MAX - total;
        luaL_addlstring(&b, s, len);
        total += len;
    }
    luaL_pushresult(&b);
    /* A line costs like a short loop: logging cannot be a way around the budget. */
    ks_lua_charge(L, PRINT_CALL_COST + (int64_t)(total / BYTES_PER_UNIT));
    if (st && !ks_strategy_log_admit(st))
        return 0;
    char comp[KS_NAME_LEN + 16];
    snprintf(comp, sizeof(comp), "strategy.%s", st ? ks_strategy_name(st) : "?");
    ks_log(KS_LOG_INFO, comp, "%s", lua_tostring(L, -1));
    return 0;
}

/* load(chunk [, chunkname [, mode [, env]]]): source text only (a string), default env
 * the sandbox. */
static int sb_load(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *chunkname = luaL_optstring(L, 2, "=(load)");
    charge_bytes(L, len);
    if (len > 0 && s[0] == LUA_SIGNATURE[0]) {
        lua_pushnil(L);
        lua_pushliteral(L, "binary chunks are not allowed");
        return 2;
    }
    /* Mode "t": LuaJIT also refuses bytecode hidden behind a '#' line or a BOM. */
    if (luaL_loadbufferx(L, s, len, chunkname, "t") != 0) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    if (lua_istable(L, 4))
        lua_pushvalue(L, 4);
    else
        lua_pushvalue(L, lua_upvalueindex(1)); /* the sandbox env */
    lua_setfenv(L, -2);
    return 1;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)n + 1)) != NULL) {
            *len = fread(text, 1, (size_t)n, f);
            text[*len] = '\0';
        }
    }
    fclose(f);
    return text;
}

/* require(name): only <dir>/lib/<name>.lua (dir: the strategy file's directory) or the
 * source tree's strategies/lib/<name>.lua, loaded as text into the sandbox. Dots in
 * the name are directories ("util.math" -> lib/util/math.lua); nothing else but letters,
 * digits and '_' is allowed, so no absolute path and no "..". */
static int sb_require(lua_State *L)
{
    size_t nlen;
    const char *name = luaL_checklstring(L, 1, &nlen);
    bool ok = nlen > 0 && nlen < 128 && name[0] != '.' && name[nlen - 1] != '.';
    for (const char *p = name; ok && *p; p++)
        ok = *p == '_' || *p == '.' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
             (*p >= '0' && *p <= '9');
    if (!ok || strstr(name, "..") || strlen(name) != nlen)
        return luaL_error(L,
                          "require: invalid module name '%s' (letters, digits, '_' and '.' "
                          "only; modules live in strategies/lib)",
                          name);
    lua_getfield(L, lua_upvalueindex(2), name); /* loaded cache */
    if (lua_touserdata(L, -1) == (void *)REQUIRE_LOADING)
        return luaL_error(L, "require: module '%s' requires itself (a cycle)", name);
    if (!lua_isnil(L, -1))
        return 1;
    lua_pop(L, 1);
    char mod[256], path[1400];
    ks_strlcpy(mod, name, sizeof(mod));
    for (char *p = mod; *p; p++)
        if (*p == '.')
            *p = '/';
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/lib/%s.lua", lua_tostring(L, lua_upvalueindex(3)), mod);
    char *text = slurp(path, &len);
    if (!text) {
        snprintf(path, sizeof(path), "%s/strategies/lib/%s.lua", KS_SOURCE_DIR, mod);
        text = slurp(path, &len);
    }
    if (!text)
        return luaL_error(L, "require: module '%s' not found in strategies/lib", name);
    charge_bytes(L, len);
    char chunk[1500];
    snprintf(chunk, sizeof(chunk), "@%s", path);
    int rc =
        len > 0 && text[0] == LUA_SIGNATURE[0] ? -1 : luaL_loadbufferx(L, text, len, chunk, "t");
    free(text);
    if (rc < 0)
        return luaL_error(L, "require: %s is a binary chunk", path);
    if (rc != 0)
        return lua_error(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_setfenv(L, -2);
    lua_pushlightuserdata(L, (void *)REQUIRE_LOADING);
    lua_setfield(L, lua_upvalueindex(2), name);
    lua_pushstring(L, name);
    ks_lua_check_cstack(L);
    /* An error leaves the marker: requiring a module that failed fails again, with the
     * cycle message; the strategy errors out either way. */
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, -1);
    lua_setfield(L, lua_upvalueindex(2), name);
    return 1;
}

static int sb_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "count") == 0) {
        lua_pushnumber(L, (lua_Number)lua_gc(L, LUA_GCCOUNT, 0) +
                              (lua_Number)lua_gc(L, LUA_GCCOUNTB, 0) / 1024.0);
        return 1;
    }
    if (strcmp(opt, "collect") == 0 || strcmp(opt, "step") == 0) {
        /* A full collection walks the whole heap: charge it like a scan of it. */
        charge_bytes(L, (size_t)lua_gc(L, LUA_GCCOUNT, 0) * 1024);
        lua_gc(L, strcmp(opt, "collect") == 0 ? LUA_GCCOLLECT : LUA_GCSTEP, 0);
        lua_pushinteger(L, 0);
        return 1;
    }
    return luaL_error(L, "collectgarbage('%s') is not allowed in a strategy", opt);
}

/* xpcall(f, handler, ...): pcall, then the handler on the error. LuaJIT runs a real
 * xpcall handler before unwinding, and when the error came from the budget's count hook
 * the hook is still marked active there: a looping handler would never be stopped. Run
 * after the unwind (by the base library's pcall, which clears that mark), the handler is
 * budgeted like any code. Upvalue 1: the real pcall. */
static int sb_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checkany(L, 2);
    ks_lua_check_cstack(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    for (int i = 3; i <= n; i++)
        lua_pushvalue(L, i);
    lua_call(L, n - 1, LUA_MULTRET);
    if (lua_toboolean(L, n + 1))
        return lua_gettop(L) - n;
    /* false, err: return false, handler(err) (an error in the handler is caught too). */
    lua_settop(L, n + 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 2);
    lua_pushvalue(L, n + 2);
    lua_call(L, 2, 2);
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
}

/* ---- charged wrappers of library functions ---------------------------------------- */

/* Calls the wrapped original (upvalue 1) with all arguments; returns all results. */
static int call_orig(lua_State *L)
{
    int n = lua_gettop(L);
    ks_lua_check_cstack(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

/* string.rep, sub, upper, lower, reverse: the result's size is known up front. */
static int w_rep(lua_State *L)
{
    size_t len;
    luaL_checklstring(L, 1, &len);
    double n = luaL_checknumber(L, 2);
    size_t sep = 0;
    if (lua_type(L, 3) == LUA_TSTRING)
        lua_tolstring(L, 3, &sep);
    double total = n > 0 ? n * (double)(len + sep) : 0;
    ks_lua_charge(L, (int64_t)(total > 1e15 ? 1e15 : total / BYTES_PER_UNIT) + 1);
    return call_orig(L);
}

static int w_len1(lua_State *L)
{
    size_t len;
    luaL_checklstring(L, 1, &len);
    charge_bytes(L, len);
    return call_orig(L);
}

/* string.format, table.concat: charged by the size of the result. */
static int w_result_size(lua_State *L)
{
    int n = call_orig(L);
    if (n > 0 && lua_type(L, -1) == LUA_TSTRING)
        charge_bytes(L, lua_objlen(L, -1));
    return n;
}

/* tonumber scans its whole string argument. */
static int w_tonumber(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING)
        charge_bytes(L, lua_objlen(L, 1));
    return call_orig(L);
}

/* table.insert shifts the array part; table.sort is n log n comparisons. */
static int w_insert(lua_State *L)
{
    if (lua_istable(L, 1))
        ks_lua_charge(L, (int64_t)lua_objlen(L, 1) + 1);
    return call_orig(L);
}

static int w_sort(lua_State *L)
{
    if (lua_istable(L, 1)) {
        int64_t n = (int64_t)lua_objlen(L, 1), lg = 1;
        while ((1LL << lg) < n && lg < 62)
            lg++;
        ks_lua_charge(L, n * lg + 1);
    }
    return call_orig(L);
}

/* table.maxn walks the whole table, hash part included: count as we go. */
static int w_maxn(lua_State *L)
{
    lua_Number max = 0;
    int64_t steps = 0;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) > max)
            max = lua_tonumber(L, -1);
        if (++steps == 1024) {
            ks_lua_charge(L, steps);
            steps = 0;
        }
    }
    ks_lua_charge(L, steps);
    lua_pushnumber(L, max);
    return 1;
}

/* ---- pattern matching: Lua 5.1's matcher, step-counted ----------------------------- */

#define L_ESC          '%'
#define SPECIALS       "^$*+?.([%-"
#define CAP_UNFINISHED (-1)
#define CAP_POSITION   (-2)

typedef struct mstate {
    const char *src_init, *src_end;
    lua_State *L;
    int level, depth;
    int64_t steps, total;
    struct {
        const char *init;
        ptrdiff_t len;
    } capture[MATCH_MAXCAPTURES];
} mstate_t;

static void ms_step(mstate_t *ms, int64_t n)
{
    ms->steps += n;
    if (ms->steps >= MATCH_CHARGE_EVERY) {
        ms->total += ms->steps;
        int64_t s = ms->steps;
        ms->steps = 0;
        if (ms->total > MATCH_MAX_STEPS)
            luaL_error(ms->L, "pattern too complex (more than %d matching steps)", MATCH_MAX_STEPS);
        ks_lua_charge(ms->L, s);
    }
}

static void ms_done(mstate_t *ms)
{
    ks_lua_charge(ms->L, ms->steps);
    ms->steps = 0;
}

static int check_capture(mstate_t *ms, int l)
{
    l -= '1';
    if (l < 0 || l >= ms->level || ms->capture[l].len == CAP_UNFINISHED)
        return luaL_error(ms->L, "invalid capture index");
    return l;
}

static int capture_to_close(mstate_t *ms)
{
    int level = ms->level;
    for (level--; level >= 0; level--)
        if (ms->capture[level].len == CAP_UNFINISHED)
            return level;
    return luaL_error(ms->L, "invalid pattern capture");
}

static const char *class_end(mstate_t *ms, const char *p)
{
    switch (*p++) {
    case L_ESC:
        if (*p == '\0')
            luaL_error(ms->L, "malformed pattern (ends with '%%')");
        return p + 1;
    case '[':
        if (*p == '^')
            p++;
        do { /* look for a ']' */
            if (*p == '\0')
                luaL_error(ms->L, "malformed pattern (missing ']')");
            if (*(p++) == L_ESC && *p != '\0')
                p++; /* skip escapes (e.g. '%]') */
        } while (*p != ']');
        return p + 1;
    default:
        return p;
    }
}

static int match_class(int c, int cl)
{
    int res;
    switch (tolower(cl)) {
    case 'a':
        res = isalpha(c);
        break;
    case 'c':
        res = iscntrl(c);
        break;
    case 'd':
        res = isdigit(c);
        break;
    case 'g':
        res = isgraph(c);
        break;
    case 'l':
        res = islower(c);
        break;
    case 'p':
        res = ispunct(c);
        break;
    case 's':
        res = isspace(c);
        break;
    case 'u':
        res = isupper(c);
        break;
    case 'w':
        res = isalnum(c);
        break;
    case 'x':
        res = isxdigit(c);
        break;
    case 'z':
        res = (c == 0);
        break;
    default:
        return cl == c;
    }
    if (isupper(cl))
        res = !res;
    return res;
}

static int match_bracket_class(int c, const char *p, const char *ec)
{
    int sig = 1;
    if (*(p + 1) == '^') {
        sig = 0;
        p++; /* skip the '^' */
    }
    while (++p < ec) {
        if (*p == L_ESC) {
            p++;
            if (match_class(c, (unsigned char)*p))
                return sig;
        } else if (*(p + 1) == '-' && p + 2 < ec) {
            p += 2;
            if ((unsigned char)*(p - 2) <= c && c <= (unsigned char)*p)
                return sig;
        } else if ((unsigned char)*p == c) {
            return sig;
        }
    }
    return !sig;
}

static int single_match(int c, const char *p, const char *ep)
{
    switch (*p) {
    case '.':
        return 1;
    case L_ESC:
        return match_class(c, (unsigned char)*(p + 1));
    case '[':
        return match_bracket_class(c, p, ep - 1);
    default:
        return (unsigned char)*p == c;
    }
}

static const char *do_match(mstate_t *ms, const char *s, const char *p);

static const char *match_balance(mstate_t *ms, const char *s, const char *p)
{
    if (*p == 0 || *(p + 1) == 0)
        luaL_error(ms->L, "unbalanced pattern");
    if (s >= ms->src_end || *s != *p)
        return NULL;
    int b = *p, e = *(p + 1), cont = 1;
    while (++s < ms->src_end) {
        ms_step(ms, 1);
        if (*s == e) {
            if (--cont == 0)
                return s + 1;
        } else if (*s == b) {
            cont++;
        }
    }
    return NULL; /* string ends out of balance */
}

static const char *max_expand(mstate_t *ms, const char *s, const char *p, const char *ep)
{
    ptrdiff_t i = 0; /* counts maximum expand for item */
    while (s + i < ms->src_end && single_match((unsigned char)*(s + i), p, ep))
        i++;
    ms_step(ms, i);
    /* keeps trying to match with the maximum repetitions */
    while (i >= 0) {
        const char *res = do_match(ms, s + i, ep + 1);
        if (res)
            return res;
        i--;
    }
    return NULL;
}

static const char *min_expand(mstate_t *ms, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *res = do_match(ms, s, ep + 1);
        if (res != NULL)
            return res;
        if (s < ms->src_end && single_match((unsigned char)*s, p, ep))
            s++; /* try with one more repetition */
        else
            return NULL;
    }
}

static const char *start_capture(mstate_t *ms, const char *s, const char *p, int what)
{
    const char *res;
    int level = ms->level;
    if (level >= MATCH_MAXCAPTURES)
        luaL_error(ms->L, "too many captures");
    ms->capture[level].init = s;
    ms->capture[level].len = what;
    ms->level = level + 1;
    if ((res = do_match(ms, s, p)) == NULL) /* match failed? */
        ms->level--;                        /* undo capture */
    return res;
}

static const char *end_capture(mstate_t *ms, const char *s, const char *p)
{
    int l = capture_to_close(ms);
    const char *res;
    ms->capture[l].len = s - ms->capture[l].init; /* close capture */
    if ((res = do_match(ms, s, p)) == NULL)       /* match failed? */
        ms->capture[l].len = CAP_UNFINISHED;      /* undo capture */
    return res;
}

static const char *match_capture(mstate_t *ms, const char *s, int l)
{
    l = check_capture(ms, l);
    size_t len = (size_t)ms->capture[l].len;
    ms_step(ms, (int64_t)(len / BYTES_PER_UNIT));
    if ((size_t)(ms->src_end - s) >= len && memcmp(ms->capture[l].init, s, len) == 0)
        return s + len;
    return NULL;
}

static const char *match_body(mstate_t *ms, const char *s, const char *p)
{
init: /* using goto's to optimize tail recursion */
    ms_step(ms, 1);
    switch (*p) {
    case '(':                /* start capture */
        if (*(p + 1) == ')') /* position capture? */
            return start_capture(ms, s, p + 2, CAP_POSITION);
        return start_capture(ms, s, p + 1, CAP_UNFINISHED);
    case ')': /* end capture */
        return end_capture(ms, s, p + 1);
    case L_ESC:
        switch (*(p + 1)) {
        case 'b': /* balanced string? */
            s = match_balance(ms, s, p + 2);
            if (s == NULL)
                return NULL;
            p += 4;
            goto init;
        case 'f': { /* frontier? */
            const char *ep;
            char previous;
            p += 2;
            if (*p != '[')
                luaL_error(ms->L, "missing '[' after '%%f' in pattern");
            ep = class_end(ms, p); /* points to what is next */
            previous = (s == ms->src_init) ? '\0' : *(s - 1);
            if (match_bracket_class((unsigned char)previous, p, ep - 1) ||
                !match_bracket_class(s < ms->src_end ? (unsigned char)*s : 0, p, ep - 1))
                return NULL;
            p = ep;
            goto init;
        }
        default:
            if (isdigit((unsigned char)*(p + 1))) { /* capture results (%0-%9)? */
                s = match_capture(ms, s, (unsigned char)*(p + 1));
                if (s == NULL)
                    return NULL;
                p += 2;
                goto init;
            }
            goto dflt;
        }
    case '\0': /* end of pattern */
        return s;
    case '$':
        if (*(p + 1) == '\0') /* is the '$' the last char in pattern? */
            return (s == ms->src_end) ? s : NULL;
        goto dflt;
    default:
    dflt : {                               /* it is a pattern item */
        const char *ep = class_end(ms, p); /* points to what is next */
        int m = s < ms->src_end && single_match((unsigned char)*s, p, ep);
        switch (*ep) {
        case '?': { /* optional */
            const char *res;
            if (m && ((res = do_match(ms, s + 1, ep + 1)) != NULL))
                return res;
            p = ep + 1;
            goto init;
        }
        case '*': /* 0 or more repetitions */
            return max_expand(ms, s, p, ep);
        case '+': /* 1 or more repetitions */
            return m ? max_expand(ms, s + 1, p, ep) : NULL;
        case '-': /* 0 or more repetitions (minimum) */
            return min_expand(ms, s, p, ep);
        default:
            if (!m)
                return NULL;
            s++;
            p = ep;
            goto init;
        }
    }
    }
}

static const char *do_match(mstate_t *ms, const char *s, const char *p)
{
    if (++ms->depth > MATCH_MAXDEPTH)
        luaL_error(ms->L, "pattern too complex (nested more than %d deep)", MATCH_MAXDEPTH);
    const char *res = match_body(ms, s, p);
    ms->depth--;
    return res;
}

static void ms_init(mstate_t *ms, lua_State *L, const char *s, size_t len)
{
    memset(ms, 0, sizeof(*ms));
    ms->L = L;
    ms->src_init = s;
    ms->src_end = s + len;
}

static const char *lmemfind(const char *s1, size_t l1, const char *s2, size_t l2)
{
    if (l2 == 0)
        return s1; /* empty strings are everywhere */
    if (l2 > l1)
        return NULL;
    const char *init;
    l2--;         /* 1st char will be checked by memchr */
    l1 = l1 - l2; /* s2 cannot be found after that */
    while (l1 > 0 && (init = memchr(s1, *s2, l1)) != NULL) {
        init++; /* 1st char is already checked */
        if (memcmp(init, s2 + 1, l2) == 0)
            return init - 1;
        l1 -= (size_t)(init - s1);
        s1 = init;
    }
    return NULL;
}

static void push_onecapture(mstate_t *ms, int i, const char *s, const char *e)
{
    if (i >= ms->level) {
        if (i == 0)                                     /* ms->level == 0, too */
            lua_pushlstring(ms->L, s, (size_t)(e - s)); /* add whole match */
        else
            luaL_error(ms->L, "invalid capture index");
    } else {
        ptrdiff_t l = ms->capture[i].len;
        if (l == CAP_UNFINISHED)
            luaL_error(ms->L, "unfinished capture");
        if (l == CAP_POSITION)
            lua_pushinteger(ms->L, ms->capture[i].init - ms->src_init + 1);
        else
            lua_pushlstring(ms->L, ms->capture[i].init, (size_t)l);
    }
}

static int push_captures(mstate_t *ms, const char *s, const char *e)
{
    int nlevels = (ms->level == 0 && s) ? 1 : ms->level;
    luaL_checkstack(ms->L, nlevels, "too many captures");
    for (int i = 0; i < nlevels; i++)
        push_onecapture(ms, i, s, e);
    return nlevels;
}

static ptrdiff_t posrelat(ptrdiff_t pos, size_t len)
{
    /* relative string position: negative means back from end */
    if (pos < 0)
        pos += (ptrdiff_t)len + 1;
    return pos >= 0 ? pos : 0;
}

static int find_aux(lua_State *L, int find)
{
    size_t l1, l2;
    const char *s = luaL_checklstring(L, 1, &l1);
    const char *p = luaL_checklstring(L, 2, &l2);
    ptrdiff_t init = posrelat(luaL_optinteger(L, 3, 1), l1) - 1;
    if (init < 0)
        init = 0;
    else if ((size_t)init > l1)
        init = (ptrdiff_t)l1;
    if (find && (lua_toboolean(L, 4) || strpbrk(p, SPECIALS) == NULL)) {
        /* a plain search */
        const char *s2 = lmemfind(s + init, l1 - (size_t)init, p, l2);
        charge_bytes(L, s2 ? (size_t)(s2 - s - init) + l2 : l1 - (size_t)init);
        if (s2) {
            lua_pushinteger(L, s2 - s + 1);
            lua_pushinteger(L, s2 - s + (ptrdiff_t)l2);
            return 2;
        }
    } else {
        mstate_t ms;
        int anchor = (*p == '^') ? (p++, 1) : 0;
        const char *s1 = s + init;
        ms_init(&ms, L, s, l1);
        do {
            const char *res;
            ms.level = 0;
            ms.depth = 0;
            if ((res = do_match(&ms, s1, p)) != NULL) {
                ms_done(&ms);
                if (find) {
                    lua_pushinteger(L, s1 - s + 1); /* start */
                    lua_pushinteger(L, res - s);    /* end */
                    return push_captures(&ms, NULL, 0) + 2;
                }
                return push_captures(&ms, s1, res);
            }
        } while (s1++ < ms.src_end && !anchor);
        ms_done(&ms);
    }
    lua_pushnil(L); /* not found */
    return 1;
}

static int sb_find(lua_State *L)
{
    return find_aux(L, 1);
}

static int sb_match(lua_State *L)
{
    return find_aux(L, 0);
}

static int gmatch_aux(lua_State *L)
{
    size_t ls;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tostring(L, lua_upvalueindex(2));
    mstate_t ms;
    ms_init(&ms, L, s, ls);
    for (const char *src = s + (size_t)lua_tointeger(L, lua_upvalueindex(3)); src <= ms.src_end;
         src++) {
        const char *e;
        ms.level = 0;
        ms.depth = 0;
        if ((e = do_match(&ms, src, p)) != NULL) {
            lua_Integer newstart = e - s;
            if (e == src)
                newstart++; /* empty match? go at least one position */
            lua_pushinteger(L, newstart);
            lua_replace(L, lua_upvalueindex(3));
            ms_done(&ms);
            return push_captures(&ms, src, e);
        }
    }
    ms_done(&ms);
    lua_pushinteger(L, (lua_Integer)ls + 1); /* exhausted */
    lua_replace(L, lua_upvalueindex(3));
    return 0; /* not found */
}

static int sb_gmatch(lua_State *L)
{
    luaL_checkstring(L, 1);
    luaL_checkstring(L, 2);
    lua_settop(L, 2);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, gmatch_aux, 3);
    return 1;
}

static void add_s(mstate_t *ms, luaL_Buffer *b, const char *s, const char *e)
{
    size_t l;
    const char *news = lua_tolstring(ms->L, 3, &l);
    ms_step(ms, (int64_t)(l / BYTES_PER_UNIT) + 1);
    for (size_t i = 0; i < l; i++) {
        if (news[i] != L_ESC) {
            luaL_addchar(b, news[i]);
        } else {
            i++; /* skip ESC */
            if (!isdigit((unsigned char)news[i])) {
                luaL_addchar(b, news[i]);
            } else if (news[i] == '0') {
                ms_step(ms, (int64_t)((size_t)(e - s) / BYTES_PER_UNIT));
                luaL_addlstring(b, s, (size_t)(e - s));
            } else {
                push_onecapture(ms, news[i] - '1', s, e);
                ms_step(ms, (int64_t)(lua_objlen(ms->L, -1) / BYTES_PER_UNIT));
                luaL_addvalue(b); /* add capture to accumulated result */
            }
        }
    }
}

static void add_value(mstate_t *ms, luaL_Buffer *b, const char *s, const char *e)
{
    lua_State *L = ms->L;
    switch (lua_type(L, 3)) {
    case LUA_TNUMBER:
    case LUA_TSTRING:
        add_s(ms, b, s, e);
        return;
    case LUA_TFUNCTION: {
        ks_lua_check_cstack(L);
        lua_pushvalue(L, 3);
        int n = push_captures(ms, s, e);
        lua_call(L, n, 1);
        break;
    }
    case LUA_TTABLE:
        ks_lua_check_cstack(L); /* __index may call gsub again */
        push_onecapture(ms, 0, s, e);
        lua_gettable(L, 3);
        break;
    }
    if (!lua_toboolean(L, -1)) { /* nil or false? */
        lua_pop(L, 1);
        lua_pushlstring(L, s, (size_t)(e - s)); /* keep original text */
    } else if (!lua_isstring(L, -1)) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    }
    ms_step(ms, (int64_t)(lua_objlen(L, -1) / BYTES_PER_UNIT));
    luaL_addvalue(b); /* add result to accumulator */
}

static int sb_gsub(lua_State *L)
{
    size_t srcl;
    const char *src = luaL_checklstring(L, 1, &srcl);
    const char *p = luaL_checkstring(L, 2);
    int tr = lua_type(L, 3);
    int max_s = luaL_optint(L, 4, (int)(srcl + 1));
    int anchor = (*p == '^') ? (p++, 1) : 0;
    int n = 0;
    mstate_t ms;
    luaL_Buffer b;
    luaL_argcheck(L,
                  tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE,
                  3, "string/function/table expected");
    luaL_buffinit(L, &b);
    ms_init(&ms, L, src, srcl);
    while (n < max_s) {
        const char *e;
        ms.level = 0;
        ms.depth = 0;
        e = do_match(&ms, src, p);
        if (e) {
            n++;
            add_value(&ms, &b, src, e);
        }
        if (e && e > src) /* non empty match? */
            src = e;      /* skip it */
        else if (src < ms.src_end)
            luaL_addchar(&b, *src++);
        else
            break;
        if (anchor)
            break;
    }
    ms_step(&ms, (int64_t)((size_t)(ms.src_end - src) / BYTES_PER_UNIT));
    ms_done(&ms);
    luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
    luaL_pushresult(&b);
    lua_pushinteger(L, n); /* number of substitutions */
    return 2;
}

/* ---- the environment ---------------------------------------------------------------- */

/* Copies the named fields of table at index src into a new table on the stack. */
static void copy_fields(lua_State *L, int src, const char *const *names)
{
    lua_newtable(L);
    for (; *names; names++) {
        lua_getfield(L, src, *names);
        lua_setfield(L, -2, *names);
    }
}

/* Replaces t[name] (t on top of the stack) with a wrapper closing over the original. */
static void wrap(lua_State *L, const char *name, lua_CFunction fn)
{
    lua_getfield(L, -1, name);
    lua_pushcclosure(L, fn, 1);
    lua_setfield(L, -2, name);
}

static void set_fn(lua_State *L, const char *name, lua_CFunction fn)
{
    lua_pushcfunction(L, fn);
    lua_setfield(L, -2, name);
}

static const char *const base_names[] = {
    "assert",   "error",    "ipairs",   "next",         "pairs",        "pcall",
    "select",   "tonumber", "tostring", "type",         "unpack",       "xpcall",
    "rawequal", "rawget",   "rawset",   "setmetatable", "getmetatable", NULL};
static const char *const string_names[] = {"byte",    "char", "find",  "format", "gmatch",
                                           "gsub",    "len",  "lower", "match",  "rep",
                                           "reverse", "sub",  "upper", NULL};
static const char *const table_names[] = {"concat", "insert", "maxn", "remove", "sort", NULL};
static const char *const math_names[] = {
    "abs",        "acos", "asin",  "atan", "atan2", "ceil", "cos",   "cosh",
    "deg",        "exp",  "floor", "fmod", "frexp", "huge", "ldexp", "log",
    "log10",      "max",  "min",   "modf", "pi",    "pow",  "rad",   "random",
    "randomseed", "sin",  "sinh",  "sqrt", "tan",   "tanh", NULL};
static const char *const coroutine_names[] = {"create", "resume", "running", "status",
                                              "wrap",   "yield",  NULL};
static const char *const bit_names[] = {"tobit", "tohex",  "bnot",   "band",    "bor",
                                        "bxor",  "lshift", "rshift", "arshift", "rol",
                                        "ror",   "bswap",  NULL};

/* The directory whose lib/ require searches: the strategy file's, or the registry's
 * "kestrel.file" (kestrel test), else ".". Pushes it. */
static void push_lib_dir(lua_State *L)
{
    ks_strategy_t *st = ks_strategy_from_lua(L);
    const char *file = st ? ks_strategy_cfg(st)->file : NULL;
    if (!file) {
        lua_getfield(L, LUA_REGISTRYINDEX, "kestrel.file");
        file = lua_tostring(L, -1);
        lua_pop(L, 1); /* the string stays referenced by the registry while we copy it */
    }
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (slash)
        lua_pushlstring(L, file, (size_t)(slash - file));
    else
        lua_pushliteral(L, ".");
}

/* Builds the strategy's environment: a whitelist of the standard library plus print,
 * text-only load and a lib-only require. Leaves the env on the stack. */
void ks_lua_sandbox_push_env(lua_State *L)
{
    int g = LUA_GLOBALSINDEX;
    copy_fields(L, g, base_names);
    int env = lua_gettop(L);
    wrap(L, "tonumber", w_tonumber);
    lua_getfield(L, g, "pcall");
    lua_pushcclosure(L, sb_xpcall, 1);
    lua_setfield(L, env, "xpcall");

    lua_getfield(L, g, "string");
    int realstr = lua_gettop(L);
    copy_fields(L, realstr, string_names);
    set_fn(L, "find", sb_find);
    set_fn(L, "match", sb_match);
    set_fn(L, "gmatch", sb_gmatch);
    set_fn(L, "gsub", sb_gsub);
    wrap(L, "rep", w_rep);
    wrap(L, "sub", w_len1);
    wrap(L, "upper", w_len1);
    wrap(L, "lower", w_len1);
    wrap(L, "reverse", w_len1);
    wrap(L, "format", w_result_size);
    lua_pushvalue(L, -1);
    lua_setfield(L, env, "string");
    /* Methods on string values ("x"):dump() go through the string metatable: point it
     * at the sandboxed copy, remove dump from the real table, and protect it. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushliteral(L, "protected");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 3);
    lua_pushnil(L);
    lua_setfield(L, realstr, "dump");
    lua_pop(L, 1);

    const struct {
        const char *lib;
        const char *const *names;
    } libs[] = {{"table", table_names},
                {"math", math_names},
                {"coroutine", coroutine_names},
                {"bit", bit_names}};
    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
        lua_getfield(L, g, libs[i].lib);
        copy_fields(L, lua_gettop(L), libs[i].names);
        if (strcmp(libs[i].lib, "coroutine") == 0) {
            /* Nested resumes recurse on the C stack. */
            wrap(L, "resume", call_orig);
            wrap(L, "wrap", call_orig);
        }
        if (strcmp(libs[i].lib, "table") == 0) {
            wrap(L, "concat", w_result_size);
            wrap(L, "insert", w_insert);
            wrap(L, "sort", w_sort);
            set_fn(L, "maxn", w_maxn);
        }
        lua_setfield(L, env, libs[i].lib);
        lua_pop(L, 1);
    }
    lua_pushcfunction(L, sb_print);
    lua_setfield(L, env, "print");
    lua_pushcfunction(L, sb_collectgarbage);
    lua_setfield(L, env, "collectgarbage");
    lua_pushvalue(L, env);
    lua_pushcclosure(L, sb_load, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, env, "load");
    lua_setfield(L, env, "loadstring");
    lua_pushvalue(L, env);
    lua_newtable(L); /* require's cache */
    push_lib_dir(L);
    lua_pushcclosure(L, sb_require, 3);
    lua_setfield(L, env, "require");
    lua_pushvalue(L, env);
    lua_setfield(L, env, "_G");
    lua_pushliteral(L, "Lua 5.1");
    lua_setfield(L, env, "_VERSION");
}

/* ---- loading ---------------------------------------------------------------------- */

static int open_libs(lua_State *L)
{
    lua_pushcfunction(L, luaopen_base);
    lua_call(L, 0, 0);
    lua_pushcfunction(L, luaopen_table);
    lua_call(L, 0, 0);
    lua_pushcfunction(L, luaopen_string);
    lua_call(L, 0, 0);
    lua_pushcfunction(L, luaopen_math);
    lua_call(L, 0, 0);
    lua_pushcfunction(L, luaopen_bit);
    lua_call(L, 0, 0);
    return 0;
}

int ks_lua_sandbox_open(lua_State *L)
{
    return lua_cpcall(L, open_libs, NULL);
}
