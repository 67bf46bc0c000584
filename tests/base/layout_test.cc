#include "base/layout.h"

#include <gtest/gtest.h>

namespace nexus::layout {
namespace {

TEST(AgentLayoutTest, HomeAndOwner) {
  EXPECT_EQ(AgentHome("scout"), "/agents/scout");
  EXPECT_EQ(AgentOf("/agents/scout"), "scout");
  EXPECT_EQ(AgentOf("/agents/scout/inbox/m1"), "scout");
  EXPECT_EQ(AgentOf("/agents"), "");
  EXPECT_EQ(AgentOf("/agents/"), "");
  EXPECT_EQ(AgentOf("/agentsx/scout"), "");
  EXPECT_EQ(AgentOf("/zone/agents/scout"), "");
}

TEST(AgentLayoutTest, StructureIsTheDirsHomesRecordsAndMailboxFolders) {
  for (const char* p : {"/agents", "/agents/scout", "/agents/scout/AGENT.json", "/agents/scout/inbox",
                        "/agents/scout/processed", "/agents/scout/dead_letter"})
    EXPECT_TRUE(IsAgentStructure(p)) << p;
  for (const char* p :
       {"/", "/agentsx", "/agents/scout/inbox/m1", "/agents/scout/notes", "/agents/scout/inbox/AGENT.json",
        "/zone/agents/scout/inbox", "/agents/scout/AGENT.jsonx"})
    EXPECT_FALSE(IsAgentStructure(p)) << p;
}

TEST(AgentLayoutTest, RecordIsOnlyTheHomesOwn) {
  EXPECT_TRUE(IsAgentRecord("/agents/scout/AGENT.json"));
  EXPECT_FALSE(IsAgentRecord("/agents/scout/inbox/AGENT.json"));
  EXPECT_FALSE(IsAgentRecord("/agents/AGENT.json"));
  EXPECT_FALSE(IsAgentRecord("/AGENT.json"));
}

}  // namespace
}  // namespace nexus::layout
