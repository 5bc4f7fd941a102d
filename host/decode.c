/* kestrel decode: being written (see decode.h). */
#include <stdio.h>

#include "decode.h"

int ks_decode_main(int argc, char **argv)
{
    fputs("kestrel decode: not built yet\n", stderr);
    return 2;
}
