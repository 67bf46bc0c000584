#include "fs/versions/pack_store.h"

#include <fcntl.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>
#include <libdeflate.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <unordered_set>

#include "base/crypto.h"
#include "base/file_util.h"

namespace nexus::versions {
namespace {

namespace fs = std::filesystem;

constexpr size_t kPackHeader = 12;
constexpr size_t kSha = GIT_OID_RAWSZ;
constexpr size_t kReadChunk = 1 << 20;

// ---- small encoders ----

void PutBe32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xFF));
}
void PutBe64(std::string& out, uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xFF));
}
uint32_t GetBe32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint64_t GetBe64(const unsigned char* p) { return (uint64_t{GetBe32(p)} << 32) | GetBe32(p + 4); }

// A pack entry's header: type in bits 4-6 of the first byte, the size in
// its low 4 bits and then 7 bits per byte, little end first.
std::string EntryHeader(git_object_t type, uint64_t size) {
  std::string out;
  auto b = static_cast<unsigned char>((static_cast<unsigned>(type) << 4) | (size & 0x0F));
  size >>= 4;
  while (size != 0) {
    out.push_back(static_cast<char>(b | 0x80));
    b = static_cast<unsigned char>(size & 0x7F);
    size >>= 7;
  }
  out.push_back(static_cast<char>(b));
  return out;
}

// Parses an entry header from `p` (at most `n` bytes): false if malformed.
bool ParseEntryHeader(const unsigned char* p, size_t n, int* type, uint64_t* size, size_t* len) {
  if (n == 0) return false;
  *type = (p[0] >> 4) & 7;
  uint64_t s = p[0] & 0x0F;
  int shift = 4;
  size_t i = 0;
  while (p[i] & 0x80) {
    if (++i >= n || shift > 57) return false;
    s |= static_cast<uint64_t>(p[i] & 0x7F) << shift;
    shift += 7;
  }
  *size = s;
  *len = i + 1;
  return true;
}

bool IsPlainType(int type) { return type >= GIT_OBJECT_COMMIT && type <= GIT_OBJECT_TAG; }

Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
  if (fd < 0) return Status::FromErrno("open " + path);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::Error(err, "fsync " + path);
  return Status::Ok();
}

// Whole-buffer zlib streams by libdeflate: the same format zlib writes and
// git reads, at 1.6-2x zlib's speed for level 1 on source text (deflate was
// the capture path's largest user-space cost after SQLite). A compressor per thread
// (they are not thread-safe, and costly to make), kept for its level.
Result<std::string> Deflate(std::string_view data, int level) {
  struct Compressor {
    libdeflate_compressor* c = nullptr;
    int level = -1;
    ~Compressor() { libdeflate_free_compressor(c); }
  };
  thread_local Compressor tl;
  if (tl.level != level) {
    libdeflate_free_compressor(tl.c);
    tl.c = libdeflate_alloc_compressor(level);
    tl.level = tl.c ? level : -1;
    if (!tl.c) return Status::Error(EIO, "deflate: no compressor for level " + std::to_string(level));
  }
  std::string out(libdeflate_zlib_compress_bound(tl.c, data.size()), '\0');
  const size_t len = libdeflate_zlib_compress(tl.c, data.data(), data.size(), out.data(), out.size());
  if (len == 0) return Status::Error(EIO, "deflate failed");
  out.resize(len);
  return out;
}

// Inflates exactly `size` bytes from the zlib stream in `z`.
bool InflateExact(std::string_view z, uint64_t size, std::string* out) {
  struct Decompressor {
    libdeflate_decompressor* d = libdeflate_alloc_decompressor();
    ~Decompressor() { libdeflate_free_decompressor(d); }
  };
  thread_local Decompressor tl;
  if (!tl.d) return false;
  out->assign(size, '\0');
  // Without an actual-size out parameter the stream must fill `out` exactly.
  return libdeflate_zlib_decompress(tl.d, z.data(), z.size(), out->data(), size, nullptr) ==
         LIBDEFLATE_SUCCESS;
}

