add_executable(bench_reload reload/bench_reload.c)
target_link_libraries(bench_reload PRIVATE kestrel_core)
set_target_properties(bench_reload PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
