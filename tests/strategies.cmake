# The shipped strategies (strategies/*.lua): their rules through `kestrel test` (the
# harness, no data needed), funding_arb over the real Binance funding + klines data with
# an independent recomputation of its funding income, and the liquidation and
# oracle-dislocation strategies on real captures with reports. Tests that need ../shared
# skip (ctest "Skipped", the reason printed) when it is absent.
add_test(NAME strategies_rules
         COMMAND $<TARGET_FILE:kestrel> test ${CMAKE_CURRENT_SOURCE_DIR}/strategies
         WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(strategies_rules PROPERTIES ENVIRONMENT "${KS_TEST_ENV}" TIMEOUT 120
                     LABELS "lua;strategies")

add_executable(strategy_funding_check strategies/funding_arb_check.c common/csv_rows.c)
target_link_libraries(strategy_funding_check PRIVATE Kestrel::sdk PkgConfig::SQLITE m)
ks_script_test(test_strategy_funding_arb_binance strategies/funding_backtest.sh
               $<TARGET_FILE:strategy_funding_check>)
set_tests_properties(test_strategy_funding_arb_binance PROPERTIES SKIP_RETURN_CODE 77
                     LABELS "strategies;replay")
add_dependencies(strategy_funding_check sim risk_limits)

add_executable(strategy_report_check strategies/report_check.c)
target_link_libraries(strategy_report_check PRIVATE PkgConfig::CJSON m)
ks_script_test(test_strategy_reports strategies/reports.sh $<TARGET_FILE:strategy_report_check>)
set_tests_properties(test_strategy_reports PROPERTIES SKIP_RETURN_CODE 77
                     LABELS "strategies;replay;report")
add_dependencies(strategy_report_check sim risk_gates)
