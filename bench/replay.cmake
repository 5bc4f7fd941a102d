# Replay benchmarks: bench/replay/run.sh drives `kestrel backtest` over the recorded data
# with each strategy; bench_replay_load times loading alone.
add_executable(bench_replay_load replay/bench_replay_load.c)
target_link_libraries(bench_replay_load PRIVATE sim_replay Kestrel::sdk)
set_target_properties(bench_replay_load PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
