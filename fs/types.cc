#include "fs/types.h"

namespace nexus {

struct stat Attr::ToStat() const {
  struct stat st {};
  st.st_ino = ino;
  st.st_mode = mode;
  st.st_nlink = nlink;
  st.st_uid = uid;
  st.st_gid = gid;
  st.st_size = static_cast<off_t>(size);
  st.st_blocks = static_cast<blkcnt_t>(blocks);
  st.st_blksize = 4096;
  st.st_rdev = rdev;
  st.st_atim = atime;
  st.st_mtim = mtime;
  st.st_ctim = ctime;
  return st;
}

timespec NowTimespec() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

int64_t ToNanos(const timespec& ts) { return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec; }

timespec FromNanos(int64_t ns) {
  timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

}  // namespace nexus
