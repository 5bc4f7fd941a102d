/* `kestrel decode --venue V`: raw venue messages on stdin (one JSON document per line)
 * through the venue adapter's parser, normalized events on stdout as JSON lines. */
#ifndef KS_DECODE_H
#define KS_DECODE_H

int ks_decode_main(int argc, char **argv);

#endif
