// Random secrets and digests: the mesh's lease tokens, node credentials and
// result hashes (SHA-256), git's object and pack checksums (SHA-1). Thin
// wrappers over OpenSSL so the rest of the tree never touches its API.
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

// An incremental digest for content fed in pieces. Aborts if OpenSSL
// cannot set it up.
class Digest {
 public:
  enum class Kind { kSha1, kSha256 };
  explicit Digest(Kind kind);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void Update(std::string_view data);
  // One of them, at most once: the digest's bytes, or them in lowercase hex.
  std::string FinishRaw();
  std::string FinishHex();

 private:
  void* ctx_;  // EVP_MD_CTX*
};

class Sha256 : public Digest {
 public:
  Sha256() : Digest(Kind::kSha256) {}
};

class Sha1 : public Digest {
 public:
  Sha1() : Digest(Kind::kSha1) {}
};

// Compares secrets in time independent of where they differ.
bool SecretEquals(std::string_view a, std::string_view b);

}  // namespace nexus
