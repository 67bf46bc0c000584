#include "perms/passport.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/crypto.h"
#include "base/file_util.h"
#include "base/format.h"

namespace nexus {
namespace {

using Json = nlohmann::json;

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using OwnedPkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};

constexpr UnixNanos kNanosPerMilli = 1'000'000;
// Passports are issued and verified for instants before 2262-01-01T00:00:00Z,
// the last whole year of an int64 nanosecond clock.
constexpr UnixNanos kPassportTimeLimit = 9'214'646'400LL * kNanosPerSecond;
// Far more than a passport with hundreds of scopes; bounds what a peer can
// make us parse.
constexpr size_t kMaxPassportBytes = 64 * 1024;
constexpr size_t kMaxPublicKeyText = 16 * 1024;

// The thread's OpenSSL error queue as text; leaves it empty.
std::string DrainOpensslErrors() {
  std::string out;
  char buf[256];
  for (unsigned long e = ERR_get_error(); e != 0; e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

Status OpensslError(int code, const std::string& what) {
  std::string detail = DrainOpensslErrors();
  return Status::Error(code, detail.empty() ? what : what + ": " + detail);
}

// Refuses a passphrase prompt: a node key is never encrypted, and a daemon
// must not wait on a terminal.
int NoPassphrase(char*, int, int, void*) { return -1; }

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

Result<std::string> RawPublicKey(EVP_PKEY* pkey, const std::string& what) {
  unsigned char raw[kEd25519PublicKeyBytes];
  size_t len = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(pkey, raw, &len) != 1 || len != sizeof raw)
    return OpensslError(EINVAL, what + ": no raw Ed25519 public key");
  return std::string(reinterpret_cast<const char*>(raw), len);
}

// The contents of a memory BIO.
std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

// Standard base64 with padding, accepted only in the spelling Base64Encode
// gives (no whitespace, zero trailing bits), so one byte string has one text.
std::optional<std::string> Base64DecodeStrict(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  size_t end = in.size();
  while (end > 0 && in.size() - end < 2 && in[end - 1] == '=') --end;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < end; ++i) {
    const char c = in[i];
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '+'             ? 62
            : c == '/'             ? 63
                                   : -1;
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (Base64Encode(out) != in) return std::nullopt;
  return out;
}

std::string_view TrimSpace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\v\f";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

// A JSON string in the canonical spelling (see passport.h).
void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\f':
        *out += "\\f";
        break;
      case '\r':
        *out += "\\r";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

UnixNanos TruncateToMillis(UnixNanos t) {
  const UnixNanos rem = ((t % kNanosPerMilli) + kNanosPerMilli) % kNanosPerMilli;
  return t - rem;
}

std::string WireTime(UnixNanos t) { return FormatRfc3339(t, 3); }

Status ValidateForIssue(const PassportClaims& c) {
  auto text = [](const char* name, const std::string& value) -> Status {
    if (value.empty()) return Status::Error(EINVAL, std::string("passport ") + name + " must not be empty");
    if (!IsValidUtf8(value))
      return Status::Error(EINVAL, std::string("passport ") + name + " is not valid UTF-8");
    return Status::Ok();
  };
  NEXUS_RETURN_IF_ERROR(text("agent_id", c.agent_id));
  NEXUS_RETURN_IF_ERROR(text("owner", c.owner));
  NEXUS_RETURN_IF_ERROR(text("node", c.node));
  for (const std::string& scope : c.scopes) NEXUS_RETURN_IF_ERROR(text("scope", scope));
  if (c.issued_at < 0) return Status::Error(EINVAL, "passport issued_at must not be before 1970");
  if (c.expires_at <= c.issued_at)
    return Status::Error(EINVAL, "passport expires_at (" + WireTime(c.expires_at) +
                                     ") must be after issued_at (" + WireTime(c.issued_at) + ")");
  if (c.expires_at >= kPassportTimeLimit)
    return Status::Error(EINVAL, "passport expires_at must be before 2262-01-01T00:00:00Z");
  return Status::Ok();
}

Status Malformed(const std::string& what) { return Status::Error(EBADMSG, "malformed passport: " + what); }

Result<std::string> NonEmptyString(const Json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return Malformed(std::string("claim \"") + name + "\" is missing");
  if (!it->is_string() || it->get_ref<const std::string&>().empty())
    return Malformed(std::string("claim \"") + name + "\" is not a non-empty string");
  return it->get<std::string>();
}

// An instant in exactly the wire form: "YYYY-MM-DDTHH:MM:SS.mmmZ", 1970 to 2261.
Result<UnixNanos> WireInstant(const Json& claims, const char* name) {
  NEXUS_ASSIGN_OR_RETURN(std::string text, NonEmptyString(claims, name));
  auto bad = [&] {
    return Malformed(std::string("claim \"") + name + "\" is \"" + text +
                     "\", not an RFC 3339 UTC time with milliseconds (e.g. 2026-12-06T09:45:00.000Z)");
  };
  // The year bounds keep ParseRfc3339's nanoseconds inside int64.
  if (text.size() != 24 || text.compare(0, 4, "1970") < 0 || text.compare(0, 4, "2261") > 0) return bad();
  auto t = ParseRfc3339(text);
  if (!t.ok() || WireTime(*t) != text) return bad();
  return *t;
}

Result<PassportClaims> ParseClaims(const Json& claims) {
  static constexpr const char* kNames[] = {"agent_id", "expires_at", "issued_at", "node", "owner", "scopes"};
  for (const auto& item : claims.items()) {
    bool known = false;
    for (const char* name : kNames) known = known || item.key() == name;
    if (!known) return Malformed("unexpected claim \"" + item.key() + "\"");
  }
  PassportClaims c;
  NEXUS_ASSIGN_OR_RETURN(c.agent_id, NonEmptyString(claims, "agent_id"));
  NEXUS_ASSIGN_OR_RETURN(c.owner, NonEmptyString(claims, "owner"));
  NEXUS_ASSIGN_OR_RETURN(c.node, NonEmptyString(claims, "node"));
  auto scopes = claims.find("scopes");
  if (scopes == claims.end()) return Malformed("claim \"scopes\" is missing");
  if (!scopes->is_array()) return Malformed("claim \"scopes\" is not an array");
  for (const Json& scope : *scopes) {
    if (!scope.is_string() || scope.get_ref<const std::string&>().empty())
      return Malformed("claim \"scopes\" holds something other than a non-empty string");
    c.scopes.push_back(scope.get<std::string>());
  }
  NEXUS_ASSIGN_OR_RETURN(c.issued_at, WireInstant(claims, "issued_at"));
  NEXUS_ASSIGN_OR_RETURN(c.expires_at, WireInstant(claims, "expires_at"));
  if (c.expires_at <= c.issued_at) return Malformed("expires_at is not after issued_at");
  return c;
}

Status VerifySignature(std::string_view raw_public_key, const std::string& key_id, std::string_view message,
                       std::string_view signature) {
  const std::string rejected = "passport signature does not verify with key " + key_id;
  if (signature.size() != kEd25519SignatureBytes)
    return Status::Error(EKEYREJECTED, rejected + " (" + std::to_string(signature.size()) +
                                           " bytes; an Ed25519 signature has 64)");
  ERR_clear_error();
  OwnedPkey pub(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, Bytes(raw_public_key), raw_public_key.size()));
  if (!pub) return OpensslError(EKEYREJECTED, "trusted key " + key_id + " is not a usable Ed25519 key");
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pub.get()) != 1)
    return OpensslError(EKEYREJECTED, "cannot verify with key " + key_id);
  if (EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(message), message.size()) != 1) {
    ERR_clear_error();
    return Status::Error(EKEYREJECTED, rejected);
  }
  return Status::Ok();
}

