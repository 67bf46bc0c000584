// The readiness file: DATA_DIR/nexusd.ready, written by nexusd once it
// serves (the control socket accepts and the FUSE mount is up, the moment
// `nexus status` starts reporting `ready`) and removed when it stops
// serving. It lets a script or `nexus ready` find a running daemon and its
// endpoints without a connection, e.g. after `nexus up`:
//
//   {"ready": true, "pid": 4242, "version": "0.9.0", "profile": "full",
//    "data_dir": "/srv/d", "mount": "/srv/mnt", "socket": "/srv/d/nexusd.sock",
//    "listen": "", "http": "127.0.0.1:2026", "since": "2026-12-07T13:20:00.000Z"}
//
// A daemon killed with SIGKILL leaves the file behind: readers check that
// `pid` is alive (the data-dir lock, nexusd.lock, holds the same pid).
//
// Threading: called from the daemon's main thread only.
#pragma once

#include <string>

#include "base/status.h"
#include "rpc/server/service.h"

namespace nexus {

// DATA_DIR/nexusd.ready.
std::string ReadinessFilePath(const std::string& data_dir);

// Writes the file for `info` atomically (mode 0644).
Status WriteReadinessFile(const DaemonInfo& info);

// Removes it; a missing file is fine.
void RemoveReadinessFile(const std::string& data_dir);

}  // namespace nexus
