/* Minimal loader for the out-of-tree test: `plugin_info FILE` prints the descriptor like
 * `kestrel plugin info FILE`, through the same loader, and exits 1 on a bad plugin. */
#include <stdio.h>

#include "plugin.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.so\n", argv[0]);
        return 2;
    }
    return ks_plugin_print_info(argv[1], stdout) == KS_OK ? 0 : 1;
}
