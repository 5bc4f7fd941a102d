# Replay of recorded market data through the sim venue: every format against the counts
# in ../shared/data/README.md, the queue and latency models, determinism and funding of
# whole backtests. Tests that need ../shared skip (ctest "Skipped", the reason printed)
# when it is absent.
ks_test(test_replay_formats SOURCES replay/test_replay_formats.c LIBS sim_replay Kestrel::sdk
        LABELS replay)

add_executable(replay_funding_check replay/funding_check.c common/csv_rows.c)
target_link_libraries(replay_funding_check PRIVATE Kestrel::sdk PkgConfig::SQLITE)
ks_script_test(test_replay_funding replay/funding.sh $<TARGET_FILE:replay_funding_check>)
set_tests_properties(test_replay_funding PROPERTIES SKIP_RETURN_CODE 77 LABELS replay)

ks_test(test_replay_venue SOURCES replay/test_replay_venue.c sim/fake_host.c
        LIBS Kestrel::sdk ${CMAKE_DL_LIBS} LABELS replay)
add_dependencies(test_replay_venue sim)

ks_script_test(test_replay_determinism replay/determinism.sh)
set_tests_properties(test_replay_determinism PROPERTIES SKIP_RETURN_CODE 77 LABELS replay)