Result<PassportClaims> VerifyParsed(const Json& doc, const TrustSet& trust, UnixNanos now,
                                    const RevocationCheck& revoked) {
  if (!doc.is_object()) return Malformed("not a JSON object");
  auto claims_json = doc.find("claims");
  if (claims_json == doc.end() || !claims_json->is_object()) return Malformed("no \"claims\" object");
  auto key_id = doc.find("key_id");
  if (key_id == doc.end() || !key_id->is_string()) return Malformed("no \"key_id\" string");
  auto signature_text = doc.find("signature");
  if (signature_text == doc.end() || !signature_text->is_string())
    return Malformed("no \"signature\" string");
  NEXUS_ASSIGN_OR_RETURN(PassportClaims claims, ParseClaims(*claims_json));
  std::optional<std::string> signature = Base64DecodeStrict(signature_text->get_ref<const std::string&>());
  if (!signature) return Malformed("\"signature\" is not standard base64");

  const std::string& id = key_id->get_ref<const std::string&>();
  std::optional<std::string> public_key = trust.Find(id);
  if (!public_key)
    return Status::Error(EKEYREJECTED, "passport signed by unknown key id \"" + id + "\" (not trusted here)");
  NEXUS_RETURN_IF_ERROR(VerifySignature(*public_key, id, CanonicalClaimsJson(claims), *signature));

  if (claims.issued_at > now && claims.issued_at - now > kPassportClockSkew)
    return Status::Error(EBADMSG, "passport issued in the future: issued_at " + WireTime(claims.issued_at) +
                                      ", now " + WireTime(now) + " (clocks may differ by at most " +
                                      std::to_string(kPassportClockSkew / kNanosPerSecond) + " s)");
  if (now >= claims.expires_at)
    return Status::Error(EKEYEXPIRED, "passport of " + claims.agent_id + " expired at " +
                                          WireTime(claims.expires_at) + " (now " + WireTime(now) + ")");
  if (revoked) {
    Status st = revoked(claims);
    if (st.code() == EKEYREVOKED)
      return Status::Error(EKEYREVOKED, "passport of " + claims.agent_id + " revoked: " + st.message());
    NEXUS_RETURN_IF_ERROR(st);
  }
  return claims;
}

}  // namespace