uint32_t Crc32(std::string_view data) { return libdeflate_crc32(0, data.data(), data.size()); }

// One entry of a pack (from its index).
struct IndexEntry {
  git_oid oid;
  uint64_t offset = 0;
  uint32_t crc = 0;
};

Result<std::vector<IndexEntry>> ReadIndex(const std::string& idx_path) {
  int fd = ::open(idx_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + idx_path);
  struct stat st;
  std::string data;
  Status rs = ::fstat(fd, &st) == 0 ? Status::Ok() : Status::FromErrno("stat " + idx_path);
  if (rs.ok()) {
    data.resize(static_cast<size_t>(st.st_size));
    rs = PreadAll(fd, data.data(), data.size(), 0, idx_path);
  }
  ::close(fd);
  NEXUS_RETURN_IF_ERROR(rs);
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  auto bad = [&] { return Status::Error(EIO, idx_path + ": not a version 2 pack index"); };
  if (data.size() < 8 + 1024 + 2 * kSha || std::memcmp(p, "\377tOc", 4) != 0 || GetBe32(p + 4) != 2)
    return bad();
  const uint32_t n = GetBe32(p + 8 + 255 * 4);
  const size_t oids = 8 + 1024, crcs = oids + size_t{n} * kSha, offs = crcs + size_t{n} * 4,
               large = offs + size_t{n} * 4;
  if (data.size() < large + 2 * kSha) return bad();
  std::vector<IndexEntry> out(n);
  for (uint32_t i = 0; i < n; ++i) {
    git_oid_fromraw(&out[i].oid, p + oids + size_t{i} * kSha);
    out[i].crc = GetBe32(p + crcs + size_t{i} * 4);
    uint32_t off = GetBe32(p + offs + size_t{i} * 4);
    if (off & 0x80000000u) {
      size_t at = large + size_t{off & 0x7FFFFFFFu} * 8;
      if (at + 8 > data.size() - 2 * kSha) return bad();
      out[i].offset = GetBe64(p + at);
    } else {
      out[i].offset = off;
    }
  }
  return out;
}

std::string BuildIndex(std::vector<IndexEntry> entries, const std::string& pack_sum) {
  std::sort(entries.begin(), entries.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return git_oid_cmp(&a.oid, &b.oid) < 0; });
  std::string out("\377tOc", 4);
  PutBe32(out, 2);
  uint32_t fan[256] = {};
  for (const auto& e : entries) ++fan[e.oid.id[0]];
  for (uint32_t i = 0, total = 0; i < 256; ++i) {
    total += fan[i];
    PutBe32(out, total);
  }
  for (const auto& e : entries) out.append(reinterpret_cast<const char*>(e.oid.id), kSha);
  for (const auto& e : entries) PutBe32(out, e.crc);
  std::string large;
  uint32_t nlarge = 0;
  for (const auto& e : entries) {
    if (e.offset < 0x80000000u) {
      PutBe32(out, static_cast<uint32_t>(e.offset));
    } else {
      PutBe32(out, 0x80000000u | nlarge++);
      PutBe64(large, e.offset);
    }
  }
  out += large;
  out += pack_sum;
  Sha1 sha;
  sha.Update(out);
  return out + sha.FinishRaw();
}

// ---- the ODB backend over the pending objects ----

struct Backend {
  git_odb_backend parent;
  std::shared_ptr<PackStore> store;
};

PackStore& StoreOf(git_odb_backend* b) { return *reinterpret_cast<Backend*>(b)->store; }

int BackendRead(void** out, size_t* len, git_object_t* type, git_odb_backend* b, const git_oid* oid) {
  std::string data;
  int rc = StoreOf(b).ReadPending(*oid, &data, type);
  if (rc != 0) return rc;
  void* buf = git_odb_backend_data_alloc(b, data.size() ? data.size() : 1);
  if (buf == nullptr) return -1;
  std::memcpy(buf, data.data(), data.size());
  *out = buf;
  *len = data.size();
  return 0;
}

