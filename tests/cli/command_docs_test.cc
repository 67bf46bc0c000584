// What the CLI generates from its command table (cli/command_docs.h).
#include "cli/command_docs.h"

#include <gtest/gtest.h>

namespace nexus::cli {
namespace {

std::vector<Command> SmallTable() {
  auto none = [](Cli&, const Args&) { return kExitOk; };
  return {
      {{"status"}, {}, {}, "status", "Daemon status.", 0, 0, none},
      {{"versions", "history"}, {"--limit"}, {}, "versions history PATH", "History.\nMore.", 1, 1, none},
      {{"versions", "get"}, {"--version", "-o,--output"}, {"--raw"}, "versions get PATH", "Get.", 1, 1, none},
      {{"mcp", "profile", "list"}, {}, {}, "mcp profile list", "Profiles.", 0, 0, none},
  };
}

const std::vector<GlobalOption> kGlobals = {{"--socket", true}, {"--json", false}, {"-h,--help", false}};

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(BashCompletionTest, OffersEachLevelOfCommandWords) {
  std::string s = BashCompletion(SmallTable(), kGlobals);
  EXPECT_TRUE(Has(s, "    '') echo 'status versions mcp' ;;\n")) << s;
  EXPECT_TRUE(Has(s, "    'versions') echo 'history get' ;;\n")) << s;
  EXPECT_TRUE(Has(s, "    'mcp profile') echo 'list' ;;\n")) << s;
  EXPECT_TRUE(Has(s, "complete -o default -F _nexus nexus\n"));
}

TEST(BashCompletionTest, FlagsOfEachCommandAndWhichTakeAValue) {
  std::string s = BashCompletion(SmallTable(), kGlobals);
  EXPECT_TRUE(Has(s, "    'versions get') echo '--version -o --output --raw --json --help' ;;\n")) << s;
  EXPECT_TRUE(
      Has(s, "_nexus_value_flags() {\n  case $1 in\n    'versions get') echo '--version -o --output' ;;\n"))
      << s;
  EXPECT_TRUE(Has(s, "_nexus_globals='--socket --json -h --help'\n")) << s;
  EXPECT_TRUE(Has(s, "_nexus_global_value_flags='--socket'\n")) << s;
}

TEST(ManPageTest, EveryCommandWithItsHelp) {
  std::string m =
      ManPage(SmallTable(),
              "Global options:\n  --socket PATH   the socket\n                  (more)\n\nExit status: 0.\n",
              "1.2.3");
  EXPECT_EQ(m.rfind(".\\\"", 0), 0u);
  EXPECT_TRUE(Has(m, ".TH NEXUS 1 \"\" \"NexusFS 1.2.3\" \"User Commands\"\n")) << m;
  EXPECT_TRUE(Has(m, ".TP\n.B nexus versions history PATH\nHistory.\nMore.\n")) << m;
  EXPECT_TRUE(Has(m, ".TP\n.B nexus mcp profile list\nProfiles.\n")) << m;
  EXPECT_TRUE(
      Has(m, ".SS Global options\n.TP\n.B \\-\\-socket PATH\nthe socket\n(more)\n.PP\nExit status: 0.\n"))
      << m;
}

TEST(ManPageTest, TextCannotBecomeARequest) {
  auto none = [](Cli&, const Args&) { return kExitOk; };
  std::vector<Command> table = {{{"x"}, {}, {}, "x", ".so /etc/passwd\n'\\\" y\na\\b", 0, 0, none}};
  std::string m = ManPage(table, "", "1");
  EXPECT_TRUE(Has(m, "\n\\&.so /etc/passwd\n\\&'\\e\" y\na\\eb\n")) << m;
}

}  // namespace
}  // namespace nexus::cli
