#include "perms/passport.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/crypto.h"
#include "base/file_util.h"
#include "base/format.h"
#include "tests/fs/test_util.h"

namespace nexus {
namespace {

using Json = nlohmann::json;

constexpr UnixNanos kSecond = kNanosPerSecond;
constexpr UnixNanos kMilli = 1'000'000;
constexpr UnixNanos kT0 = 1'796'550'300LL * kSecond;  // 2026-12-06T09:45:00Z

// The PEM of a fresh X25519 key: right size, wrong algorithm.
std::string X25519Pem(bool private_key) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  BIO* bio = BIO_new(BIO_s_mem());
  if (private_key)
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  else
    PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(key);
  return out;
}

// `text` with its one occurrence of `from` replaced by `to`.
std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from << " not in " << text;
  EXPECT_EQ(text.find(from, at + 1), std::string::npos) << from << " twice in " << text;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

class PassportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = NodeKey::Generate();
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    key_.emplace(std::move(key).value());
    ASSERT_TRUE(trust_.Add(key_->public_key()).ok());
  }
  static PassportClaims Claims() {
    PassportClaims c;
    c.agent_id = "helper";
    c.owner = "user:alice";
    c.node = "node-a";
    c.scopes = {"/proj/*", "ipc"};
    c.issued_at = kT0;
    c.expires_at = kT0 + 3600 * kSecond;
    return c;
  }
  std::string Issue(const PassportClaims& c, const NodeKey* key = nullptr) {
    auto text = IssuePassport(key ? *key : *key_, c);
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    return text.ok() ? *text : std::string();
  }
  Result<PassportClaims> Verify(const std::string& text, UnixNanos now = kT0 + kSecond,
                                const RevocationCheck& revoked = {}) {
    return VerifyPassport(text, trust_, now, revoked);
  }

  std::optional<NodeKey> key_;
  TrustSet trust_;
};

TEST_F(PassportTest, IssuedPassportVerifiesWithItsClaims) {
  const std::string text = Issue(Claims());
  auto claims = Verify(text);
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ(*claims, Claims());

  Json j = Json::parse(text);
  EXPECT_EQ(j.size(), 3u);
  EXPECT_EQ(j["key_id"], key_->key_id());
  EXPECT_EQ(j["claims"]["issued_at"], "2026-12-06T09:45:00.000Z");
  EXPECT_EQ(j["claims"]["expires_at"], "2026-12-06T10:45:00.000Z");
  EXPECT_EQ(j["claims"]["scopes"], Json::array({"/proj/*", "ipc"}));
  EXPECT_EQ(j["signature"].get<std::string>().size(), 88u);  // base64 of 64 bytes
  // Ed25519 is deterministic: the same claims give the same passport.
  EXPECT_EQ(Issue(Claims()), text);
}

TEST_F(PassportTest, IssuingTruncatesInstantsToTheMillisecond) {
  PassportClaims c = Claims();
  c.issued_at += 1'234'567;
  c.expires_at += 999'999;
  auto claims = Verify(Issue(c));
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ(claims->issued_at, kT0 + kMilli);
  EXPECT_EQ(claims->expires_at, Claims().expires_at);
}

TEST_F(PassportTest, IssueRefusesClaimsItCannotStandBehind) {
  const std::vector<std::pair<const char*, std::function<void(PassportClaims&)>>> cases = {
      {"empty agent", [](PassportClaims& c) { c.agent_id.clear(); }},
      {"empty owner", [](PassportClaims& c) { c.owner.clear(); }},
      {"empty node", [](PassportClaims& c) { c.node.clear(); }},
      {"empty scope", [](PassportClaims& c) { c.scopes.push_back(""); }},
      {"bad UTF-8", [](PassportClaims& c) { c.owner = "user:\xff"; }},
      {"before 1970", [](PassportClaims& c) { c.issued_at = -kSecond; }},
      {"expires at issue", [](PassportClaims& c) { c.expires_at = c.issued_at; }},
      {"expires before issue", [](PassportClaims& c) { c.expires_at = c.issued_at - kSecond; }},
      {"same millisecond", [](PassportClaims& c) { c.expires_at = c.issued_at + kMilli - 1; }},
      {"never expires", [](PassportClaims& c) { c.expires_at = kNever; }},
  };
  for (const auto& [name, mutate] : cases) {
    PassportClaims c = Claims();
    mutate(c);
    auto text = IssuePassport(*key_, c);
    EXPECT_EQ(text.code(), EINVAL) << name;
  }
}