// The unique pending id starting with the first `len` hex digits of `short_id`.
int FindPrefix(PackStore& store, const git_oid* short_id, size_t len, git_oid* found) {
  int matches = 0;
  for (const git_oid& id : store.PendingIds()) {
    if (git_oid_ncmp(&id, short_id, len) != 0) continue;
    if (matches++ == 0) *found = id;
  }
  if (matches == 0) return GIT_ENOTFOUND;
  return matches == 1 ? 0 : GIT_EAMBIGUOUS;
}

int BackendReadPrefix(git_oid* out_id, void** out, size_t* len, git_object_t* type, git_odb_backend* b,
                      const git_oid* short_id, size_t hexlen) {
  git_oid found;
  if (hexlen >= GIT_OID_HEXSZ) {
    found = *short_id;
  } else if (int rc = FindPrefix(StoreOf(b), short_id, hexlen, &found); rc != 0) {
    return rc;
  }
  int rc = BackendRead(out, len, type, b, &found);
  if (rc == 0) *out_id = found;
  return rc;
}

int BackendReadHeader(size_t* len, git_object_t* type, git_odb_backend* b, const git_oid* oid) {
  return StoreOf(b).ReadPendingHeader(*oid, len, type);
}

int BackendWrite(git_odb_backend* b, const git_oid* oid, const void* data, size_t len, git_object_t type) {
  Status st = StoreOf(b).Append(*oid, type, std::string_view(static_cast<const char*>(data), len));
  if (st.ok()) return 0;
  git_error_set_str(GIT_ERROR_ODB, st.ToString().c_str());
  return -1;
}

int BackendExists(git_odb_backend* b, const git_oid* oid) { return StoreOf(b).IsPending(*oid) ? 1 : 0; }

int BackendExistsPrefix(git_oid* out, git_odb_backend* b, const git_oid* short_id, size_t len) {
  return FindPrefix(StoreOf(b), short_id, len, out);
}

int BackendRefresh(git_odb_backend*) { return 0; }

int BackendForeach(git_odb_backend* b, git_odb_foreach_cb cb, void* payload) {
  for (const git_oid& id : StoreOf(b).PendingIds())
    if (int rc = cb(&id, payload); rc != 0) return rc;
  return 0;
}

void BackendFree(git_odb_backend* b) { delete reinterpret_cast<Backend*>(b); }

}  // namespace

struct PackStore::PendingFile {
  int fd = -1;
  std::string path;
  uint64_t size = kPackHeader;
  std::vector<IndexEntry> entries;
  PendingFile() = default;
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;
  ~PendingFile() {
    if (fd >= 0) ::close(fd);
  }
};

// A new, empty file in the pending directory, `kind` naming what it is for.
Status PackStore::OpenWorkFile(const char* kind, PendingFile* f) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  f->path = pending_dir_ + "/" + kind + "-" + std::to_string(ts.tv_sec) + "-" + std::to_string(ts.tv_nsec) +
            "-" + std::to_string(next_file_.fetch_add(1)) + ".pack";
  f->fd = ::open(f->path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (f->fd < 0) return Status::FromErrno("create " + f->path);
  return Status::Ok();
}

size_t PackStore::OidHash::operator()(const git_oid& o) const {
  size_t h;
  std::memcpy(&h, o.id, sizeof h);
  return h;
}

PackStore::PackStore(std::string git_dir)
    : git_dir_(std::move(git_dir)),
      pending_dir_(git_dir_ + "/nexus-pending"),
      pack_dir_(git_dir_ + "/objects/pack") {}

PackStore::~PackStore() = default;

Result<std::shared_ptr<PackStore>> PackStore::Open(const std::string& git_dir) {
  std::shared_ptr<PackStore> store(new PackStore(git_dir));
  NEXUS_RETURN_IF_ERROR(store->Recover());
  return store;
}

