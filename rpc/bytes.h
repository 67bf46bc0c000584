// Views between Cap'n Proto Data and C++ byte strings, without copies.
#pragma once

#include <string_view>

#include <capnp/blob.h>

namespace nexus {

inline kj::ArrayPtr<const kj::byte> AsBytes(std::string_view s) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

inline std::string_view AsView(capnp::Data::Reader d) {
  return {reinterpret_cast<const char*>(d.begin()), d.size()};
}

}  // namespace nexus
