#include "daemon/options.h"

#include <gtest/gtest.h>

#include "base/file_util.h"
#include "tests/fs/test_util.h"

namespace nexus {
namespace {

using Env = std::map<std::string, std::string>;

TEST(OptionsTest, FlagsAlone) {
  auto o = ParseDaemonOptions({"--data-dir", "d", "--mount=m", "--threads", "4", "--writeback-cache"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->data_dir, "d");
  EXPECT_EQ(o->mountpoint, "m");
  EXPECT_EQ(o->threads, 4u);
  EXPECT_TRUE(o->writeback_cache);
  EXPECT_EQ(o->profile, "full");
}

TEST(OptionsTest, ErrorsNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  } cases[] = {
      {{"--mount", "m"}, "data dir"},
      {{"--data-dir", "d"}, "mount point"},
      {{"--data-dir", "d", "--mount", "m", "--threads", "zero"}, "--threads"},
      {{"--data-dir", "d", "--mount", "m", "--bogus"}, "--bogus"},
      {{"--data-dir", "d", "--mount", "m", "--profile", "huge"}, "--profile"},
      {{"--data-dir", "d", "--mount", "m", "--listen", "127.0.0.1:1"}, "--tls-cert"},
      {{"--data-dir"}, "needs a value"},
  };
  for (const auto& c : cases) {
    auto o = ParseDaemonOptions(c.args);
    ASSERT_FALSE(o.ok()) << c.mentions;
    EXPECT_EQ(o.code(), EINVAL);
    EXPECT_NE(o.status().message().find(c.mentions), std::string::npos) << o.status().message();
  }
}

TEST(OptionsTest, ConfigEnvironmentAndFlagsInOrder) {
  testing::TempDir dir;
  std::string cfg = dir.path() + "/nexus.yaml";
  ASSERT_TRUE(WriteFileAtomic(cfg,
                              "data_dir: /from/file\n"
                              "mount: /mnt/file\n"
                              "threads: 8\n"
                              "http: 127.0.0.1:9000\n"
                              "profile: lite\n"
                              "tls:\n  cert: /c.pem\n  key: /k.pem\n"
                              "features:\n  locks: false\n",
                              0644)
                  .ok());
  auto o = ParseDaemonOptions({"--config", cfg, "--threads", "2"},
                              Env{{"NEXUS_MOUNT", "/mnt/env"}, {"NEXUS_HTTP", "127.0.0.1:9100"}});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->data_dir, "/from/file");
  EXPECT_EQ(o->mountpoint, "/mnt/env");  // env beats file
  EXPECT_EQ(o->http, "127.0.0.1:9100");
  EXPECT_EQ(o->threads, 2u);  // flag beats file
  EXPECT_EQ(o->profile, "lite");
  EXPECT_EQ(o->tls_cert, "/c.pem");
  EXPECT_FALSE(o->feature_overrides.at("locks"));
  // NEXUS_CONFIG names the file when --config does not.
  auto via_env = ParseDaemonOptions({}, Env{{"NEXUS_CONFIG", cfg}});
  ASSERT_TRUE(via_env.ok());
  EXPECT_EQ(via_env->mountpoint, "/mnt/file");
}

TEST(OptionsTest, ToolProfilesFromFlagsOrFile) {
  auto d = ParseDaemonOptions({"--data-dir", "d", "--mount", "m"});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->mcp_default_profile, "minimal");
  EXPECT_EQ(d->tool_profiles, "");
  auto o = ParseDaemonOptions(
      {"--data-dir", "d", "--mount", "m", "--tool-profiles", "/etc/p.yaml", "--mcp-default-profile", "none"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->tool_profiles, "/etc/p.yaml");
  EXPECT_EQ(o->mcp_default_profile, "none");
  testing::TempDir dir;
  std::string cfg = dir.path() + "/nexus.yaml";
  ASSERT_TRUE(
      WriteFileAtomic(cfg, "tool_profiles: /from/file.yaml\nmcp_default_profile: coding\n", 0644).ok());
  auto f = ParseDaemonOptions({"--config", cfg, "--data-dir", "d", "--mount", "m"});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->tool_profiles, "/from/file.yaml");
  EXPECT_EQ(f->mcp_default_profile, "coding");
}