Status PackStore::Append(const git_oid& oid, git_object_t type, std::string_view data, int level) {
  if (!IsPlainType(type))
    return Status::Error(EINVAL, "pack: cannot store an object of type " + std::to_string(type));
  auto z = Deflate(data, level);
  NEXUS_RETURN_IF_FAILED(z);
  std::string entry = EntryHeader(type, data.size());
  const size_t header_len = entry.size();
  entry += *z;
  const uint32_t crc = Crc32(entry);

  MutexLock lk(mu_);
  if (slots_.contains(oid)) return Status::Ok();
  if (!current_) {
    auto file = std::make_shared<PendingFile>();
    NEXUS_RETURN_IF_ERROR(OpenWorkFile("pending", file.get()));
    std::string header("PACK", 4);
    PutBe32(header, 2);
    PutBe32(header, 0);  // the count is written by Finish
    NEXUS_RETURN_IF_ERROR(PwriteAll(file->fd, header, 0, file->path));
    current_ = std::move(file);
  }
  PendingFile& f = *current_;
  NEXUS_RETURN_IF_ERROR(PwriteAll(f.fd, entry, f.size, f.path));
  f.entries.push_back({oid, f.size, crc});
  slots_[oid] = Slot{current_, f.size + header_len, static_cast<uint32_t>(z->size()), data.size(), type};
  f.size += entry.size();
  return Status::Ok();
}

bool PackStore::IsPending(const git_oid& oid) const {
  MutexLock lk(mu_);
  return slots_.contains(oid);
}

size_t PackStore::PendingObjects() const {
  MutexLock lk(mu_);
  return slots_.size();
}

std::vector<git_oid> PackStore::PendingIds() const {
  MutexLock lk(mu_);
  std::vector<git_oid> out;
  out.reserve(slots_.size());
  for (const auto& [id, slot] : slots_) out.push_back(id);
  return out;
}

int PackStore::ReadPendingHeader(const git_oid& oid, size_t* size, git_object_t* type) const {
  MutexLock lk(mu_);
  auto it = slots_.find(oid);
  if (it == slots_.end()) return GIT_ENOTFOUND;
  *size = it->second.size;
  *type = it->second.type;
  return 0;
}

int PackStore::ReadPending(const git_oid& oid, std::string* data, git_object_t* type) const {
  Slot slot;
  {
    MutexLock lk(mu_);
    auto it = slots_.find(oid);
    if (it == slots_.end()) return GIT_ENOTFOUND;
    slot = it->second;  // holds the file open even if Finish renames it meanwhile
  }
  std::string z(slot.length, '\0');
  Status st = PreadAll(slot.file->fd, z.data(), z.size(), slot.offset, "pending pack");
  if (!st.ok() || !InflateExact(z, slot.size, data)) {
    git_error_set_str(GIT_ERROR_ODB, ("pending pack: cannot read object " + OidHex(oid)).c_str());
    return -1;
  }
  *type = slot.type;
  return 0;
}

