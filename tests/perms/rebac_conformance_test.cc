// Runs every YAML case file in tests/perms/conformance/ against a fresh
// RebacEngine. The format is OpenFGA's test format (tests → stages → tuples,
// checkAssertions, listObjectsAssertions) with our fixed model; see
// docs/rebac.md for the fields we add (now, at, expires_at, ttl, zone).
#include <time.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <gtest/gtest.h>

#include "perms/rebac.h"
#include "tests/fs/test_util.h"

namespace nexus {
namespace {

// Every stage must name this model: the engine has one fixed model, so a
// file written for another one fails instead of being skipped.
constexpr std::string_view kModelName = "nexusfs-rebac-v1";
constexpr UnixNanos kDefaultNow = 1'767'225'600'000'000'000;  // 2026-01-01T00:00:00Z

std::vector<std::string> CaseFiles() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(NEXUS_REBAC_CONFORMANCE_DIR)) {
    if (e.path().extension() == ".yaml") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// "2026-01-01T00:00:00Z" (UTC only).
UnixNanos ParseTime(const std::string& s) {
  struct tm tm {};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  EXPECT_TRUE(end && *end == '\0') << "bad time \"" << s << "\" (want YYYY-MM-DDTHH:MM:SSZ)";
  return static_cast<UnixNanos>(timegm(&tm)) * 1'000'000'000;
}

class Runner {
 public:
  explicit Runner(const std::string& dir) : dir_(dir) {}

  void Run(const YAML::Node& test) {
    RebacOptions options;
    options.clock = &clock_;
    auto engine = RebacEngine::Open(dir_ + "/rebac.db", options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    clock_.Set(kDefaultNow);
    ASSERT_TRUE(test["stages"].IsSequence()) << "a test needs stages";
    for (const auto& stage : test["stages"]) Stage(stage);
  }
  int assertions() const { return assertions_; }

 private:
  void Stage(const YAML::Node& stage) {
    ASSERT_TRUE(stage["model"]) << "a stage must name its model";
    ASSERT_EQ(stage["model"].as<std::string>(), kModelName);
    if (stage["now"]) clock_.Set(ParseTime(stage["now"].as<std::string>()));
    std::vector<Tuple> adds;
    for (const auto& y : stage["tuples"]) {
      auto t = Tuple::Parse(y["user"].as<std::string>() + "#" + y["relation"].as<std::string>() + "@" +
                            y["object"].as<std::string>());
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      if (y["expires_at"]) t->expires_at = ParseTime(y["expires_at"].as<std::string>());
      if (y["ttl"]) t->expires_at = clock_.Now() + y["ttl"].as<int64_t>() * 1'000'000'000;
      if (y["zone"]) t->zone = y["zone"].as<std::string>();
      adds.push_back(std::move(*t));
    }
    if (!adds.empty()) {
      auto rev = engine_->WriteUnchecked(std::move(adds), {});
      ASSERT_TRUE(rev.ok()) << rev.status().ToString();
    }
    const UnixNanos stage_now = clock_.Now();
    for (const auto& a : stage["checkAssertions"]) {
      clock_.Set(a["at"] ? ParseTime(a["at"].as<std::string>()) : stage_now);
      const auto& q = a["tuple"];
      auto user = q["user"].as<std::string>(), rel = q["relation"].as<std::string>(),
           obj = q["object"].as<std::string>();
      auto got = engine_->Check(user, rel, obj);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(*got, a["expectation"].as<bool>()) << "check " << user << " " << rel << " " << obj
                                                   << (a["at"] ? " at " + a["at"].as<std::string>() : "");
      ++assertions_;
    }
    for (const auto& a : stage["listObjectsAssertions"]) {
      clock_.Set(a["at"] ? ParseTime(a["at"].as<std::string>()) : stage_now);
      const auto& q = a["request"];
      auto type = ParseObjectType(q["type"].as<std::string>());
      ASSERT_TRUE(type.ok()) << type.status().ToString();
      auto got = engine_->ListObjects(q["relation"].as<std::string>(), q["user"].as<std::string>(), *type);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      auto want = a["expectation"].as<std::vector<std::string>>(std::vector<std::string>{});
      std::sort(want.begin(), want.end());
      EXPECT_EQ(*got, want) << "listObjects " << q["user"].as<std::string>() << " "
                            << q["relation"].as<std::string>() << " " << q["type"].as<std::string>();
      ++assertions_;
    }
    clock_.Set(stage_now);
  }

  std::string dir_;
  ManualClock clock_;
  std::unique_ptr<RebacEngine> engine_;
  int assertions_ = 0;
};

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, File) {
  YAML::Node root = YAML::LoadFile(GetParam());
  ASSERT_TRUE(root["tests"].IsSequence()) << GetParam() << ": needs a tests: list";
  int total = 0;
  for (const auto& test : root["tests"]) {
    std::string name = test["name"].as<std::string>("");
    SCOPED_TRACE(name);
    ASSERT_FALSE(name.empty()) << "every test needs a name";
    testing::TempDir dir;
    Runner runner(dir.path());
    runner.Run(test);
    if (HasFatalFailure()) return;
    EXPECT_GT(runner.assertions(), 0) << name << " asserts nothing";
    total += runner.assertions();
  }
  RecordProperty("assertions", total);
}

INSTANTIATE_TEST_SUITE_P(Yaml, Conformance, ::testing::ValuesIn(CaseFiles()), [](const auto& info) {
  std::string s = std::filesystem::path(info.param).stem().string();
  for (char& c : s) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return s;
});

TEST(ConformanceDir, CoversTheModel) {
  // The files every part of the model is exercised by.
  std::vector<std::string> names;
  for (const auto& f : CaseFiles()) names.push_back(std::filesystem::path(f).stem().string());
  for (const char* want :
       {"direct", "inheritance", "groups", "expiry", "public", "depth_limit", "zones", "agents"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want << ".yaml";
  }
}

}  // namespace
}  // namespace nexus
