// ToolProfiles: the built-in matrix, inheritance, the operator file and the
// errors that fail a daemon's start.
#include "perms/tool_profiles.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "base/file_util.h"
#include "tests/fs/test_util.h"

namespace nexus {
namespace {

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(ToolProfilesTest, BuiltinMatrixInherits) {
  auto tp = ToolProfiles::Load();
  ASSERT_TRUE(tp.ok()) << tp.status().ToString();
  EXPECT_EQ(tp->source(), "built-in");
  EXPECT_EQ(tp->default_profile(), "minimal");
  std::vector<std::string> minimal = {"nexus_file_info", "nexus_glob", "nexus_list_files", "nexus_read_file"};
  EXPECT_EQ(tp->Find("minimal")->all_tools, minimal);
  EXPECT_EQ(tp->default_tools(), minimal);
  auto search = minimal;
  search.insert(search.end(), {"nexus_grep", "nexus_semantic_search"});
  EXPECT_EQ(tp->Find("search")->all_tools, Sorted(search));
  const auto& coding = tp->Find("coding")->all_tools;
  EXPECT_EQ(coding.size(), 16u);
  EXPECT_TRUE(std::binary_search(coding.begin(), coding.end(), "nexus_read_file"));
  EXPECT_TRUE(std::binary_search(coding.begin(), coding.end(), "nexus_ipc_inbox"));
  EXPECT_FALSE(std::binary_search(coding.begin(), coding.end(), "nexus_semantic_search"));
  const auto& execution = tp->Find("execution")->all_tools;
  EXPECT_EQ(execution.size(), 21u);
  EXPECT_TRUE(std::includes(execution.begin(), execution.end(), coding.begin(), coding.end()));
  const auto& full = tp->Find("full")->all_tools;
  EXPECT_EQ(full.size(), 26u);
  EXPECT_TRUE(std::includes(full.begin(), full.end(), execution.begin(), execution.end()));
  EXPECT_TRUE(std::binary_search(full.begin(), full.end(), "nexus_hub_admin"));
  // Every tool of every profile is known; full has them all here.
  EXPECT_EQ(tp->known_tools().size(), 27u);  // full and nexus_semantic_search
  EXPECT_EQ(tp->ProfileWithTools(coding), "coding");
  EXPECT_EQ(tp->ProfileWithTools({"nexus_glob"}), "");
  ASSERT_EQ(tp->profiles().size(), 5u);
  EXPECT_EQ(tp->profiles()[0].name, "minimal");
  EXPECT_EQ(tp->Find("coding")->inherits, std::vector<std::string>{"minimal"});
}

TEST(ToolProfilesTest, DefaultProfileNoneAndUnknown) {
  auto none = ToolProfiles::Load("", "none");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->default_tools().empty());
  auto bad = ToolProfiles::Load("", "nosuch");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("nosuch"), std::string::npos);
}

TEST(ToolProfilesTest, OperatorFileAddsAndRedefines) {
  testing::TempDir dir;
  const std::string file = dir.path() + "/profiles.yaml";
  ASSERT_TRUE(WriteFileAtomic(file,
                              "profiles:\n"
                              "  - name: minimal\n"
                              "    description: just reading\n"
                              "    tools: [nexus_read_file]\n"
                              "  - name: reviewer\n"
                              "    description: reads and comments\n"
                              "    inherits: [search]\n"
                              "    tools: [team_comment]\n",
                              0644)
                  .ok());
  auto tp = ToolProfiles::Load(file, "reviewer");
  ASSERT_TRUE(tp.ok()) << tp.status().ToString();
  EXPECT_EQ(tp->source(), "built-in + " + file);
  EXPECT_EQ(tp->Find("minimal")->all_tools, std::vector<std::string>{"nexus_read_file"});
  EXPECT_EQ(tp->Find("minimal")->description, "just reading");
  // Redefining minimal changes what inherits it.
  EXPECT_EQ(tp->Find("search")->all_tools,
            (std::vector<std::string>{"nexus_grep", "nexus_read_file", "nexus_semantic_search"}));
  EXPECT_EQ(
      tp->Find("reviewer")->all_tools,
      (std::vector<std::string>{"nexus_grep", "nexus_read_file", "nexus_semantic_search", "team_comment"}));
  EXPECT_EQ(tp->profiles().back().name, "reviewer");
  EXPECT_EQ(tp->default_tools(), tp->Find("reviewer")->all_tools);
}

struct BadCase {
  const char* name;
  const char* yaml;
  const char* message;  // a part of the error
};

class ToolProfilesBadTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ToolProfilesBadTest, FailsNamingFileAndProblem) {
  auto tp = ToolProfiles::LoadText(GetParam().yaml, "/etc/nexus/tools.yaml");
  ASSERT_FALSE(tp.ok());
  EXPECT_EQ(tp.status().code(), EINVAL);
  EXPECT_NE(tp.status().message().find("/etc/nexus/tools.yaml"), std::string::npos) << tp.status().message();
  EXPECT_NE(tp.status().message().find(GetParam().message), std::string::npos) << tp.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ToolProfilesBadTest,
    ::testing::Values(
        BadCase{"yaml", "profiles: [name: {", "bad YAML"}, BadCase{"no_list", "profile: []", "profiles:"},
        BadCase{"unknown_parent", "profiles:\n  - name: a\n    inherits: [nosuch]\n",
                "unknown profile nosuch"},
        BadCase{"cycle", "profiles:\n  - name: a\n    inherits: [b]\n  - name: b\n    inherits: [a]\n",
                "cycle: a -> b -> a"},
        BadCase{"self_cycle", "profiles:\n  - name: a\n    inherits: [a]\n", "cycle"},
        BadCase{"bad_tool", "profiles:\n  - name: a\n    tools: [\"has space\"]\n", "invalid tool id"},
        BadCase{"bad_tool_slash", "profiles:\n  - name: a\n    tools: [a/b]\n", "invalid tool id"},
        BadCase{"twice", "profiles:\n  - name: a\n  - name: a\n", "defined twice"},
        BadCase{"unknown_key", "profiles:\n  - name: a\n    tool: [x]\n", "unknown profile key"},
        BadCase{"none_name", "profiles:\n  - name: none\n", "invalid profile name"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ToolProfilesTest, MissingFileNamesIt) {
  auto tp = ToolProfiles::Load("/nonexistent/tools.yaml");
  ASSERT_FALSE(tp.ok());
  EXPECT_NE(tp.status().message().find("/nonexistent/tools.yaml"), std::string::npos);
}

}  // namespace
}  // namespace nexus
