# Search benchmark: indexing throughput, keyword query latency, indexed grep
# against ripgrep on the same tree. Prints one JSON object.
add_executable(nexus_bench_search ${CMAKE_CURRENT_LIST_DIR}/search_bench.cc)
target_link_libraries(nexus_bench_search PRIVATE nexus_search)