// Header count, trailer, index; both synced, then renamed into
// objects/pack/ (the index last: a pack is visible only with its index).
Status PackStore::WritePack(PendingFile& f) {
  if (f.entries.empty()) {
    ::unlink(f.path.c_str());
    return Status::Ok();
  }
  std::string header("PACK", 4);
  PutBe32(header, 2);
  PutBe32(header, static_cast<uint32_t>(f.entries.size()));
  NEXUS_RETURN_IF_ERROR(PwriteAll(f.fd, header, 0, f.path));
  Sha1 sha;
  std::string buf(kReadChunk, '\0');
  for (uint64_t off = 0; off < f.size;) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(kReadChunk, f.size - off));
    NEXUS_RETURN_IF_ERROR(PreadAll(f.fd, buf.data(), len, off, f.path));
    sha.Update(std::string_view(buf.data(), len));
    off += len;
  }
  const std::string sum = sha.FinishRaw();
  NEXUS_RETURN_IF_ERROR(PwriteAll(f.fd, sum, f.size, f.path));
  if (::ftruncate(f.fd, static_cast<off_t>(f.size + kSha)) != 0)
    return Status::FromErrno("truncate " + f.path);
  if (::fsync(f.fd) != 0) return Status::FromErrno("fsync " + f.path);

  git_oid sum_id;
  git_oid_fromraw(&sum_id, reinterpret_cast<const unsigned char*>(sum.data()));
  const std::string name = "pack-" + OidHex(sum_id);
  const std::string idx_tmp = pending_dir_ + "/" + name + ".idx";
  {
    const std::string idx = BuildIndex(f.entries, sum);
    int fd = ::open(idx_tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
    if (fd < 0) return Status::FromErrno("create " + idx_tmp);
    Status st = PwriteAll(fd, idx, 0, idx_tmp);
    if (st.ok() && ::fsync(fd) != 0) st = Status::FromErrno("fsync " + idx_tmp);
    ::close(fd);
    NEXUS_RETURN_IF_ERROR(st);
  }
  std::error_code ec;
  fs::create_directories(pack_dir_, ec);
  const std::string pack_path = pack_dir_ + "/" + name + ".pack";
  if (::rename(f.path.c_str(), pack_path.c_str()) != 0) return Status::FromErrno("rename " + f.path);
  ::fchmod(f.fd, 0444);
  f.path = pack_path;
  const std::string idx_path = pack_dir_ + "/" + name + ".idx";
  if (::rename(idx_tmp.c_str(), idx_path.c_str()) != 0) return Status::FromErrno("rename " + idx_tmp);
  return FsyncPath(pack_dir_, O_DIRECTORY);
}

Status PackStore::Finish() {
  MutexLock finish(finish_mu_);
  std::vector<std::shared_ptr<PendingFile>> files;
  {
    MutexLock lk(mu_);
    files.swap(retry_);
    if (current_) files.push_back(std::move(current_));  // later appends start a new pending pack
  }
  Status first;
  for (auto& file : files) {
    Status st = WritePack(*file);  // idempotent: a failed attempt is simply repeated
    MutexLock lk(mu_);
    if (!st.ok()) {
      // The objects stay pending and readable; the next Finish retries.
      retry_.push_back(file);
      if (first.ok()) first = st;
      continue;
    }
    for (auto it = slots_.begin(); it != slots_.end();) {
      if (it->second.file == file) {
        it = slots_.erase(it);
      } else {
        ++it;
      }
    }
  }
  NEXUS_RETURN_IF_ERROR(first);
  if (ListPacks().size() > kMaxPacks) {
    Status merged = MergeSmallPacks();
    if (!merged.ok()) spdlog::warn("version store: merging packs failed (will retry): {}", merged.ToString());
  }
  return Status::Ok();
}

std::vector<PackStore::PackInfo> PackStore::ListPacks() const {
  std::vector<PackInfo> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(pack_dir_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string p = it->path().string();
    if (!p.ends_with(".idx")) continue;
    const std::string base = p.substr(0, p.size() - 4);
    std::error_code e1, e2;
    auto pack_bytes = fs::file_size(base + ".pack", e1);
    auto idx_bytes = fs::file_size(p, e2);
    if (e1 || e2) continue;
    out.push_back({base, pack_bytes + idx_bytes});
  }
  return out;
}

size_t PackStore::PackCount() const { return ListPacks().size(); }