TEST_F(PassportTest, TamperedClaimsAreRejected) {
  const std::string text = Issue(Claims());
  const std::vector<std::pair<std::string, std::string>> edits = {
      {"\"agent_id\":\"helper\"", "\"agent_id\":\"helper2\""},
      {"\"owner\":\"user:alice\"", "\"owner\":\"user:mallory\""},
      {"\"node\":\"node-a\"", "\"node\":\"node-b\""},
      {"\"/proj/*\"", "\"/*\""},
      {"\"ipc\"]", "\"ipc\",\"admin\"]"},
      {"\"ipc\"", "\"ipd\""},
      {"10:45:00.000Z", "11:45:00.000Z"},
      {"09:45:00.000Z", "09:44:00.000Z"},
  };
  for (const auto& [from, to] : edits) {
    auto claims = Verify(Replace(text, from, to));
    EXPECT_EQ(claims.code(), EKEYREJECTED) << to;
    EXPECT_NE(claims.status().message().find("does not verify"), std::string::npos)
        << claims.status().message();
  }
}

TEST_F(PassportTest, TamperedSignatureIsRejected) {
  const std::string text = Issue(Claims());
  const size_t at = text.find("\"signature\":\"") + 13;
  std::string tampered = text;
  tampered[at] = tampered[at] == 'A' ? 'B' : 'A';  // a first base64 digit carries 6 whole bits
  auto claims = Verify(tampered);
  EXPECT_EQ(claims.code(), EKEYREJECTED) << claims.status().ToString();

  Json j = Json::parse(text);
  j["signature"] = Base64Encode(std::string(63, 'x'));
  claims = Verify(j.dump());
  EXPECT_EQ(claims.code(), EKEYREJECTED);
  EXPECT_NE(claims.status().message().find("64"), std::string::npos) << claims.status().message();
}

TEST_F(PassportTest, AnotherKeysSignatureIsRejected) {
  auto other = NodeKey::Generate();
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(trust_.Add(other->public_key()).ok());
  // Signed by `other`, presented as signed by key_.
  const std::string forged = Replace(Issue(Claims(), &*other), other->key_id(), key_->key_id());
  auto claims = Verify(forged);
  EXPECT_EQ(claims.code(), EKEYREJECTED);
  EXPECT_NE(claims.status().message().find("does not verify"), std::string::npos);
  // Both keys trusted, each passport verifies under its own id.
  EXPECT_TRUE(Verify(Issue(Claims(), &*other)).ok());
}

TEST_F(PassportTest, UnknownKeyIdIsRejected) {
  auto other = NodeKey::Generate();
  ASSERT_TRUE(other.ok());
  auto claims = Verify(Issue(Claims(), &*other));
  EXPECT_EQ(claims.code(), EKEYREJECTED);
  EXPECT_NE(claims.status().message().find("unknown key id \"" + other->key_id() + "\""), std::string::npos)
      << claims.status().message();
}

TEST_F(PassportTest, ExpiresAtItsInstant) {
  const std::string text = Issue(Claims());
  const UnixNanos expiry = Claims().expires_at;
  EXPECT_TRUE(Verify(text, expiry - 1).ok());
  for (UnixNanos now : {expiry, expiry + 1, expiry + 86'400 * kSecond}) {
    auto claims = Verify(text, now);
    EXPECT_EQ(claims.code(), EKEYEXPIRED) << now;
    EXPECT_NE(claims.status().message().find("expired at 2026-12-06T10:45:00.000Z"), std::string::npos)
        << claims.status().message();
  }
}

TEST_F(PassportTest, IssuedInTheFutureBeyondTheSkewIsRejected) {
  const std::string text = Issue(Claims());
  EXPECT_TRUE(Verify(text, kT0 - kPassportClockSkew).ok());
  auto claims = Verify(text, kT0 - kPassportClockSkew - 1);
  EXPECT_EQ(claims.code(), EBADMSG);
  EXPECT_NE(claims.status().message().find("future"), std::string::npos) << claims.status().message();
}

TEST_F(PassportTest, RevocationCheckSeesTheClaimsAndDecides) {
  const std::string text = Issue(Claims());
  std::vector<PassportClaims> seen;
  auto not_revoked = [&](const PassportClaims& c) {
    seen.push_back(c);
    return Status::Ok();
  };
  EXPECT_TRUE(Verify(text, kT0 + kSecond, not_revoked).ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], Claims());

  auto revoked = [](const PassportClaims& c) {
    return Status::Error(EKEYREVOKED, "agent " + c.agent_id + " was deleted");
  };
  auto claims = Verify(text, kT0 + kSecond, revoked);
  EXPECT_EQ(claims.code(), EKEYREVOKED);
  EXPECT_NE(claims.status().message().find("revoked: agent helper was deleted"), std::string::npos)
      << claims.status().message();

  // The state the check needs is unavailable: refused, with that error.
  auto unavailable = [](const PassportClaims&) { return Status::Error(EAGAIN, "registry unavailable"); };
  claims = Verify(text, kT0 + kSecond, unavailable);
  EXPECT_EQ(claims.code(), EAGAIN);
  EXPECT_EQ(claims.status().message(), "registry unavailable");
}

