/* Plugin loader: dlopen()s plugin files, validates the entry symbol, the descriptor and
 * the operations table against ABI 1.0, and keeps the set of loaded plugins unique by
 * file and by name. Every refusal is one line that starts with the file's path. */
#include "plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KS_PLUGIN_INSTALL_DIR
#error "KS_PLUGIN_INSTALL_DIR must be defined by the build (see host/CMakeLists.txt)"
#endif

/* Bytes from the start of `type` through `field`: the smallest struct_size that still
 * holds `field`. The minima below are pinned to the last field of ABI 1.0, so fields a
 * later 1.x appends never raise what an older plugin has to provide. */
#define SIZE_THROUGH(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

#define DESC_MIN_SIZE         SIZE_THROUGH(ks_plugin_desc_t, ops)
#define EXCHANGE_OPS_MIN_SIZE SIZE_THROUGH(ks_exchange_ops_t, decode)
#define RISK_OPS_MIN_SIZE     SIZE_THROUGH(ks_risk_ops_t, on_event)

#define NAME_MAX_LEN 32

/* Each plugin with the identity of its file at load time, so a later load of the same
 * file under another spelling (or after a chdir) is recognised. */
typedef struct plugin_entry {
    ks_plugin_t *p;
    dev_t dev;
    ino_t ino;
} plugin_entry_t;

struct ks_plugin_set {
    plugin_entry_t *items;
    int n, cap;
};

const char *ks_plugin_kind_name(uint32_t kind)
{
    switch ((ks_plugin_kind_t)kind) {
    case KS_PLUGIN_EXCHANGE:
        return "exchange";
    case KS_PLUGIN_RISK:
        return "risk";
    }
    return NULL;
}

bool ks_plugin_name_valid(const char *name)
{
    if (!name)
        return false;
    size_t n = 0;
    for (const char *c = name; *c; c++, n++) {
        if (n >= NAME_MAX_LEN)
            return false;
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return false;
    }
    return n > 0;
}

/* Copies an untrusted string for a message: at most 40 characters, non-printable bytes
 * as '?', so a garbage pointer target cannot wreck the one-line error. */
static const char *quote_untrusted(const char *s, char *buf, size_t cap)
{
    size_t i = 0;
    for (; s[i] && i + 4 < cap && i < 40; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s[i] && i + 4 <= cap) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

/* The ABI major of another build, found by its entry symbol kestrel_plugin_v<N>; -1 when
 * the file exports none. The foreign entry point is never called: its descriptor
 * layout is unknown to this host. */
static int foreign_abi_major(void *dl)
{
    char sym[sizeof(KS_PLUGIN_ENTRY_PREFIX) + 4];
    for (int major = 0; major <= 9; major++) {
        if (major == KS_ABI_MAJOR)
            continue;
        snprintf(sym, sizeof(sym), "%s%d", KS_PLUGIN_ENTRY_PREFIX, major);
        if (dlsym(dl, sym))
            return major;
    }
    return -1;
}

static int abi_mismatch(const char *path, long major, char *err, size_t err_len)
{
    snprintf(err, err_len,
             "%s: plugin built for ABI %ld, this host supports ABI %d (rebuild it against "
             "kestrel-sdk %d.x)",
             path, major, KS_ABI_MAJOR, KS_ABI_MAJOR);
    return KS_EABI;
}

static int check_exchange_ops(const char *path, const ks_plugin_desc_t *d, char *err,
                              size_t err_len)
{
    const ks_exchange_ops_t *ops = d->ops;
    if (ops->struct_size < EXCHANGE_OPS_MIN_SIZE) {
        snprintf(err, err_len,
                 "%s: plugin \"%s\": exchange operations table too small (struct_size %u, ABI "
                 "1.0 needs at least %zu)",
                 path, d->name, ops->struct_size, EXCHANGE_OPS_MIN_SIZE);
        return KS_EINVAL;
    }
    const struct {
        const char *name;
        bool missing;
    } required[] = {
        {"open", !ops->open},
        {"close", !ops->close},
        {"start", !ops->start},
        {"subscribe", !ops->subscribe},
        {"place", !ops->place},
        {"cancel", !ops->cancel},
        {"cancel_all", !ops->cancel_all},
        {"fetch", !ops->fetch},
    };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        if (required[i].missing) {
            snprintf(err, err_len, "%s: plugin \"%s\": mandatory exchange operation %s is NULL",
                     path, d->name, required[i].name);
            return KS_EINVAL;
        }
    }
    /* A declared capability is a promise that its operation exists. */
    const struct {
        const char *cap, *op;
        bool missing;
    } promised[] = {
        {"KS_XCAP_AMEND", "amend", (ops->caps & KS_XCAP_AMEND) && !ops->amend},
        {"KS_XCAP_TRANSFER", "transfer", (ops->caps & KS_XCAP_TRANSFER) && !ops->transfer},
    };
    for (size_t i = 0; i < sizeof(promised) / sizeof(promised[0]); i++) {
        if (promised[i].missing) {
            snprintf(err, err_len, "%s: plugin \"%s\": caps has %s but operation %s is NULL", path,
                     d->name, promised[i].cap, promised[i].op);
            return KS_EINVAL;
        }
    }
    return KS_OK;
}

