/* `kestrel test PATH...`: runs strategy unit tests (*_test.lua) against a fake ctx with
 * scripted market events and assertions on the intents a strategy emits. */
#ifndef KS_HARNESS_H
#define KS_HARNESS_H

int ks_harness_main(int argc, char **argv);

#endif
