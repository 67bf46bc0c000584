// Small whole-file helpers for configuration, keys and state files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace nexus {

// Reads a whole (small) file; errors name `what` (e.g. "--tls-cert") and
// the path.
Result<std::string> ReadTextFile(const std::string& path, const std::string& what);
// Reads descriptor `fd` from its offset to the end and closes it; errors
// name `what`.
Result<std::string> ReadAndClose(int fd, const std::string& what);

// Writes `data` to `path` atomically (temp file + rename) with `mode`.
Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode);

// pwrite/pread of exactly `data.size()` / `len` bytes at `offset`, resuming
// after short transfers and EINTR. Errors name `what`; reading past the end
// of the file is EIO.
Status PwriteAll(int fd, std::string_view data, uint64_t offset, std::string_view what);
Status PreadAll(int fd, void* buf, size_t len, uint64_t offset, std::string_view what);

// Copies all of descriptor `src` to `dst` (both from offset 0), in the
// kernel (copy_file_range, which shares extents on filesystems that can)
// when it can, else through a buffer.
Status CopyFileContent(int src, int dst);

// Makes `dst` share all of `src`'s extents (FICLONE): O(1) in the data
// size, on filesystems with reflinks (XFS, btrfs). EOPNOTSUPP (or EXDEV,
// EINVAL) where they cannot; never copies.
Status CloneFileContent(int src, int dst);

}  // namespace nexus
