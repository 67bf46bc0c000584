# ReBAC engine benchmark: builds a realistic tuple set (1,000,000 tuples by
# default) and prints cached/uncached Check latency and write throughput as a
# table and as JSON.
add_executable(nexus_bench_rebac ${CMAKE_CURRENT_SOURCE_DIR}/rebac_bench.cc)
target_link_libraries(nexus_bench_rebac PRIVATE nexus_perms nlohmann_json::nlohmann_json)
