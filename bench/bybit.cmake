# Bybit decode benchmark: bench/bybit/run.sh runs bench_bybit (Kestrel's plugin) and ccxt
# on the same frames of a real capture.
add_executable(bench_bybit bybit/bench_bybit.c)
target_link_libraries(bench_bybit PRIVATE Kestrel::sdk PkgConfig::CJSON ${CMAKE_DL_LIBS})
set_target_properties(bench_bybit PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
add_dependencies(bench_bybit bybit)