namespace {

// Copies the entries of pack `base` that `keep` accepts into `out` (raw, no
// recompression), skipping ids already in `seen`. False (and nothing
// copied) when the pack holds deltas, which only packs written by other
// tools have.
Result<bool> CopyEntries(const std::string& base, const std::function<bool(const git_oid&)>& keep,
                         std::unordered_set<std::string>* seen, PackStore::PendingFile* out,
                         uint64_t* dropped) {
  auto index = ReadIndex(base + ".idx");
  NEXUS_RETURN_IF_FAILED(index);
  std::vector<IndexEntry> entries = std::move(index).value();
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.offset < b.offset; });
  const std::string pack = base + ".pack";
  int fd = ::open(pack.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + pack);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("stat " + pack);
  const auto end = static_cast<uint64_t>(st.st_size) - kSha;
  std::vector<std::pair<size_t, std::string>> copied;  // (entry, raw bytes)
  for (size_t i = 0; i < entries.size(); ++i) {
    const uint64_t next = i + 1 < entries.size() ? entries[i + 1].offset : end;
    if (next < entries[i].offset || next > end) return Status::Error(EIO, pack + ": entry beyond the end");
    std::string raw(next - entries[i].offset, '\0');
    NEXUS_RETURN_IF_ERROR(PreadAll(fd, raw.data(), raw.size(), entries[i].offset, pack));
    int type = 0;
    uint64_t size = 0;
    size_t hlen = 0;
    if (!ParseEntryHeader(reinterpret_cast<const unsigned char*>(raw.data()), raw.size(), &type, &size,
                          &hlen) ||
        !IsPlainType(type))
      return false;
    if (!keep(entries[i].oid)) {
      ++*dropped;
      continue;
    }
    copied.emplace_back(i, std::move(raw));
  }
  for (auto& [i, raw] : copied) {
    if (!seen->insert(OidHex(entries[i].oid)).second) continue;
    NEXUS_RETURN_IF_ERROR(PwriteAll(out->fd, raw, out->size, out->path));
    const uint32_t crc = Crc32(raw);
    out->entries.push_back({entries[i].oid, out->size, crc});
    out->size += raw.size();
  }
  return true;
}

void RemovePack(const std::string& base) {
  ::unlink((base + ".idx").c_str());  // first: without its index the pack is unseen
  ::unlink((base + ".pack").c_str());
}

}  // namespace

Status PackStore::MergeSmallPacks() {
  auto packs = ListPacks();
  if (packs.size() <= kMaxPacks) return Status::Ok();
  std::sort(packs.begin(), packs.end(),
            [](const PackInfo& a, const PackInfo& b) { return a.bytes < b.bytes; });
  packs.resize(packs.size() - kMaxPacks / 2 + 1);  // the smallest, merged into one
  PendingFile out;
  NEXUS_RETURN_IF_ERROR(OpenWorkFile("merge", &out));
  std::unordered_set<std::string> seen;
  std::vector<std::string> merged;
  uint64_t dropped = 0;
  for (const PackInfo& p : packs) {
    auto ok = CopyEntries(
        p.base, [](const git_oid&) { return true; }, &seen, &out, &dropped);
    if (!ok.ok()) {
      ::unlink(out.path.c_str());
      return ok.status();
    }
    if (*ok) merged.push_back(p.base);
  }
  if (merged.size() < 2) {
    ::unlink(out.path.c_str());
    return Status::Ok();
  }
  NEXUS_RETURN_IF_ERROR(WritePack(out));
  for (const std::string& base : merged)
    if (base + ".pack" != out.path) RemovePack(base);
  return Status::Ok();
}

