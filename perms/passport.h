// Passports: signed statements of an agent's identity that another node can
// check without asking the issuer.
//
// A passport says "agent A, owned by O, issued on node N, may use scopes S
// until T", signed with the issuing node's Ed25519 identity key (NodeKey).
// A verifier holds a TrustSet (key id -> public key; a mesh director's key set
// becomes one) and the current time; the daemon adds a RevocationCheck that
// asks its registry and delegation state.
//
// Wire form (JSON, UTF-8, one line as issued):
//   {"claims":{"agent_id":"...","expires_at":"...","issued_at":"...","node":"...",
//              "owner":"...","scopes":["..."]},
//    "key_id":"<16 hex>","signature":"<base64>"}
//   agent_id    the agent's id in the registry (the caller decides whether it
//               carries the "agent:" prefix; the passport signs it as given)
//   owner       the owner's subject, e.g. "user:alice"
//   node        the issuing node's name
//   scopes      what the passport speaks for (globs, feature names); may be empty
//   issued_at,  instants in RFC 3339, UTC, exactly three fraction digits and
//   expires_at  'Z': "2026-12-06T09:45:00.000Z" (base/format.h FormatRfc3339(t, 3)),
//               years 1970 to 2261
//   key_id      KeyIdOf(the signer's raw public key)
//   signature   standard base64 with padding (RFC 4648 §4) of the 64-byte
//               Ed25519 (RFC 8032, pure, no prehash) signature of the
//               canonical claims below
//
// Canonical claims (the signed bytes; CanonicalClaimsJson):
//   - one JSON object holding exactly the six members above, keys in ascending
//     byte order (agent_id, expires_at, issued_at, node, owner, scopes);
//   - no whitespace anywhere: {"k":"v","k2":["a","b"]};
//   - scopes in the order they were issued (the order is part of what is signed);
//   - strings in UTF-8, escaping only: '"' as \", '\' as \\, U+0008 \b,
//     U+0009 \t, U+000A \n, U+000C \f, U+000D \r, every other U+0000..U+001F
//     as \u00xx with lowercase hex; everything else (including '/', U+007F and
//     non-ASCII) as its raw UTF-8 bytes.
//   Since the object holds only strings and an array of strings, this is its
//   RFC 8785 (JCS) form: any JCS implementation reproduces the bytes. Issued
//   passports carry the claims in exactly this form.
//
// Verification (VerifyPassport), in order; each error's message says which:
//   malformed JSON, a missing, mistyped or extra claim, a time
//   not in the form above, expires_at <= issued_at, or a
//   signature that is not base64                                 EBADMSG
//   key id not in the trust set, or a signature that does not
//   verify                                                       EKEYREJECTED
//   issued_at later than now + kPassportClockSkew                EBADMSG
//   now >= expires_at (the expiry instant itself is expired)     EKEYEXPIRED
//   the RevocationCheck says revoked                             EKEYREVOKED
// Members of the envelope other than claims, key_id and signature are ignored
// (they are not signed); extra members inside claims are refused.
//
// Secrets: the private key exists only in NodeKey and its PEM file (PKCS #8,
// mode 0600); nothing here logs or returns it.
//
// Thread-safety: NodeKey is immutable once loaded; its const methods may be
// called concurrently. TrustSet is thread-safe (a shared mutex: lookups share,
// Add/Remove exclude). The free functions are reentrant. No exception leaves
// this module; OpenSSL's errors become Status messages with OpenSSL's text.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/status.h"

// OpenSSL's EVP_PKEY, kept out of this header.
struct evp_pkey_st;

namespace nexus {

// Raw Ed25519 public keys are this many bytes, signatures twice that.
inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SignatureBytes = 64;
// How far in the future issued_at may lie (clocks of mesh nodes differ).
inline constexpr UnixNanos kPassportClockSkew = 60 * kNanosPerSecond;

// The key id of a raw Ed25519 public key: the first 16 lowercase hex digits
// of SHA-256 over the 32 raw bytes.
std::string KeyIdOf(std::string_view raw_public_key);

// Parses a public key as `--trust` takes it: either the standard base64 of
// the 32 raw bytes (NodeKey::PublicKeyBase64) or a PEM "PUBLIC KEY"
// (SubjectPublicKeyInfo, NodeKey::PublicKeyPem) — the text, not a file name.
// Surrounding whitespace is ignored. Returns the raw 32 bytes; EINVAL for
// anything else, including PEM keys of another algorithm.
Result<std::string> ParsePublicKey(std::string_view text);

// This node's Ed25519 identity key. Move-only.
class NodeKey {
 public:
  // Loads the PEM private key at `path`, or creates one there (mode 0600,
  // written atomically) if there is no file. The parent directory must
  // exist. EACCES, naming the mode and the chmod that fixes it, if the file
  // grants any permission to group or others; EINVAL if it is not an Ed25519
  // private key. Two processes must not create the same path at once (nexusd
  // holds its data directory's lock).
  static Result<NodeKey> LoadOrCreate(const std::string& path);
  // A fresh key held in memory only.
  static Result<NodeKey> Generate();