static int check_risk_ops(const char *path, const ks_plugin_desc_t *d, char *err, size_t err_len)
{
    const ks_risk_ops_t *ops = d->ops;
    if (ops->struct_size < RISK_OPS_MIN_SIZE) {
        snprintf(err, err_len,
                 "%s: plugin \"%s\": risk operations table too small (struct_size %u, ABI 1.0 "
                 "needs at least %zu)",
                 path, d->name, ops->struct_size, RISK_OPS_MIN_SIZE);
        return KS_EINVAL;
    }
    const char *missing = !ops->open    ? "open"
                          : !ops->close ? "close"
                          : !ops->check ? "check"
                                        : NULL;
    if (missing) {
        snprintf(err, err_len, "%s: plugin \"%s\": mandatory risk operation %s is NULL", path,
                 d->name, missing);
        return KS_EINVAL;
    }
    return KS_OK;
}

static int check_desc(const char *path, const ks_plugin_desc_t *d, char *err, size_t err_len)
{
    char q[48];
    if (!d) {
        snprintf(err, err_len, "%s: %s() returned NULL instead of a plugin descriptor", path,
                 KS_PLUGIN_ENTRY_NAME);
        return KS_EINVAL;
    }
    /* struct_size and abi_major lead every descriptor of every major, so they are read
     * before anything else and before trusting the rest of the layout. */
    if (d->struct_size < SIZE_THROUGH(ks_plugin_desc_t, abi_major)) {
        snprintf(err, err_len, "%s: plugin descriptor too small (struct_size %u)", path,
                 d->struct_size);
        return KS_EINVAL;
    }
    if (d->abi_major != KS_ABI_MAJOR)
        return abi_mismatch(path, (long)d->abi_major, err, err_len);
    if (d->struct_size < DESC_MIN_SIZE) {
        snprintf(err, err_len,
                 "%s: plugin descriptor too small (struct_size %u, ABI 1.0 needs at least %zu)",
                 path, d->struct_size, DESC_MIN_SIZE);
        return KS_EINVAL;
    }
    /* A newer minor (abi_minor > KS_ABI_MINOR) is accepted: within one major, structs
     * only grow at the end, so the fields this host knows sit at the offsets it expects
     * and it never reads past them. A plugin built against a newer minor checks the host
     * table's struct_size (KS_HAS_FIELD) before calling anything that minor added. */
    if (!ks_plugin_kind_name(d->kind)) {
        snprintf(err, err_len, "%s: unknown plugin kind %u (expected %d exchange or %d risk)", path,
                 d->kind, KS_PLUGIN_EXCHANGE, KS_PLUGIN_RISK);
        return KS_EINVAL;
    }
    if (!ks_plugin_name_valid(d->name)) {
        snprintf(err, err_len,
                 "%s: invalid plugin name %s%s%s (expected 1-%d characters of a-z, 0-9 and _)",
                 path, d->name ? "\"" : "",
                 d->name ? quote_untrusted(d->name, q, sizeof(q)) : "NULL", d->name ? "\"" : "",
                 NAME_MAX_LEN);
        return KS_EINVAL;
    }
    if (!d->version || !*d->version) {
        snprintf(err, err_len, "%s: plugin \"%s\" has no version string", path, d->name);
        return KS_EINVAL;
    }
    if (!d->ops) {
        snprintf(err, err_len, "%s: plugin \"%s\" has no operations table (ops is NULL)", path,
                 d->name);
        return KS_EINVAL;
    }
    switch ((ks_plugin_kind_t)d->kind) {
    case KS_PLUGIN_EXCHANGE:
        return check_exchange_ops(path, d, err, err_len);
    case KS_PLUGIN_RISK:
        return check_risk_ops(path, d, err, err_len);
    }
    return KS_EINVAL; /* unreachable: the kind was checked above */
}

