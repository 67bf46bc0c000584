#include "workflows/workflow.h"

#include <gtest/gtest.h>

#include <ctime>

namespace nexus::workflows {
namespace {

// The guide's tag-incoming workflow (docs/workflows.md).
constexpr const char* kTagIncoming = R"(name: tag-incoming
version: "1.0"
description: Mark incoming files as processed
triggers:
  - type: file_write
    pattern: /workspace/inbox/*
actions:
  - name: mark-processed
    type: metadata
    metadata:
      workflow_status: processed
)";

TEST(ParseWorkflow, TheGuidesTagIncoming) {
  auto w = ParseWorkflow(kTagIncoming, "tag-incoming.yaml");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->name, "tag-incoming");
  EXPECT_EQ(w->version, "1.0");
  EXPECT_EQ(w->description, "Mark incoming files as processed");
  ASSERT_EQ(w->triggers.size(), 1u);
  EXPECT_EQ(w->triggers[0].type, TriggerType::kFileWrite);
  EXPECT_EQ(w->triggers[0].pattern, "/zone/local/inbox/*");
  EXPECT_EQ(w->triggers[0].line, 5);
  ASSERT_EQ(w->actions.size(), 1u);
  EXPECT_EQ(w->actions[0].name, "mark-processed");
  EXPECT_EQ(w->actions[0].type, ActionType::kMetadata);
  EXPECT_EQ(w->actions[0].metadata.at("user.workflow_status"), "processed");
}

TEST(ParseWorkflow, EveryActionAndCondition) {
  auto w = ParseWorkflow(R"(name: all
triggers:
  - {type: file_create, pattern: "/data/**/*.csv"}
  - {type: file_delete, pattern: /data/*}
  - {type: file_rename, pattern: /data/*}
  - {type: schedule, cron: "*/5 9-17 * * 1-5"}
conditions:
  min_size: 1KB
  max_size: 2MiB
  mime_type: text/*
  path: "*.csv"
  metadata: {review: pending}
actions:
  - {type: tag, tags: [a, b]}
  - {type: copy, destination: /workspace/copies/}
  - {type: move, destination: "/done/{name}"}
  - {type: run, command: "gzip -k \"$NEXUS_FILE\"", timeout: 5}
  - {type: ipc, to: helper, message: "got {path}"}
  - {type: task, command: make}
)",
                         "all.yaml");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_EQ(w->triggers.size(), 4u);
  EXPECT_TRUE(w->triggers[3].cron.has_value());
  EXPECT_EQ(*w->conditions.min_size, 1024u);
  EXPECT_EQ(*w->conditions.max_size, 2u << 20);
  EXPECT_EQ(w->conditions.metadata.at("user.review"), "pending");
  ASSERT_EQ(w->actions.size(), 6u);
  EXPECT_EQ(w->actions[0].name, "tag-1");
  EXPECT_EQ(w->actions[0].tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(w->actions[1].destination, "/zone/local/copies/");
  EXPECT_EQ(w->actions[3].timeout_s, 5);
  EXPECT_EQ(w->actions[4].to, "helper");
  EXPECT_EQ(w->actions[5].type, ActionType::kTask);
}

// Each bad file is a usage error naming the line and the key.
TEST(ParseWorkflow, ErrorsNameTheLineAndTheKey) {
  struct Case {
    const char* yaml;
    const char* want;
  } cases[] = {
      {"name: x\ntrigers: []\n", "f.yaml:2: unknown key 'trigers'"},
      {"name: x\ntriggers:\n  - type: file_write\n    patern: /a\nactions: [{type: tag, tags: a}]\n",
       "f.yaml:4: unknown key 'patern' in a trigger"},
      {"name: x\ntriggers:\n  - type: file_write\n    pattern: /a/[bc\nactions: [{type: tag, tags: a}]\n",
       "f.yaml:4: bad pattern in 'pattern'"},
      {"name: x\ntriggers:\n  - type: file_write\n    pattern: a/*\nactions: [{type: tag, tags: a}]\n",
       "f.yaml:4: 'pattern' must be an absolute path glob"},
      {"name: x\ntriggers:\n  - {type: schedule, cron: '61 * * * *'}\nactions: [{type: tag, tags: a}]\n",
       "f.yaml:3: bad cron expression in 'cron': minute field '61'"},
      {"name: x\ntriggers:\n  - {type: schedule, cron: '* * *'}\nactions: [{type: tag, tags: a}]\n",
       "has 3 fields"},
      {"name: x\ntriggers:\n  - {type: file_changed, pattern: /a}\nactions: [{type: tag, tags: a}]\n",
       "f.yaml:3: unknown trigger type 'file_changed'"},
      {"name: x\ntriggers: [{type: file_write, pattern: /a}]\nactions:\n  - type: move\n    dest: /b\n",
       "f.yaml:5: unknown key 'dest' in a move action"},
      {"name: x\ntriggers: [{type: file_write, pattern: /a}]\nactions:\n  - type: explode\n",
       "f.yaml:4: unknown action type 'explode'"},
      {"name: x\ntriggers: [{type: file_write, pattern: /a}]\n", "missing key 'actions'"},
      {"name: x\ntriggers: [{type: file_write, pattern: /a}]\nactions: []\n",
       "'actions' must be a list of at least one action"},
      {"name: ../x\ntriggers: [{type: file_write, pattern: /a}]\nactions: [{type: tag, tags: a}]\n",
       "f.yaml:1: 'name' must be"},
      {"name: x\ntriggers: [{type: file_write, pattern: /a}]\nconditions:\n  min_size: lots\n"
       "actions: [{type: tag, tags: a}]\n",
       "f.yaml:4: 'min_size': not a size"},
      {"name: x\ntriggers: [{type: file_write, pattern: /a}]\nconditions:\n  size: 3\n"
       "actions: [{type: tag, tags: a}]\n",
       "f.yaml:4: unknown key 'size' in conditions"},
      {"name: x\n  bad: [indent\n", "f.yaml:"},
      {"- a list\n", "f.yaml:1: a workflow file is a YAML mapping"},
      {"name: x\ntriggers: [{type: file_write, pattern: /a}]\nactions: [{type: run, command: x, timeout: "
       "-1}]\n",
       "'timeout' must be seconds"},
  };
  for (const auto& c : cases) {
    auto w = ParseWorkflow(c.yaml, "f.yaml");
    ASSERT_FALSE(w.ok()) << c.yaml;
    EXPECT_EQ(w.code(), EINVAL) << c.yaml;
    EXPECT_NE(w.status().message().find(c.want), std::string::npos)
        << "got: " << w.status().message() << "\nwant: " << c.want;
  }
}

TEST(Glob, Components) {
  struct Case {
    const char* pattern;
    const char* path;
    bool match;
  } cases[] = {
      {"/zone/local/inbox/*", "/zone/local/inbox/a.txt", true},
      {"/zone/local/inbox/*", "/zone/local/inbox/sub/a.txt", false},
      {"/zone/local/inbox/*", "/zone/local/inbox/.hidden", false},
      {"/data/**/*.csv", "/data/x.csv", true},
      {"/data/**/*.csv", "/data/a/b/x.csv", true},
      {"/data/**/*.csv", "/data/a/b/x.txt", false},
      {"/data/**", "/data/a/b", true},
      {"/a/[bc]?", "/a/cx", true},
      {"/a/[!bc]?", "/a/cx", false},
      {"*.txt", "/any/where/f.txt", true},
      {"*.txt", "/any/where/f.csv", false},
  };
  for (const auto& c : cases) EXPECT_EQ(GlobMatch(c.pattern, c.path), c.match) << c.pattern << " " << c.path;
  EXPECT_TRUE(CheckGlob("/a/*").ok());
  EXPECT_FALSE(CheckGlob("/a/[b").ok());
  EXPECT_FALSE(CheckGlob("/a/x**").ok());
  EXPECT_FALSE(CheckGlob("").ok());
  EXPECT_FALSE(CheckGlob("/a\\").ok());
}

int64_t Utc(int y, int mon, int d, int h, int m) {
  tm t{};
  t.tm_year = y - 1900;
  t.tm_mon = mon - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = m;
  return timegm(&t);
}

TEST(Cron, Fields) {
  // 2026-12-07 is a Monday.
  auto every5 = CronSchedule::Parse("*/5 * * * *");
  ASSERT_TRUE(every5.ok());
  EXPECT_TRUE(every5->Matches(Utc(2026, 12, 7, 10, 15)));
  EXPECT_FALSE(every5->Matches(Utc(2026, 12, 7, 10, 16)));
  auto office = CronSchedule::Parse("0 9-17 * * 1-5");
  ASSERT_TRUE(office.ok());
  EXPECT_TRUE(office->Matches(Utc(2026, 12, 7, 9, 0)));
  EXPECT_FALSE(office->Matches(Utc(2026, 12, 7, 18, 0)));
  EXPECT_FALSE(office->Matches(Utc(2026, 12, 6, 9, 0)));  // Sunday
  auto sunday = CronSchedule::Parse("30 2 * * 7");
  ASSERT_TRUE(sunday.ok());
  EXPECT_TRUE(sunday->Matches(Utc(2026, 12, 6, 2, 30)));
  // Both day fields restricted: either matches.
  auto either = CronSchedule::Parse("0 0 1 * 1");
  ASSERT_TRUE(either.ok());
  EXPECT_TRUE(either->Matches(Utc(2026, 12, 1, 0, 0)));  // the 1st, a Tuesday
  EXPECT_TRUE(either->Matches(Utc(2026, 12, 7, 0, 0)));  // a Monday
  EXPECT_FALSE(either->Matches(Utc(2026, 12, 8, 0, 0)));
  auto list = CronSchedule::Parse("1,2,10-12/2 * * 6 *");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->Matches(Utc(2026, 6, 3, 4, 12)));
  EXPECT_FALSE(list->Matches(Utc(2026, 6, 3, 4, 11)));
  EXPECT_FALSE(list->Matches(Utc(2026, 7, 3, 4, 12)));
  for (const char* bad : {"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
                          "5-1 * * * *", "*/0 * * * *", "a * * * *", "1,,2 * * * *"})
    EXPECT_FALSE(CronSchedule::Parse(bad).ok()) << bad;
}

TEST(Helpers, SizesDestinationsTags) {
  EXPECT_EQ(*ParseSize("10"), 10u);
  EXPECT_EQ(*ParseSize("1KB"), 1024u);
  EXPECT_EQ(*ParseSize("3 MiB"), 3u << 20);
  EXPECT_FALSE(ParseSize("1TB").ok());
  EXPECT_FALSE(ParseSize("KB").ok());
  EXPECT_EQ(DestinationFor("/out/", "/in/a.txt"), "/out/a.txt");
  EXPECT_EQ(DestinationFor("/out/{name}.done", "/in/a.txt"), "/out/a.txt.done");
  EXPECT_EQ(DestinationFor("/out/b.txt", "/in/a.txt"), "/out/b.txt");
  EXPECT_EQ(AddTags("", {"a", "b"}), "a,b");
  EXPECT_EQ(AddTags("b,c", {"a", "b"}), "b,c,a");
  EXPECT_EQ(NamespacePath("/workspace/x"), "/zone/local/x");
  EXPECT_EQ(NamespacePath("/workspace"), "/zone/local");
  EXPECT_EQ(NamespacePath("/workspaces/x"), "/workspaces/x");
}

}  // namespace
}  // namespace nexus::workflows