std::string KeyIdOf(std::string_view raw_public_key) { return Sha256Hex(raw_public_key).substr(0, 16); }

Result<std::string> ParsePublicKey(std::string_view text) {
  text = TrimSpace(text);
  if (text.size() > kMaxPublicKeyText) return Status::Error(EINVAL, "public key text is too long");
  if (text.starts_with("-----BEGIN")) {
    ERR_clear_error();
    Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio) return OpensslError(ENOMEM, "read PEM public key");
    OwnedPkey pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassphrase, nullptr));
    if (!pkey) return OpensslError(EINVAL, "not a PEM public key (\"-----BEGIN PUBLIC KEY-----\")");
    if (EVP_PKEY_get_id(pkey.get()) != EVP_PKEY_ED25519)
      return Status::Error(EINVAL, "the PEM public key is not an Ed25519 key");
    return RawPublicKey(pkey.get(), "PEM public key");
  }
  std::optional<std::string> raw = Base64DecodeStrict(text);
  if (!raw || raw->size() != kEd25519PublicKeyBytes)
    return Status::Error(EINVAL,
                         "a public key is the base64 of its 32 raw Ed25519 bytes or a PEM \"PUBLIC KEY\"");
  return std::move(*raw);
}

// NodeKey

void NodeKey::PkeyFree::operator()(evp_pkey_st* pkey) const { EVP_PKEY_free(pkey); }

NodeKey::NodeKey(Pkey pkey, std::string public_key)
    : pkey_(std::move(pkey)), public_key_(std::move(public_key)), key_id_(KeyIdOf(public_key_)) {}

Result<NodeKey> NodeKey::FromPkey(evp_pkey_st* raw, const std::string& what) {
  Pkey pkey(raw);
  if (EVP_PKEY_get_id(pkey.get()) != EVP_PKEY_ED25519)
    return Status::Error(EINVAL, what + " is not an Ed25519 private key");
  NEXUS_ASSIGN_OR_RETURN(std::string public_key, RawPublicKey(pkey.get(), what));
  return NodeKey(std::move(pkey), std::move(public_key));
}

Result<NodeKey> NodeKey::Generate() {
  ERR_clear_error();
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (pkey == nullptr) return OpensslError(EIO, "generate an Ed25519 key");
  return FromPkey(pkey, "generated key");
}

Result<NodeKey> NodeKey::LoadOrCreate(const std::string& path) {
  const std::string what = "node key " + path;
  std::unique_ptr<FILE, FileCloser> file(std::fopen(path.c_str(), "re"));
  if (!file) {
    if (errno != ENOENT) return Status::FromErrno("open " + what);
    NEXUS_ASSIGN_OR_RETURN(NodeKey key, Generate());
    NEXUS_ASSIGN_OR_RETURN(std::string pem, key.PrivateKeyPem());
    Status written = WriteFileAtomic(path, pem, 0600);
    OPENSSL_cleanse(pem.data(), pem.size());
    NEXUS_RETURN_IF_ERROR(written);
    return key;
  }
  // Checked on the open file, so the file read is the file checked.
  struct stat st;
  if (::fstat(::fileno(file.get()), &st) != 0) return Status::FromErrno("stat " + what);
  if (!S_ISREG(st.st_mode)) return Status::Error(EINVAL, what + " is not a regular file");
  if (st.st_mode & 077)
    return Status::Error(EACCES, what + " has mode " + OctalMode(st.st_mode & 07777, 4) +
                                     ", open to group or others; a private key must be readable by its "
                                     "owner only: chmod 600 " +
                                     path);
  ERR_clear_error();
  EVP_PKEY* pkey = PEM_read_PrivateKey(file.get(), nullptr, NoPassphrase, nullptr);
  if (pkey == nullptr) return OpensslError(EINVAL, what + " is not a PEM private key");
  return FromPkey(pkey, what);
}