/* Opens and validates one file. Returns KS_OK and *out, or a negative KS_E* code and one
 * line in err: KS_ENOENT (no such file), KS_EIO (dlopen failed), KS_EABI (no entry
 * symbol, other ABI major), KS_EINVAL (malformed descriptor or ops), KS_ENOMEM. */
static int plugin_open(const char *path, ks_plugin_t **out, char *err, size_t err_len)
{
    int rc;
    struct stat st;
    *out = NULL;
    if (stat(path, &st) != 0) {
        rc = errno == ENOENT ? KS_ENOENT : KS_EIO;
        snprintf(err, err_len, "%s: cannot load plugin: %s", path, strerror(errno));
        return rc;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, err_len, "%s: cannot load plugin: not a regular file", path);
        return KS_EINVAL;
    }

    /* dlopen() searches the library path for a name without '/', never the current
     * directory; "./" makes a bare file name mean the file. */
    char dlpath[PATH_MAX];
    int n = snprintf(dlpath, sizeof(dlpath), "%s%s", strchr(path, '/') ? "" : "./", path);
    if (n < 0 || (size_t)n >= sizeof(dlpath)) {
        snprintf(err, err_len, "%s: cannot load plugin: path too long", path);
        return KS_EINVAL;
    }

    ks_plugin_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->path = strdup(path))) {
        snprintf(err, err_len, "%s: cannot load plugin: out of memory", path);
        rc = KS_ENOMEM;
        goto fail_alloc;
    }

    dlerror();
    p->dl = dlopen(dlpath, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl) {
        /* dlerror() usually starts with the path it was given; drop that repetition. */
        const char *why = dlerror();
        size_t dn = strlen(dlpath);
        if (why && strncmp(why, dlpath, dn) == 0 && why[dn] == ':')
            why += dn + 1 + (why[dn + 1] == ' ');
        snprintf(err, err_len, "%s: cannot load plugin: %s", path, why ? why : "dlopen failed");
        rc = KS_EIO;
        goto fail_alloc;
    }

    void *sym = dlsym(p->dl, KS_PLUGIN_ENTRY_NAME);
    if (!sym) {
        int major = foreign_abi_major(p->dl);
        if (major >= 0) {
            rc = abi_mismatch(path, major, err, err_len);
        } else {
            snprintf(err, err_len, "%s: not a Kestrel plugin: symbol %s not found", path,
                     KS_PLUGIN_ENTRY_NAME);
            rc = KS_EABI;
        }
        goto fail_dl;
    }
    ks_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof(entry)); /* POSIX: object pointer to function pointer */

    p->desc = entry();
    rc = check_desc(path, p->desc, err, err_len);
    if (rc != KS_OK)
        goto fail_dl;
    *out = p;
    return KS_OK;

fail_dl:
    dlclose(p->dl);
fail_alloc:
    if (p)
        free(p->path);
    free(p);
    return rc;
}

ks_plugin_t *ks_plugin_open(const char *path, char *err, size_t err_len)
{
    ks_plugin_t *p;
    if (!path || !*path) {
        snprintf(err, err_len, "cannot load plugin: empty path");
        return NULL;
    }
    plugin_open(path, &p, err, err_len);
    return p;
}

void ks_plugin_close(ks_plugin_t *p)
{
    if (!p)
        return;
    dlclose(p->dl);
    free(p->path);
    free(p);
}

ks_plugin_set_t *ks_plugin_set_new(void)
{
    return calloc(1, sizeof(ks_plugin_set_t));
}

