# Engine-level tests: the order path, rate limits, leg groups, recovery, kill switch.
add_library(recvenue MODULE engine/recvenue.c)
target_link_libraries(recvenue PRIVATE Kestrel::sdk)
set_target_properties(recvenue PROPERTIES PREFIX "" LIBRARY_OUTPUT_DIRECTORY
                      ${CMAKE_CURRENT_BINARY_DIR}/engine-plugins)
ks_test(test_engine SOURCES engine/test_engine.c LIBS kestrel_core TIMEOUT 300)
target_compile_definitions(test_engine PRIVATE
                           KS_TEST_PLUGIN_DIR="${CMAKE_CURRENT_BINARY_DIR}/engine-plugins")
add_dependencies(test_engine recvenue sim)
ks_script_test(killswitch engine/killswitch.sh)
ks_test(test_reload SOURCES engine/test_reload.c LIBS kestrel_core TIMEOUT 120)
target_compile_definitions(test_reload PRIVATE
                           KS_TEST_PLUGIN_DIR="${CMAKE_CURRENT_BINARY_DIR}/engine-plugins")
add_dependencies(test_reload recvenue)
ks_script_test(deadman engine/deadman.sh)
