// FuseMount's stop, on a real mount (needs root and /dev/fuse; skipped
// otherwise): once the loop has ended nobody answers requests, and a cache
// notification must not wait behind one.
#include "fs/fuse_session.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "fs/namespace.h"
#include "fs/native_backend.h"
#include "tests/fs/test_util.h"
#include "tests/temp_dir.h"

namespace nexus {
namespace {

using namespace std::chrono_literals;

TEST(FuseMountTest, AnInvalidationAfterTheLoopEndedDoesNotWaitForAStuckRequest) {
  if (::geteuid() != 0 || ::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "needs root and /dev/fuse";
  testing::TempDir data, mnt;  // outlive the mount
  testing::RecordingSink sink;
  NativeBackend::Options o;
  o.data_dir = data.path();
  o.sink = &sink;
  auto backend = NativeBackend::Open(o);
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  Namespace ns(backend->get());
  FuseContext ctx;
  ctx.ns = &ns;
  ctx.mountpoint = mnt.path();
  FuseMount::Options mo;
  mo.mountpoint = mnt.path();
  auto mount = FuseMount::Create(&ctx, mo);
  if (!mount.ok()) GTEST_SKIP() << "cannot mount here: " << mount.status().ToString();
  std::thread serve([m = mount->get()] { (void)m->Serve(); });

  const std::string dir = mnt.path() + "/d";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << std::strerror(errno);
  struct stat mst, dst;
  ASSERT_EQ(::stat(mnt.path().c_str(), &mst), 0);
  ASSERT_EQ(::stat(dir.c_str(), &dst), 0);
  const std::string abort_path = "/sys/fs/fuse/connections/" + std::to_string(minor(mst.st_dev)) + "/abort";
  (*mount)->RequestStop();
  serve.join();

  // A process creates a name in d: the kernel holds d's lock while the
  // request waits, and nobody will answer it.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // exec: the session's fd (close-on-exec) must not live on in the child
    const std::string x = dir + "/x";
    ::execl("/usr/bin/touch", "touch", x.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::this_thread::sleep_for(300ms);  // the child is in the kernel, holding d's lock

  auto invalidated = std::async(std::launch::async, [&] { (*mount)->InvalidateEntry(dst.st_ino, "x"); });
  const bool returned = invalidated.wait_for(5s) == std::future_status::ready;
  EXPECT_TRUE(returned) << "the invalidation waited for a request nobody answers";
  if (!returned) {  // free the test: an aborted connection fails the child's request
    if (std::ofstream abort(abort_path); abort) {
      abort << "1";
    } else {
      ::umount2(mnt.path().c_str(), MNT_FORCE);
    }
  }
  invalidated.wait();
  EXPECT_TRUE((*mount)->IncrementEpoch().ok());  // nothing to revalidate on a stopped mount
  mount->reset();                                // unmounts: the child's request fails
  ::waitpid(child, nullptr, 0);
  ::umount2(mnt.path().c_str(), MNT_DETACH);  // left mounted only if the test failed
}

}  // namespace
}  // namespace nexus