void ks_plugin_set_free(ks_plugin_set_t *set)
{
    if (!set)
        return;
    /* Reverse load order, like a cleanup path. */
    for (int i = set->n - 1; i >= 0; i--)
        ks_plugin_close(set->items[i].p);
    free(set->items);
    free(set);
}

const ks_plugin_t *ks_plugin_set_find(const ks_plugin_set_t *set, const char *name)
{
    for (int i = 0; set && name && i < set->n; i++) {
        if (strcmp(set->items[i].p->desc->name, name) == 0)
            return set->items[i].p;
    }
    return NULL;
}

int ks_plugin_set_count(const ks_plugin_set_t *set)
{
    return set ? set->n : 0;
}

const ks_plugin_t *ks_plugin_set_get(const ks_plugin_set_t *set, int i)
{
    return set && i >= 0 && i < set->n ? set->items[i].p : NULL;
}

static bool is_path(const char *name)
{
    size_t n = strlen(name);
    return strchr(name, '/') || (n >= 3 && strcmp(name + n - 3, ".so") == 0);
}

/* Finds <dir>/<name>.so in the first directory holding it; writes the path into buf.
 * The first hit wins even if it turns out broken: a plugin directory earlier on the
 * path deliberately shadows later ones. */
static int search_dirs(const char *name, const char *const *dirs, int n_dirs, char *buf, size_t cap,
                       char *err, size_t err_len)
{
    struct stat st;
    for (int i = 0; i < n_dirs; i++) {
        int n = snprintf(buf, cap, "%s/%s.so", dirs[i], name);
        if (n > 0 && (size_t)n < cap && stat(buf, &st) == 0)
            return KS_OK;
    }
    /* "plugin "x" not found (searched: a/x.so, b/x.so)" */
    size_t len = 0;
    int n = snprintf(err, err_len, "plugin \"%s\" not found (searched: ", name);
    len = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < n_dirs && len < err_len; i++) {
        n = snprintf(err + len, err_len - len, "%s%s/%s.so", i ? ", " : "", dirs[i], name);
        len += n > 0 ? (size_t)n : 0;
    }
    if (len < err_len)
        snprintf(err + len, err_len - len, "%s)", n_dirs ? "" : "no plugin directories");
    return KS_ENOENT;
}

const ks_plugin_t *ks_plugin_set_load(ks_plugin_set_t *set, const char *name,
                                      const char *const *dirs, int n_dirs, char *err,
                                      size_t err_len)
{
    char path[PATH_MAX];
    char q[48];
    if (!set || !name || !*name) {
        snprintf(err, err_len, "cannot load plugin: empty name");
        return NULL;
    }

    bool by_name = !is_path(name);
    if (by_name) {
        if (!ks_plugin_name_valid(name)) {
            snprintf(err, err_len,
                     "invalid plugin name \"%s\" (expected 1-%d characters of a-z, 0-9 and _, "
                     "or a path to a .so file)",
                     quote_untrusted(name, q, sizeof(q)), NAME_MAX_LEN);
            return NULL;
        }
        const ks_plugin_t *have = ks_plugin_set_find(set, name);
        if (have)
            return have;
        if (search_dirs(name, dirs, n_dirs, path, sizeof(path), err, err_len) != KS_OK)
            return NULL;
    } else if (snprintf(path, sizeof(path), "%s", name) >= (int)sizeof(path)) {
        snprintf(err, err_len, "cannot load plugin: path too long");
        return NULL;
    }

    /* The same file under any spelling (relative, absolute, through a symlink) is the
     * same plugin: compare device and inode, not strings. A missing file is left to
     * plugin_open() to report. */
    struct stat st = {0};
    if (stat(path, &st) == 0) {
        for (int i = 0; i < set->n; i++) {
            if (set->items[i].dev == st.st_dev && set->items[i].ino == st.st_ino)
                return set->items[i].p;
        }
    }

    ks_plugin_t *p;
    if (plugin_open(path, &p, err, err_len) != KS_OK)
        return NULL;

    const char *declared = p->desc->name;
    if (by_name && strcmp(declared, name) != 0) {
        snprintf(err, err_len,
                 "%s: plugin declares the name \"%s\", expected \"%s\" (a plugin found by name "
                 "must be named like its file)",
                 path, declared, name);
        goto fail;
    }
    const ks_plugin_t *dup = ks_plugin_set_find(set, declared);
    if (dup) {
        snprintf(err, err_len, "%s: duplicate plugin name \"%s\" (already loaded from %s)", path,
                 declared, dup->path);
        goto fail;
    }
    if (set->n == set->cap) {
        int cap = set->cap ? set->cap * 2 : 8;
        plugin_entry_t *items = realloc(set->items, (size_t)cap * sizeof(*items));
        if (!items) {
            snprintf(err, err_len, "%s: cannot load plugin: out of memory", path);
            goto fail;
        }
        set->items = items;
        set->cap = cap;
    }
    set->items[set->n++] = (plugin_entry_t){.p = p, .dev = st.st_dev, .ino = st.st_ino};
    return p;

fail:
    ks_plugin_close(p);
    return NULL;
}