Result<PackStore::SweepResult> PackStore::Sweep(const std::function<bool(const git_oid&)>& keep) {
  MutexLock finish(finish_mu_);
  SweepResult result;
  for (const PackInfo& p : ListPacks()) {
    auto index = ReadIndex(p.base + ".idx");
    NEXUS_RETURN_IF_FAILED(index);
    if (std::all_of(index->begin(), index->end(), [&](const IndexEntry& e) { return keep(e.oid); })) continue;
    PendingFile out;
    NEXUS_RETURN_IF_ERROR(OpenWorkFile("sweep", &out));
    std::unordered_set<std::string> seen;
    uint64_t dropped = 0;
    auto ok = CopyEntries(p.base, keep, &seen, &out, &dropped);
    if (!ok.ok() || !*ok) {
      ::unlink(out.path.c_str());
      if (!ok.ok()) return ok.status();
      spdlog::warn("version store gc: {}.pack holds deltas (written by another tool); left as it is", p.base);
      continue;
    }
    NEXUS_RETURN_IF_ERROR(WritePack(out));  // unlinks an empty result
    uint64_t after = 0;
    if (!out.entries.empty()) {
      std::error_code e1, e2;
      const std::string base = out.path.substr(0, out.path.size() - 5);
      after = fs::file_size(base + ".pack", e1) + fs::file_size(base + ".idx", e2);
    }
    if (out.path != p.base + ".pack") RemovePack(p.base);
    result.objects_removed += dropped;
    result.bytes_removed += p.bytes > after ? p.bytes - after : 0;
  }
  return result;
}

