# Operations log: append throughput and the latency of a first page of 1000
# (`ops log --agent A`, by subject, by path, unfiltered) over 1,000,000
# operations. Prints JSON.
add_executable(nexus_bench_oplog ${CMAKE_CURRENT_SOURCE_DIR}/oplog_bench.cc)
target_link_libraries(nexus_bench_oplog PRIVATE nexus_ops)
