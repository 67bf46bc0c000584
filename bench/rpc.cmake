# Control-socket round-trip latency and throughput (run by run_rpc_bench.sh).
add_executable(nexus_bench_rpc ${CMAKE_CURRENT_SOURCE_DIR}/rpc_bench.cc)
target_link_libraries(nexus_bench_rpc PRIVATE nexus_rpc_server nlohmann_json::nlohmann_json)
