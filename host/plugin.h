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
    char *path;                   /* the file loaded */
    void *dl;                     /* dlopen handle */
    const ks_plugin_desc_t *desc; /* borrowed from the plugin */
} ks_plugin_t;

typedef struct ks_plugin_set ks_plugin_set_t;

/* Caller owns the result; ks_plugin_set_free() unloads every plugin. */
ks_plugin_set_t *ks_plugin_set_new(void);
void ks_plugin_set_free(ks_plugin_set_t *set);

/* Opens one plugin file and validates it (without adding it to a set). On failure
 * writes one line into err and returns NULL. ks_plugin_close() unloads it. */
ks_plugin_t *ks_plugin_open(const char *path, char *err, size_t err_len);
void ks_plugin_close(ks_plugin_t *p);

/* Loads the plugin `name` from the first directory of `dirs` holding <name>.so (or a
 * path ending in .so), unless already loaded; refuses a second plugin declaring a name
 * already taken by another file. Returns the plugin (owned by the set) or NULL. */
const ks_plugin_t *ks_plugin_set_load(ks_plugin_set_t *set, const char *name, char *const *dirs,
                                      int n_dirs, char *err, size_t err_len);
const ks_plugin_t *ks_plugin_set_find(const ks_plugin_set_t *set, const char *name);

/* The default plugin directories: <dir of the kestrel executable>/plugins, then the
 * install directory. Returned strings are static. */
int ks_plugin_default_dirs(const char **dirs, int cap);

/* Prints the descriptor of a plugin file (kestrel plugin info). Returns 0 or an error
 * after printing one line to stderr. */
int ks_plugin_print_info(const char *path, FILE *out);

#endif
