# Chaos tests (label "chaos"): the order path and leg groups against a misbehaving venue.
#   chaos_soak    thousands of leg groups in a backtest against the sim venue's injected
#                 faults; no naked leg, no duplicate order, positions equal fills.
#   chaos_kill9   the host SIGKILLed at random points of the leg lifecycle while trading
#                 against the Bybit emulator (a separate, surviving process); after every
#                 restart the host's positions equal the venue's and every pair is hedged.
ks_test(chaos_soak SOURCES chaos/test_chaos_soak.c LIBS kestrel_core TIMEOUT 600 LABELS chaos)
target_compile_definitions(chaos_soak PRIVATE KS_PLUGIN_DIR="${KS_PLUGIN_OUTPUT_DIR}"
                           KS_CHAOS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/chaos")
add_dependencies(chaos_soak sim)

ks_test(chaos_kill9 SOURCES chaos/test_chaos_kill9.c
        LIBS Kestrel::sdk PkgConfig::CJSON PkgConfig::SQLITE TIMEOUT 600 LABELS chaos)
target_compile_definitions(chaos_kill9 PRIVATE KS_KESTREL="$<TARGET_FILE:kestrel>"
                           KS_BYBIT_EMU="$<TARGET_FILE:bybit_emu_tool>"
                           KS_CHAOS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/chaos")
add_dependencies(chaos_kill9 kestrel bybit_emu_tool bybit)

# Each injected fault alone, and what the host does about it (backtests, seconds).
ks_test(chaos_faults
        SOURCES chaos/test_chaos_faults.c ${PROJECT_SOURCE_DIR}/exchanges/sim/sim_config.c
        LIBS kestrel_core TIMEOUT 300 LABELS chaos)
target_include_directories(chaos_faults PRIVATE ${PROJECT_SOURCE_DIR}/exchanges/sim)
target_compile_definitions(chaos_faults PRIVATE KS_PLUGIN_DIR="${KS_PLUGIN_OUTPUT_DIR}")
add_dependencies(chaos_faults sim)
