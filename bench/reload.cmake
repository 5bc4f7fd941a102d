add_executable(bench_reload reload/bench_reload.c)
target_link_libraries(bench_reload PRIVATE kestrel_core)
# beside kestrel, so the default plugin directory (<exe dir>/plugins) is the same
set_target_properties(bench_reload PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