TEST(OptionsTest, SecretReferencesReadFiles) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/secret", "/secret/dir\n", 0600).ok());
  auto o = ParseDaemonOptions({"--mount", "m"}, Env{{"NEXUS_DATA_DIR", "${file:" + dir.path() + "/secret}"}});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->data_dir, "/secret/dir");
  auto missing =
      ParseDaemonOptions({"--mount", "m"}, Env{{"NEXUS_DATA_DIR", "${file:" + dir.path() + "/none}"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("NEXUS_DATA_DIR"), std::string::npos);
}

TEST(OptionsTest, BadConfigNamesTheKey) {
  testing::TempDir dir;
  struct Case {
    std::string yaml, mentions;
  } cases[] = {
      {"data_dir: d\nmount: m\nthreads: lots\n", "'threads'"},
      {"data_dir: d\nmount: m\nunknown_key: 1\n", "'unknown_key'"},
      {"data_dir: d\nmount: m\nfeatures:\n  locks: maybe\n", "line 4 key 'features.locks'"},
      {"data_dir: d\nmount: m\nfeatures:\n  federation: [1]\n", "features.federation"},
      {"data_dir: d\n\nthreads: lots\n", "line 3 key 'threads'"},
      {"data_dir: d\nmount: m\ntls: yes\n", "'tls'"},
      {"data_dir: [unclosed\n", "config"},
      {"- a\n- b\n", "mapping"},
  };
  for (const auto& c : cases) {
    std::string cfg = dir.path() + "/bad.yaml";
    ASSERT_TRUE(WriteFileAtomic(cfg, c.yaml, 0644).ok());
    auto o = ParseDaemonOptions({"--config", cfg});
    ASSERT_FALSE(o.ok()) << c.yaml;
    EXPECT_EQ(o.code(), EINVAL);
    EXPECT_NE(o.status().message().find(c.mentions), std::string::npos) << o.status().message();
  }
}

TEST(OptionsTest, GuideFeatureNamesMapOrAreUnavailable) {
  testing::TempDir dir;
  std::string cfg = dir.path() + "/nexus.yaml";
  ASSERT_TRUE(WriteFileAtomic(cfg,
                              "profile: full\nfeatures:\n  agent_registry: false\n  permissions: true\n"
                              "  sandbox: false\n  workflows: false\n  mcp: true\n  federation: true\n"
                              "  llm: false\n  teleport: true\n",
                              0644)
                  .ok());
  auto o = ParseDaemonOptions({"--config", cfg, "--data-dir", "d", "--mount", "m"});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_FALSE(o->feature_overrides.at("agents"));
  EXPECT_TRUE(o->feature_overrides.at("rebac"));
  EXPECT_FALSE(o->feature_overrides.at("sandboxes"));
  EXPECT_EQ(o->feature_overrides.count("workflows"), 0u);
  ASSERT_EQ(o->unavailable_features.size(), 3u);
  EXPECT_TRUE(o->unavailable_features.at("federation").wanted);
  EXPECT_EQ(o->unavailable_features.at("federation").why.rfind("federation — ", 0), 0u);
  EXPECT_FALSE(o->unavailable_features.at("llm").wanted);
  EXPECT_EQ(o->unavailable_features.at("teleport").why.rfind("teleport — not a feature", 0), 0u);
  // workflows cannot be switched off: said, not silently dropped.
  ASSERT_EQ(o->config_warnings.size(), 1u);
  EXPECT_NE(o->config_warnings[0].find("workflows is always on"), std::string::npos);
  for (const GuideFeature& g : GuideFeatures()) {
    if (!g.ours) {
      EXPECT_EQ(std::string(g.why).rfind(std::string(g.name) + " — ", 0), 0u) << g.name;
    } else if (*g.ours) {
      const auto& all = ProfileFeatures("full");
      EXPECT_NE(std::find(all.begin(), all.end(), g.ours), all.end()) << g.name;
    }
  }
}

TEST(OptionsTest, ProfilesAreKnown) {
  for (const auto& p : ProfileNames()) EXPECT_FALSE(ProfileFeatures(p).empty()) << p;
  const auto& minimal = ProfileFeatures("minimal");
  EXPECT_EQ(std::find(minimal.begin(), minimal.end(), "locks"), minimal.end());
}

TEST(OptionsTest, FeaturesVersionsAndSearchOptions) {
  auto o = ParseDaemonOptions(
      {"--data-dir", "d", "--mount", "m", "--features", "versions=off,search", "--versions-commit-window-ms",
       "50", "--versions-keep-versions", "3", "--search-embeddings", "fasttext:/m.bin"},
      Env{{"NEXUS_VERSIONS_KEEP_DAYS", "7"}});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_FALSE(o->feature_overrides.at("versions"));
  EXPECT_TRUE(o->feature_overrides.at("search"));
  EXPECT_EQ(o->versions_commit_window_ms, 50);
  EXPECT_EQ(o->versions_keep_versions, 3u);
  EXPECT_EQ(o->versions_keep_days, 7u);
  EXPECT_EQ(o->search_embeddings, "fasttext:/m.bin");

  auto bad = ParseDaemonOptions({"--data-dir", "d", "--mount", "m", "--features", "warp=on"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("warp"), std::string::npos);
  EXPECT_FALSE(ParseDaemonOptions({"--features", "versions=maybe"}).ok());
  EXPECT_FALSE(ParseDaemonOptions({"--versions-keep-versions", "0"}).ok());
  EXPECT_FALSE(ParseDaemonOptions({"--search-embeddings", "ftp://x"}).ok());
}

TEST(OptionsTest, ADirectorNeedsItsRegistrationKey) {
  auto o = ParseDaemonOptions({"--data-dir", "d", "--mount", "m", "--director"},
                              Env{{"NEXUS_REGISTRATION_KEY", "k1"}});
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_TRUE(o->director);
  EXPECT_EQ(o->registration_key, "k1");
  auto missing = ParseDaemonOptions({"--data-dir", "d", "--mount", "m", "--director"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--registration-key"), std::string::npos);
  auto stray = ParseDaemonOptions({"--data-dir", "d", "--mount", "m", "--registration-key", "k"});
  ASSERT_FALSE(stray.ok());
  EXPECT_NE(stray.status().message().find("--director"), std::string::npos);
  auto node = ParseDaemonOptions({"--data-dir", "d", "--mount", "m", "--join", "h:1", "--worker",
                                  "--registration-key", "k", "--capacity", "3"});
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_TRUE(node->worker);
  EXPECT_EQ(node->capacity, 3u);
  EXPECT_FALSE(ParseDaemonOptions({"--data-dir", "d", "--mount", "m", "--join", "h:1"}).ok());
}

}  // namespace
}  // namespace nexus
