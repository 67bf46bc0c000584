# Version store: capture throughput (small files/s, MB/s of a large file) and
# history/get/diff latency on a file with 1,000 versions. Prints JSON.
add_executable(nexus_bench_versions ${CMAKE_CURRENT_SOURCE_DIR}/versions_bench.cc)
target_link_libraries(nexus_bench_versions PRIVATE nexus_versions)
