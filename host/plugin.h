/* Plugin loader: finds <name>.so on the plugin path, dlopen()s it, checks the entry
 * symbol and descriptor, and refuses wrong ABI majors, missing entry symbols,
 * malformed descriptors and duplicate names, each with a message naming the file and,
 * for ABI mismatches, both versions. */
#ifndef KS_PLUGIN_H
#define KS_PLUGIN_H

#include <stddef.h>
#include <stdio.h>

#include <kestrel/kestrel.h>

typedef struct ks_plugin {
    char *path;                   /* the file loaded, as it was named (for messages) */
    void *dl;                     /* dlopen handle */
    const ks_plugin_desc_t *desc; /* borrowed from the plugin */
} ks_plugin_t;

typedef struct ks_plugin_set ks_plugin_set_t;

/* Caller owns the result; ks_plugin_set_free() unloads every plugin. */
ks_plugin_set_t *ks_plugin_set_new(void);
void ks_plugin_set_free(ks_plugin_set_t *set);

/* Opens one plugin file and validates it (without adding it to a set): entry symbol
 * KS_PLUGIN_ENTRY_NAME, descriptor (ABI major, struct_size >= ABI 1.0, kind, name
 * [a-z0-9_]{1,32}, version) and the ops table of its kind (size, mandatory operations).
 * A newer ABI minor is accepted. On failure writes one line starting with `path` into err
 * and returns NULL. Caller owns the result; free with ks_plugin_close(). */
ks_plugin_t *ks_plugin_open(const char *path, char *err, size_t err_len);
void ks_plugin_close(ks_plugin_t *p);

/* Loads a plugin into the set. `name` containing '/' or ending in ".so" is a path;
 * otherwise it is a plugin name, looked up as <dir>/<name>.so in each of `dirs` in order
 * (the first file found is used, and must declare that name). Returns the plugin already
 * in the set when the name is loaded or the file (same device and inode) was loaded
 * before; refuses a plugin declaring a name another file already took. Returns the plugin
 * (owned by the set, valid until ks_plugin_set_free()) or NULL with one line in err. */
const ks_plugin_t *ks_plugin_set_load(ks_plugin_set_t *set, const char *name,
                                      const char *const *dirs, int n_dirs, char *err,
                                      size_t err_len);
/* The loaded plugin declaring `name`, or NULL. Borrowed from the set. */
const ks_plugin_t *ks_plugin_set_find(const ks_plugin_set_t *set, const char *name);
/* Loaded plugins in load order, i in [0, count). Borrowed from the set. */
int ks_plugin_set_count(const ks_plugin_set_t *set);
const ks_plugin_t *ks_plugin_set_get(const ks_plugin_set_t *set, int i);

/* "exchange", "risk", or NULL for an unknown kind. Static. */
const char *ks_plugin_kind_name(uint32_t kind);
/* True when name matches [a-z0-9_]{1,32}, the rule for plugin names. */
bool ks_plugin_name_valid(const char *name);

/* The default plugin directories: <dir of the running executable>/plugins (from
 * /proc/self/exe; skipped if unreadable), then KS_PLUGIN_INSTALL_DIR. Writes at most cap
 * entries and returns how many. Returned strings are static. */
int ks_plugin_default_dirs(const char **dirs, int cap);

/* Prints the descriptor of a plugin file (kestrel plugin info): file, name, kind,
 * version, description, ABI, ops size, and for exchange plugins caps by name. Returns 0,
 * or a negative KS_E* code after printing the loader's one-line error to stderr:
 * KS_ENOENT no such file, KS_EIO dlopen failed, KS_EABI not a plugin or another ABI
 * major, KS_EINVAL malformed descriptor or ops table. */
int ks_plugin_print_info(const char *path, FILE *out);

#endif
