// libcurl basics shared by the tree's HTTP clients (search embeddings, the
// mesh's etcd store).
#pragma once

#include <cstddef>

namespace nexus {

// libcurl's global state, set up once, before the first handle.
void InitCurlOnce();

// A CURLOPT_WRITEFUNCTION appending what arrives to the std::string given
// as CURLOPT_WRITEDATA.
size_t AppendToString(char* data, size_t size, size_t n, void* out);

}  // namespace nexus
