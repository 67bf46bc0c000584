# MCP benchmark helper (run_mcp_bench.sh): many tool grants in one ReBAC write.
add_executable(nexus_bench_mcp_grants ${CMAKE_CURRENT_SOURCE_DIR}/mcp_grants.cc)
target_link_libraries(nexus_bench_mcp_grants PRIVATE nexus_rpc_client)