TEST_F(PassportTest, RevocationIsAskedOnlyAboutAuthenticCurrentPassports) {
  const std::string text = Issue(Claims());
  int asked = 0;
  auto check = [&](const PassportClaims&) {
    ++asked;
    return Status::Error(EKEYREVOKED, "revoked");
  };
  EXPECT_EQ(Verify(Replace(text, "user:alice", "user:bob"), kT0, check).code(), EKEYREJECTED);
  EXPECT_EQ(Verify(text, Claims().expires_at, check).code(), EKEYEXPIRED);
  EXPECT_EQ(Verify(text, kT0 - 2 * kPassportClockSkew, check).code(), EBADMSG);
  EXPECT_EQ(asked, 0);
  EXPECT_EQ(Verify(text, kT0, check).code(), EKEYREVOKED);
  EXPECT_EQ(asked, 1);
}

TEST_F(PassportTest, MalformedPassportsAreRejectedWithoutThrowing) {
  const Json valid = Json::parse(Issue(Claims()));
  const std::vector<std::pair<const char*, std::function<void(Json&)>>> edits = {
      {"no claims", [](Json& j) { j.erase("claims"); }},
      {"claims not an object", [](Json& j) { j["claims"] = "x"; }},
      {"no key_id", [](Json& j) { j.erase("key_id"); }},
      {"key_id a number", [](Json& j) { j["key_id"] = 5; }},
      {"no signature", [](Json& j) { j.erase("signature"); }},
      {"signature an array", [](Json& j) { j["signature"] = Json::array(); }},
      {"signature not base64", [](Json& j) { j["signature"] = "not base64!"; }},
      {"signature unpadded", [](Json& j) { j["signature"] = "Zg"; }},
      {"no agent_id", [](Json& j) { j["claims"].erase("agent_id"); }},
      {"no owner", [](Json& j) { j["claims"].erase("owner"); }},
      {"no node", [](Json& j) { j["claims"].erase("node"); }},
      {"no scopes", [](Json& j) { j["claims"].erase("scopes"); }},
      {"no issued_at", [](Json& j) { j["claims"].erase("issued_at"); }},
      {"no expires_at", [](Json& j) { j["claims"].erase("expires_at"); }},
      {"agent_id a number", [](Json& j) { j["claims"]["agent_id"] = 7; }},
      {"owner empty", [](Json& j) { j["claims"]["owner"] = ""; }},
      {"node null", [](Json& j) { j["claims"]["node"] = nullptr; }},
      {"scopes a string", [](Json& j) { j["claims"]["scopes"] = "/proj/*"; }},
      {"scopes of numbers",
       [](Json& j) {
         j["claims"]["scopes"] = Json::array({1, 2});
       }},
      {"time without milliseconds", [](Json& j) { j["claims"]["issued_at"] = "2026-12-06T09:45:00Z"; }},
      {"time with an offset", [](Json& j) { j["claims"]["issued_at"] = "2026-12-06T10:45:00.000+01:00"; }},
      {"time with a space", [](Json& j) { j["claims"]["issued_at"] = "2026-12-06 09:45:00.000Z"; }},
      {"time a number", [](Json& j) { j["claims"]["expires_at"] = 1796553900000; }},
      {"year 9999", [](Json& j) { j["claims"]["expires_at"] = "9999-12-31T23:59:59.999Z"; }},
      {"year 1", [](Json& j) { j["claims"]["issued_at"] = "0001-01-01T00:00:00.000Z"; }},
      {"leap second", [](Json& j) { j["claims"]["issued_at"] = "2026-12-06T09:44:60.000Z"; }},
      {"expires at issue", [](Json& j) { j["claims"]["expires_at"] = j["claims"]["issued_at"]; }},
      {"extra claim", [](Json& j) { j["claims"]["admin"] = true; }},
  };
  for (const auto& [name, edit] : edits) {
    Json j = valid;
    edit(j);
    auto claims = Verify(j.dump());
    EXPECT_EQ(claims.code(), EBADMSG) << name << ": " << claims.status().ToString();
    EXPECT_EQ(claims.status().message().rfind("malformed passport: ", 0), 0u) << claims.status().message();
  }
  for (const std::string& text : {std::string(), std::string("not json"), std::string("[]"),
                                  std::string("null"), std::string("{\"claims\":"), std::string("{}"),
                                  std::string("{\"claims\":{}} trailing"), std::string(70'000, ' ')}) {
    auto claims = Verify(text);
    EXPECT_EQ(claims.code(), EBADMSG) << text.substr(0, 40) << ": " << claims.status().ToString();
  }
}

TEST_F(PassportTest, OnlyTheClaimsAreSigned) {
  const Json valid = Json::parse(Issue(Claims()));
  // Layout and members outside the claims do not matter.
  Json j = valid;
  j["comment"] = "shown to the user";
  auto claims = Verify(j.dump(2));
  EXPECT_TRUE(claims.ok()) << claims.status().ToString();
}

TEST_F(PassportTest, CanonicalClaimsAreStable) {
  const std::string canonical = CanonicalClaimsJson(Claims());
  EXPECT_EQ(canonical,
            "{\"agent_id\":\"helper\",\"expires_at\":\"2026-12-06T10:45:00.000Z\","
            "\"issued_at\":\"2026-12-06T09:45:00.000Z\",\"node\":\"node-a\",\"owner\":\"user:alice\","
            "\"scopes\":[\"/proj/*\",\"ipc\"]}");
  // The passport carries exactly the signed bytes, and parsing them back
  // gives the same bytes again.
  const std::string text = Issue(Claims());
  EXPECT_EQ(text.rfind("{\"claims\":" + canonical + ",\"key_id\":", 0), 0u) << text;
  auto claims = Verify(text);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(CanonicalClaimsJson(*claims), canonical);

  PassportClaims odd = Claims();
  odd.agent_id = "a\"b\\c\n\t\x01\x1f/\xc3\xa9\x7f";
  odd.scopes.clear();
  const std::string odd_canonical = CanonicalClaimsJson(odd);
  EXPECT_NE(odd_canonical.find("\"agent_id\":\"a\\\"b\\\\c\\n\\t\\u0001\\u001f/\xc3\xa9\x7f\""),
            std::string::npos)
      << odd_canonical;
  EXPECT_NE(odd_canonical.find("\"scopes\":[]}"), std::string::npos) << odd_canonical;
  claims = Verify(Issue(odd));
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ(*claims, odd);
  EXPECT_EQ(CanonicalClaimsJson(*claims), odd_canonical);
}

TEST_F(PassportTest, ParsePublicKeyTakesBase64AndPem) {
  const std::string base64 = key_->PublicKeyBase64();
  EXPECT_EQ(base64.size(), 44u);
  auto raw = ParsePublicKey(base64);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_EQ(*raw, key_->public_key());
  raw = ParsePublicKey("  " + base64 + "\n");
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(*raw, key_->public_key());

  auto pem = key_->PublicKeyPem();
  ASSERT_TRUE(pem.ok()) << pem.status().ToString();
  EXPECT_EQ(pem->rfind("-----BEGIN PUBLIC KEY-----\n", 0), 0u) << *pem;
  raw = ParsePublicKey(*pem);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_EQ(*raw, key_->public_key());

  for (const std::string& bad : {std::string(), std::string("abc"), Base64Encode(std::string(31, 'k')),
                                 Base64Encode(std::string(33, 'k')), base64.substr(0, 43) + "\n=",
                                 std::string("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
                                 X25519Pem(false), X25519Pem(true)}) {
    auto parsed = ParsePublicKey(bad);
    EXPECT_EQ(parsed.code(), EINVAL) << bad;
  }
  auto x25519 = ParsePublicKey(X25519Pem(false));
  EXPECT_NE(x25519.status().message().find("not an Ed25519 key"), std::string::npos)
      << x25519.status().message();
}

TEST_F(PassportTest, TrustSetAddsFindsAndRemoves) {
  EXPECT_EQ(trust_.size(), 1u);
  auto id = trust_.Add(key_->public_key());  // again: no-op
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, key_->key_id());
  EXPECT_EQ(trust_.size(), 1u);
  EXPECT_EQ(trust_.Find(key_->key_id()), key_->public_key());
  EXPECT_EQ(trust_.Find("0000000000000000"), std::nullopt);
  EXPECT_EQ(trust_.Add(std::string(31, 'k')).code(), EINVAL);

  auto other = NodeKey::Generate();
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(trust_.Add(other->public_key()).ok());
  std::vector<std::string> ids = {key_->key_id(), other->key_id()};
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(trust_.KeyIds(), ids);

  const std::string text = Issue(Claims());
  EXPECT_TRUE(Verify(text).ok());
  EXPECT_TRUE(trust_.Remove(key_->key_id()));
  EXPECT_FALSE(trust_.Remove(key_->key_id()));
  EXPECT_EQ(Verify(text).code(), EKEYREJECTED);
}

TEST_F(PassportTest, VerifiesWhileTheTrustSetChanges) {
  const std::string text = Issue(Claims());
  auto other = NodeKey::Generate();
  ASSERT_TRUE(other.ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> verifiers;
  for (int t = 0; t < 3; ++t)
    verifiers.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        if (!Verify(text).ok()) ++failures;
    });
  for (int i = 0; i < 200; ++i) {
    EXPECT_TRUE(trust_.Add(other->public_key()).ok());
    EXPECT_TRUE(trust_.Remove(other->key_id()));
  }
  for (auto& t : verifiers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

class NodeKeyTest : public ::testing::Test {
 protected:
  std::string Path() const { return dir_.path() + "/node.key"; }
  testing::TempDir dir_;
};

TEST_F(NodeKeyTest, CreatedPrivateAndReloadedWithTheSameId) {
  auto created = NodeKey::LoadOrCreate(Path());
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  struct stat st;
  ASSERT_EQ(::stat(Path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto pem = ReadTextFile(Path(), "key");
  ASSERT_TRUE(pem.ok());
  EXPECT_EQ(pem->rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);

  EXPECT_EQ(created->public_key().size(), kEd25519PublicKeyBytes);
  EXPECT_EQ(created->key_id(), KeyIdOf(created->public_key()));
  EXPECT_EQ(created->key_id(), Sha256Hex(created->public_key()).substr(0, 16));

  auto loaded = NodeKey::LoadOrCreate(Path());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->key_id(), created->key_id());
  EXPECT_EQ(loaded->public_key(), created->public_key());
  EXPECT_EQ(ReadTextFile(Path(), "key").value(), *pem);  // not rewritten

  // What the reloaded key signs verifies against the first one's public key.
  TrustSet trust;
  ASSERT_TRUE(trust.Add(created->public_key()).ok());
  PassportClaims c{"helper", "user:alice", "node-a", {}, kT0, kT0 + kSecond};
  auto text = IssuePassport(*loaded, c);
  ASSERT_TRUE(text.ok());
  EXPECT_TRUE(VerifyPassport(*text, trust, kT0).ok());
}

TEST_F(NodeKeyTest, KeyOpenToGroupOrOthersIsRefused) {
  ASSERT_TRUE(NodeKey::LoadOrCreate(Path()).ok());
  for (mode_t mode : {0640, 0604, 0620, 0660}) {
    ASSERT_EQ(::chmod(Path().c_str(), mode), 0);
    auto key = NodeKey::LoadOrCreate(Path());
    EXPECT_EQ(key.code(), EACCES) << std::oct << mode;
    EXPECT_NE(key.status().message().find("chmod 600 " + Path()), std::string::npos)
        << key.status().message();
    EXPECT_NE(key.status().message().find(OctalMode(mode, 4)), std::string::npos) << key.status().message();
  }
  for (mode_t mode : {0600, 0400}) {
    ASSERT_EQ(::chmod(Path().c_str(), mode), 0);
    EXPECT_TRUE(NodeKey::LoadOrCreate(Path()).ok()) << std::oct << mode;
  }
}

TEST_F(NodeKeyTest, FileThatIsNoEd25519KeyIsRefused) {
  ASSERT_TRUE(WriteFileAtomic(Path(), "hello\n", 0600).ok());
  EXPECT_EQ(NodeKey::LoadOrCreate(Path()).code(), EINVAL);
  ASSERT_TRUE(WriteFileAtomic(Path(), X25519Pem(true), 0600).ok());
  auto key = NodeKey::LoadOrCreate(Path());
  EXPECT_EQ(key.code(), EINVAL);
  EXPECT_NE(key.status().message().find("not an Ed25519 private key"), std::string::npos)
      << key.status().message();
  EXPECT_EQ(NodeKey::LoadOrCreate(dir_.path() + "/missing/node.key").code(), ENOENT);
}

TEST_F(NodeKeyTest, GeneratedKeysDiffer) {
  auto a = NodeKey::Generate();
  auto b = NodeKey::Generate();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->key_id(), b->key_id());
  EXPECT_NE(a->public_key(), b->public_key());
}

}  // namespace
}  // namespace nexus
