# Director benchmark: placements/s with 1,000 nodes and 100,000 queued tasks
# (in-memory and SQLite stores), heartbeats/s and director memory.
add_executable(nexus_bench_mesh ${CMAKE_CURRENT_SOURCE_DIR}/mesh_bench.cc)
target_link_libraries(nexus_bench_mesh PRIVATE nexus_mesh)
