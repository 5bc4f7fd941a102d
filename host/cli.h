/* Command-line interface: kestrel run | backtest | check | ctl | decode | test |
 * plugin info | version. */
#ifndef KS_CLI_H
#define KS_CLI_H

int ks_cli_main(int argc, char **argv);

#endif