// Completes what a crash interrupted: packs renamed without their index,
// then pending packs, each finished with the complete entries it holds.
Status PackStore::Recover() {
  std::error_code ec;
  fs::create_directories(pending_dir_, ec);
  if (ec) return Status::Error(EIO, "create " + pending_dir_ + ": " + ec.message());
  for (auto it = fs::directory_iterator(pack_dir_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string p = it->path().string();
    if (!p.ends_with(".pack")) continue;
    const std::string base = p.substr(0, p.size() - 5);
    if (fs::exists(base + ".idx")) continue;
    const std::string name = it->path().filename().string();
    const std::string idx_tmp = pending_dir_ + "/" + name.substr(0, name.size() - 5) + ".idx";
    if (fs::exists(idx_tmp)) {
      if (::rename(idx_tmp.c_str(), (base + ".idx").c_str()) != 0)
        return Status::FromErrno("rename " + idx_tmp);
      continue;
    }
    // No index anywhere: parse it again as a pending pack.
    const std::string again = pending_dir_ + "/recovered-" + name;
    if (::rename(p.c_str(), again.c_str()) != 0) return Status::FromErrno("rename " + p);
  }
  std::vector<std::string> pending;
  for (auto it = fs::directory_iterator(pending_dir_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string p = it->path().string();
    if (p.ends_with(".pack")) pending.push_back(p);
  }
  std::sort(pending.begin(), pending.end());
  for (const std::string& path : pending) {
    PendingFile f;
    f.path = path;
    f.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (f.fd < 0) return Status::FromErrno("open " + path);
    struct stat st;
    if (::fstat(f.fd, &st) != 0) return Status::FromErrno("stat " + path);
    const auto file_size = static_cast<uint64_t>(st.st_size);
    unsigned char head[kPackHeader];
    const bool valid = file_size >= kPackHeader && PreadAll(f.fd, head, kPackHeader, 0, path).ok() &&
                       std::memcmp(head, "PACK", 4) == 0;
    const uint32_t count = valid ? GetBe32(head + 8) : 0;  // 0 while pending
    uint64_t pos = kPackHeader;
    std::string raw, data;
    while (valid && pos < file_size && (count == 0 || f.entries.size() < count)) {
      unsigned char hb[16];
      size_t hn = static_cast<size_t>(std::min<uint64_t>(sizeof hb, file_size - pos));
      if (!PreadAll(f.fd, hb, hn, pos, path).ok()) break;
      int type = 0;
      uint64_t size = 0;
      size_t hlen = 0;
      if (!ParseEntryHeader(hb, hn, &type, &size, &hlen) || !IsPlainType(type) || size > (uint64_t{1} << 30))
        break;
      // Inflate from the stream until its end to learn its compressed length.
      z_stream z{};
      if (inflateInit(&z) != Z_OK) break;
      data.assign(size, '\0');
      z.next_out = reinterpret_cast<Bytef*>(data.data());
      z.avail_out = static_cast<uInt>(size);
      uint64_t in = pos + hlen;
      int rc = Z_OK;
      std::string chunk(64 << 10, '\0');
      char sink;
      while (rc == Z_OK && in < file_size) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), file_size - in));
        if (!PreadAll(f.fd, chunk.data(), n, in, path).ok()) break;
        z.next_in = reinterpret_cast<Bytef*>(chunk.data());
        z.avail_in = static_cast<uInt>(n);
        if (z.avail_out == 0) {  // only the stream's end may remain
          z.next_out = reinterpret_cast<Bytef*>(&sink);
          z.avail_out = 1;
        }
        rc = inflate(&z, Z_NO_FLUSH);
        const size_t used = n - z.avail_in;
        in += used;
        if (rc == Z_BUF_ERROR && used > 0) rc = Z_OK;  // no progress at all: give up
      }
      const bool whole = rc == Z_STREAM_END && z.total_out == size;
      inflateEnd(&z);
      if (!whole) break;
      git_oid oid;
      if (git_odb_hash(&oid, data.data(), data.size(), static_cast<git_object_t>(type)) != 0) break;
      raw.resize(in - pos);
      if (!PreadAll(f.fd, raw.data(), raw.size(), pos, path).ok()) break;
      f.entries.push_back({oid, pos, Crc32(raw)});
      pos = in;
    }
    f.size = valid ? pos : kPackHeader;
    if (f.size < file_size && ::ftruncate(f.fd, static_cast<off_t>(f.size)) != 0)
      return Status::FromErrno("truncate " + path);
    if (!f.entries.empty())
      spdlog::info("version store: keeping {} object(s) of an unfinished pack {}", f.entries.size(), path);
    NEXUS_RETURN_IF_ERROR(WritePack(f));
  }
  for (auto it = fs::directory_iterator(pending_dir_, ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    if (it->path().extension() == ".idx") fs::remove(it->path(), ec);
  return Status::Ok();
}

Result<OdbPtr> PackStore::NewOdb() {
  git_odb* raw = nullptr;
  NEXUS_GIT(git_odb_new(&raw), "new odb");
  OdbPtr odb(raw);
  const std::string objects = git_dir_ + "/objects";
  git_odb_backend* loose = nullptr;
  NEXUS_GIT(git_odb_backend_loose(&loose, objects.c_str(), /*compression=*/1, /*do_fsync=*/0, 0, 0),
            "loose objects of " + git_dir_);
  if (int rc = git_odb_add_backend(raw, loose, 1); rc < 0) {
    loose->free(loose);
    return GitError(rc, "add loose backend");
  }
  git_odb_backend* packs = nullptr;
  NEXUS_GIT(git_odb_backend_pack(&packs, objects.c_str()), "packs of " + git_dir_);
  if (int rc = git_odb_add_backend(raw, packs, 2); rc < 0) {
    packs->free(packs);
    return GitError(rc, "add pack backend");
  }
  auto* b = new Backend{};
  b->parent.version = GIT_ODB_BACKEND_VERSION;
  b->parent.read = BackendRead;
  b->parent.read_prefix = BackendReadPrefix;
  b->parent.read_header = BackendReadHeader;
  b->parent.write = BackendWrite;
  b->parent.exists = BackendExists;
  b->parent.exists_prefix = BackendExistsPrefix;
  b->parent.refresh = BackendRefresh;
  b->parent.foreach = BackendForeach;
  b->parent.free = BackendFree;
  b->store = shared_from_this();
  if (int rc = git_odb_add_backend(raw, &b->parent, 3); rc < 0) {
    delete b;
    return GitError(rc, "add pending-pack backend");
  }
  return odb;
}

Status PackStore::AttachTo(git_repository* repo) {
  auto odb = NewOdb();
  NEXUS_RETURN_IF_FAILED(odb);
  NEXUS_GIT(git_repository_set_odb(repo, odb->get()), "attach odb");  // takes a reference
  return Status::Ok();
}

}  // namespace nexus::versions
