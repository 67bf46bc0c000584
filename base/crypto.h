// Random secrets and SHA-256 for the mesh: lease tokens, node credentials,
// result hashes. Thin wrappers over OpenSSL so the rest of mesh/ never
// touches its API.
//
// Thread-safety: all functions are safe to call concurrently.
#pragma once

#include <string>
#include <string_view>

namespace nexus {

// `bytes` bytes from the OpenSSL CSPRNG, hex-encoded (2 * bytes chars).
// Aborts if the CSPRNG fails: an unguessable token is not optional.
std::string RandomHex(size_t bytes);

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// Incremental SHA-256 for content written in pieces.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(std::string_view data);
  std::string FinishHex();  // at most once

 private:
  void* ctx_;  // EVP_MD_CTX*
};

// Compares secrets in time independent of where they differ.
bool SecretEquals(std::string_view a, std::string_view b);

}  // namespace nexus
