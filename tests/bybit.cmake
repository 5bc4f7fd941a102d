# Bybit v5 adapter: signing, the parser against ccxt's recorded responses and real
# captures, the adapter against the loopback emulator (in-process and the whole host
# end to end, with faults). Everything runs offline.
ks_test(test_bybit_json SOURCES bybit/test_bybit_json.c LIBS bybit_core TIMEOUT 30 LABELS bybit)

add_library(bybit_emu STATIC bybit/emu/bybit_emu.c)
target_include_directories(bybit_emu PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/bybit/emu)
target_link_libraries(bybit_emu PUBLIC kestrel_core sim_core sim_market PkgConfig::CJSON
                      PkgConfig::OPENSSL)

add_executable(bybit_emu_tool bybit/emu/bybit_emu_main.c)
target_link_libraries(bybit_emu_tool PRIVATE bybit_emu)
set_target_properties(bybit_emu_tool PROPERTIES OUTPUT_NAME bybit_emu
                      RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})

add_executable(bybit_e2e_check bybit/e2e_check.c)
target_link_libraries(bybit_e2e_check PRIVATE Kestrel::sdk PkgConfig::CJSON PkgConfig::SQLITE)

ks_script_test(bybit_e2e bybit/e2e.sh $<TARGET_FILE:bybit_emu_tool> $<TARGET_FILE:bybit_e2e_check>
               ${PROJECT_SOURCE_DIR})
set_tests_properties(bybit_e2e PROPERTIES LABELS bybit TIMEOUT 180)

# The adapter in-process against the emulator, through a small real host.
ks_test(test_bybit_live SOURCES bybit/test_bybit_live.c bybit/bybit_test_host.c
        LIBS bybit_emu TIMEOUT 120 LABELS bybit)
target_compile_definitions(test_bybit_live PRIVATE KS_BYBIT_PLUGIN="${KS_PLUGIN_OUTPUT_DIR}/bybit.so")
add_dependencies(test_bybit_live bybit)

# Signing vectors (shared fixtures) and the emulator's signature/timestamp/key checks.
ks_test(test_bybit_sign SOURCES bybit/test_bybit_sign.c LIBS bybit_emu bybit_core TIMEOUT 60
        LABELS bybit)

# ccxt's recorded REST responses and the real captures, through `kestrel decode`.
ks_test(test_bybit_ccxt SOURCES bybit/test_bybit_ccxt.c LIBS PkgConfig::CJSON m TIMEOUT 120
        LABELS bybit)
target_compile_definitions(test_bybit_ccxt PRIVATE KS_KESTREL_BIN="$<TARGET_FILE:kestrel>")
add_dependencies(test_bybit_ccxt kestrel bybit)
ks_test(test_bybit_replay SOURCES bybit/test_bybit_replay.c LIBS PkgConfig::CJSON Kestrel::sdk
        TIMEOUT 120 LABELS bybit)
target_compile_definitions(test_bybit_replay PRIVATE KS_KESTREL_BIN="$<TARGET_FILE:kestrel>")
add_dependencies(test_bybit_replay kestrel bybit)
