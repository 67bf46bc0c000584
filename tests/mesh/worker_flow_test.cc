// The director and the worker's runner together, as a worker's loop would
// drive them: placement, start, a sandboxed run whose periodic callback
// keeps the lease alive, completion with the files the command produced.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "mesh/director.h"
#include "mesh/memory_store.h"
#include "mesh/task_runner.h"
#include "tests/fs/test_util.h"

namespace nexus::mesh {
namespace {

using namespace std::chrono_literals;

TEST(WorkerFlowTest, PlacedTaskRunsSandboxedAndReportsItsResult) {
  if (Status probe = TaskRunner::Probe(); !probe.ok())
    GTEST_SKIP() << "bubblewrap cannot create a sandbox in this environment: " << probe.ToString();
  testing::TempDir dir;
  ManualClock clock;
  MemoryStore store(&clock);
  DirectorOptions options;
  options.registration_key = "reg";
  options.results_dir = dir.path() + "/results";
  auto director = Director::Open(&store, &clock, options);
  ASSERT_TRUE(director.ok());
  Director& d = **director;

  auto node = d.Register("reg", "worker-1", "10.0.0.1:7070", 2);
  ASSERT_TRUE(node.ok());
  ASSERT_TRUE(d.SetTrust(node->node_id, TrustTier::kTrusted).ok());
  TaskSpec spec{"build", "sleep 0.4; echo built > artifact.txt; echo done", "zone-a", TrustTier::kTrusted, 1,
                false};
  auto created = d.Create(spec, {"key", Submitter::kScopeSubmitTasks, 0});
  ASSERT_TRUE(created.ok());
  auto placed = d.Schedule(created->id);
  ASSERT_TRUE(placed.ok());
  ASSERT_EQ(placed->state, TaskState::kAssigned);
  const std::string token = placed->lease_token;
  ASSERT_TRUE(d.Start(placed->id, token).ok());

  // The worker side: the zone directory is where the command works.
  const std::string zone = dir.path() + "/zones/" + spec.zone;
  std::filesystem::create_directories(zone);
  TaskRunner::Options ro;
  ro.interval = 50ms;
  TaskRunner runner(ro, {spec.command, zone, spec.allow_network, {}});
  int extensions = 0;
  auto out = runner.Run([&] {
    // Each interval stands for 20 s of director time: without the
    // extension the 30 s lease would lapse after the second one.
    clock.Advance(20s);
    d.Tick(MeshNow(clock));
    if (d.Extend(placed->id, token, 30s).ok()) ++extensions;
    ASSERT_TRUE(d.Heartbeat(node->node_id, node->credential, 1, 1).ok());
  });
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_GE(extensions, 3);
  EXPECT_EQ(d.GetTask(placed->id)->state, TaskState::kRunning);

  std::ifstream in(zone + "/artifact.txt");
  std::stringstream artifact;
  artifact << in.rdbuf();
  EXPECT_EQ(artifact.str(), "built\n");
  auto done =
      d.Complete(placed->id, token,
                 {out->exit_code, out->stdout_data, out->stderr_data, {{"artifact.txt", artifact.str()}}});
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->state, TaskState::kSucceeded);
  EXPECT_EQ(*d.ReadResultFile(placed->id, "stdout"), "done\n");
  EXPECT_EQ(*d.ReadResultFile(placed->id, "files/artifact.txt"), "built\n");
}

}  // namespace
}  // namespace nexus::mesh