  NodeKey(NodeKey&&) noexcept = default;
  NodeKey& operator=(NodeKey&&) noexcept = default;

  const std::string& key_id() const { return key_id_; }
  // The raw 32-byte public key.
  const std::string& public_key() const { return public_key_; }
  // The text forms ParsePublicKey accepts.
  std::string PublicKeyBase64() const;
  Result<std::string> PublicKeyPem() const;

  // The 64-byte Ed25519 signature of `message`.
  Result<std::string> Sign(std::string_view message) const;

 private:
  struct PkeyFree {
    void operator()(evp_pkey_st* pkey) const;
  };
  using Pkey = std::unique_ptr<evp_pkey_st, PkeyFree>;

  NodeKey(Pkey pkey, std::string public_key);
  // Takes ownership of `pkey`, which must be an Ed25519 private key (EINVAL
  // naming `what` otherwise).
  static Result<NodeKey> FromPkey(evp_pkey_st* pkey, const std::string& what);
  // The private key as PKCS #8 PEM, for the key file.
  Result<std::string> PrivateKeyPem() const;

  Pkey pkey_;  // read-only after construction
  std::string public_key_;
  std::string key_id_;
};

// The keys whose passports a node accepts: key id -> raw public key.
class TrustSet {
 public:
  TrustSet() = default;
  TrustSet(const TrustSet&) = delete;
  TrustSet& operator=(const TrustSet&) = delete;

  // Trusts a raw 32-byte Ed25519 public key (ParsePublicKey's result) and
  // returns its key id; adding a trusted key again is a no-op. EINVAL for
  // another length.
  Result<std::string> Add(std::string_view raw_public_key);
  // False if `key_id` was not trusted.
  bool Remove(const std::string& key_id);
  // The raw public key trusted under `key_id`.
  std::optional<std::string> Find(const std::string& key_id) const;
  std::vector<std::string> KeyIds() const;  // sorted
  size_t size() const;

 private:
  mutable SharedMutex mu_;
  std::map<std::string, std::string> keys_ GUARDED_BY(mu_);
};

// What a passport claims. Instants are nanoseconds since the epoch; the wire
// form carries milliseconds, so issuing truncates both to the millisecond
// (VerifyPassport returns the truncated values).
struct PassportClaims {
  std::string agent_id;
  std::string owner;
  std::string node;
  std::vector<std::string> scopes;
  UnixNanos issued_at = 0;
  UnixNanos expires_at = 0;

  bool operator==(const PassportClaims&) const = default;
};

// The canonical claims (see the top of this file): the bytes that are signed.
// Instants are written truncated to the millisecond. Strings must be valid
// UTF-8 (IssuePassport checks; invalid bytes are written as they are).
std::string CanonicalClaimsJson(const PassportClaims& claims);

// Signs `claims` with `key` and returns the passport's JSON text. EINVAL if
// agent_id, owner or node is empty, a scope is empty, a string is not valid
// UTF-8, issued_at is before 1970, expires_at is not after issued_at (after
// truncation to the millisecond) or not before 2262 (so kNever is refused:
// a passport always expires).
Result<std::string> IssuePassport(const NodeKey& key, const PassportClaims& claims);

// Asked once a passport's signature and times check out. OK: not revoked.
// An EKEYREVOKED status revokes it (its message, e.g. "agent x was deleted",
// joins VerifyPassport's); any other error is returned as it is (the state
// it needs is unavailable: the passport is not accepted).
using RevocationCheck = std::function<Status(const PassportClaims&)>;

// Checks `text` against `trust` at `now` (see the top of this file for the
// order and the errors) and returns its claims. An empty `revoked` skips the
// revocation check.
Result<PassportClaims> VerifyPassport(std::string_view text, const TrustSet& trust, UnixNanos now,
                                      const RevocationCheck& revoked = {});

}  // namespace nexus
