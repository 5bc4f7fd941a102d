# The command line as a user types it: run, backtest, check, --help.
ks_script_test(cli_run_demo cli/run_demo.sh)
ks_script_test(cli_backtest_deterministic cli/backtest_deterministic.sh)
ks_script_test(cli_check_errors cli/check_errors.sh)
set_tests_properties(cli_run_demo cli_backtest_deterministic cli_check_errors PROPERTIES LABELS cli)