std::string NodeKey::PublicKeyBase64() const { return Base64Encode(public_key_); }

Result<std::string> NodeKey::PublicKeyPem() const {
  ERR_clear_error();
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1)
    return OpensslError(EIO, "encode the public key of " + key_id_);
  return BioText(bio.get());
}

Result<std::string> NodeKey::PrivateKeyPem() const {
  ERR_clear_error();
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return OpensslError(EIO, "encode node key " + key_id_);
  return BioText(bio.get());
}

Result<std::string> NodeKey::Sign(std::string_view message) const {
  ERR_clear_error();
  MdCtx ctx(EVP_MD_CTX_new());
  std::string signature(kEd25519SignatureBytes, '\0');
  size_t len = signature.size();
  // Ed25519 signs the message itself: no digest is named.
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len, Bytes(message),
                     message.size()) != 1)
    return OpensslError(EIO, "sign with node key " + key_id_);
  signature.resize(len);
  return signature;
}

// TrustSet

Result<std::string> TrustSet::Add(std::string_view raw_public_key) {
  if (raw_public_key.size() != kEd25519PublicKeyBytes)
    return Status::Error(
        EINVAL, "a trusted key is 32 raw Ed25519 bytes, not " + std::to_string(raw_public_key.size()));
  std::string id = KeyIdOf(raw_public_key);
  WriterLock lock(mu_);
  auto [it, added] = keys_.emplace(id, std::string(raw_public_key));
  if (!added && it->second != raw_public_key)
    return Status::Error(EEXIST, "another trusted key has key id " + id);
  return id;
}

bool TrustSet::Remove(const std::string& key_id) {
  WriterLock lock(mu_);
  return keys_.erase(key_id) > 0;
}

std::optional<std::string> TrustSet::Find(const std::string& key_id) const {
  ReaderLock lock(mu_);
  auto it = keys_.find(key_id);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> TrustSet::KeyIds() const {
  ReaderLock lock(mu_);
  std::vector<std::string> ids;
  ids.reserve(keys_.size());
  for (const auto& [id, key] : keys_) ids.push_back(id);
  return ids;
}

size_t TrustSet::size() const {
  ReaderLock lock(mu_);
  return keys_.size();
}

// Passports

std::string CanonicalClaimsJson(const PassportClaims& c) {
  std::string out = "{\"agent_id\":";
  AppendJsonString(&out, c.agent_id);
  out += ",\"expires_at\":";
  AppendJsonString(&out, WireTime(c.expires_at));
  out += ",\"issued_at\":";
  AppendJsonString(&out, WireTime(c.issued_at));
  out += ",\"node\":";
  AppendJsonString(&out, c.node);
  out += ",\"owner\":";
  AppendJsonString(&out, c.owner);
  out += ",\"scopes\":[";
  for (size_t i = 0; i < c.scopes.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(&out, c.scopes[i]);
  }
  out += "]}";
  return out;
}

Result<std::string> IssuePassport(const NodeKey& key, const PassportClaims& claims) {
  PassportClaims c = claims;
  c.issued_at = TruncateToMillis(c.issued_at);
  c.expires_at = TruncateToMillis(c.expires_at);
  NEXUS_RETURN_IF_ERROR(ValidateForIssue(c));
  const std::string canonical = CanonicalClaimsJson(c);
  NEXUS_ASSIGN_OR_RETURN(std::string signature, key.Sign(canonical));
  std::string out = "{\"claims\":" + canonical + ",\"key_id\":";
  AppendJsonString(&out, key.key_id());
  out += ",\"signature\":";
  AppendJsonString(&out, Base64Encode(signature));
  out += '}';
  return out;
}

Result<PassportClaims> VerifyPassport(std::string_view text, const TrustSet& trust, UnixNanos now,
                                      const RevocationCheck& revoked) {
  if (text.size() > kMaxPassportBytes)
    return Malformed(std::to_string(text.size()) + " bytes (at most " + std::to_string(kMaxPassportBytes) +
                     ")");
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return Malformed(std::string("not JSON: ") + e.what());
  }
  // Every access below checks the type first; this catch is the guarantee
  // that no nlohmann exception leaves the module if one is missed.
  try {
    return VerifyParsed(doc, trust, now, revoked);
  } catch (const Json::exception& e) {
    return Malformed(e.what());
  }
}

}  // namespace nexus
