/* kestrel test: being written (see harness.h). */
#include <stdio.h>

#include "harness.h"

int ks_harness_main(int argc, char **argv)
{
    fputs("kestrel test: not built yet\n", stderr);
    return 2;
}