int ks_plugin_default_dirs(const char **dirs, int cap)
{
    /* Rebuilt on each call; the executable does not move while it runs. */
    static char exe_plugins[PATH_MAX + sizeof("/plugins")];
    int n = 0;
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(exe_plugins, sizeof(exe_plugins), "%s/plugins", exe);
            if (n < cap)
                dirs[n++] = exe_plugins;
        }
    }
    if (n < cap)
        dirs[n++] = KS_PLUGIN_INSTALL_DIR;
    return n;
}

static void print_caps(uint32_t caps, FILE *out)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {
        {KS_XCAP_AMEND, "amend"},
        {KS_XCAP_TRANSFER, "transfer"},
        {KS_XCAP_UNIFIED_WALLET, "unified_wallet"},
        {KS_XCAP_REDUCE_ONLY_SPOT, "reduce_only_spot"},
        {KS_XCAP_QUERY_BY_CLOID, "query_by_cloid"},
    };
    const char *sep = "";
    fputs("caps:        ", out);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (caps & names[i].bit) {
            fprintf(out, "%s%s", sep, names[i].name);
            caps &= ~names[i].bit;
            sep = " ";
        }
    }
    /* Bits a newer SDK minor defined: shown, not interpreted. */
    if (caps)
        fprintf(out, "%s0x%x", sep, caps);
    else if (!*sep)
        fputs("none", out);
    fputc('\n', out);
}

int ks_plugin_print_info(const char *path, FILE *out)
{
    char err[512];
    ks_plugin_t *p;
    int rc = path && *path ? plugin_open(path, &p, err, sizeof(err)) : KS_EINVAL;
    if (rc != KS_OK) {
        fprintf(stderr, "%s\n", path && *path ? err : "cannot load plugin: empty path");
        return rc;
    }
    const ks_plugin_desc_t *d = p->desc;
    fprintf(out, "file:        %s\n", p->path);
    fprintf(out, "name:        %s\n", d->name);
    fprintf(out, "kind:        %s\n", ks_plugin_kind_name(d->kind));
    fprintf(out, "version:     %s\n", d->version);
    fprintf(out, "description: %s\n", d->description ? d->description : "");
    fprintf(out, "abi:         %u.%u (host %d.%d%s)\n", d->abi_major, d->abi_minor, KS_ABI_MAJOR,
            KS_ABI_MINOR, d->abi_minor > KS_ABI_MINOR ? "; newer fields are ignored" : "");
    /* ops->struct_size is the first field of every ops table. */
    fprintf(out, "ops size:    %u bytes\n", *(const uint32_t *)d->ops);
    switch ((ks_plugin_kind_t)d->kind) {
    case KS_PLUGIN_EXCHANGE: {
        const ks_exchange_ops_t *ops = d->ops;
        print_caps(ops->caps, out);
        fprintf(out, "optional:    amend=%s transfer=%s set_leverage=%s request_weight=%s\n",
                ops->amend ? "yes" : "no", ops->transfer ? "yes" : "no",
                ops->set_leverage ? "yes" : "no", ops->request_weight ? "yes" : "no");
        break;
    }
    case KS_PLUGIN_RISK: {
        const ks_risk_ops_t *ops = d->ops;
        fprintf(out, "optional:    on_event=%s\n", ops->on_event ? "yes" : "no");
        break;
    }
    }
    ks_plugin_close(p);
    return KS_OK;
}
