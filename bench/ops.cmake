# Operations log benchmark helpers (run_ops_bench.sh): fill a log with a
# million operations through OpLog before a daemon starts, and time the
# Ops.log call alone over the control socket.
add_executable(nexus_bench_ops_fill ${CMAKE_CURRENT_SOURCE_DIR}/ops_fill.cc)
target_link_libraries(nexus_bench_ops_fill PRIVATE nexus_ops)
add_executable(nexus_bench_ops_rpc ${CMAKE_CURRENT_SOURCE_DIR}/ops_rpc.cc)
target_link_libraries(nexus_bench_ops_rpc PRIVATE nexus_rpc_client)
