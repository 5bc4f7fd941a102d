# Live strategy control on a running host: disable/enable through kestrel ctl and through
# a config edit, under each on_disable policy; a syntax error saved into a running
# strategy.
ks_script_test(runtime_disable_enable runtime/disable_enable.sh)
ks_script_test(runtime_syntax_error_reload runtime/syntax_error_reload.sh)
set_tests_properties(runtime_disable_enable runtime_syntax_error_reload PROPERTIES LABELS runtime)
