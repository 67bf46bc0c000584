#include "fs/versions/version_store.h"

#include "base/thread_priority.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "base/crypto.h"
#include "base/format.h"
#include "fs/versions/change_log.h"
#include "fs/versions/store_internal.h"
#include "fs/versions/version_db.h"
#include "fs/versions/zone_path.h"

namespace nexus::versions {
namespace {

// Files up to this size are read into memory and written in one call;
// larger ones are streamed.
constexpr uint64_t kInlineBlobBytes = 1 << 20;
constexpr size_t kStreamChunk = 1 << 20;
constexpr size_t kCompressSample = 64 << 10;  // bytes deflated to test compressibility

// True when deflate (level 1) shrinks `len` bytes at `data` by at least 10%.
bool Compressible(const char* data, size_t len) {
  uLongf out_len = compressBound(len);
  std::string out(out_len, '\0');
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &out_len, reinterpret_cast<const Bytef*>(data), len,
                1) != Z_OK)
    return true;
  return out_len < len * 9 / 10;
}

// Blob files synced one by one per group up to this count; above it one
// syncfs(2) is cheaper.
constexpr size_t kMaxBlobFsyncs = 64;
// Rows the committer reads per round.
constexpr int kCommitRound = 4096;

Status ReadFull(int fd, char* buf, size_t len, uint64_t offset) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, buf + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("read captured file");
    if (n == 0) return Status::Error(EAGAIN, "file shrank while being captured");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// True when `fd` has data beyond `size` (the file grew while being read).
bool GrewPast(int fd, uint64_t size) {
  char c;
  return ::pread(fd, &c, 1, static_cast<off_t>(size)) == 1;
}

// Writes the `size` bytes of `fd` as a loose blob whose zlib stream uses
// stored (uncompressed) deflate blocks: for content that does not compress,
// several times cheaper than libgit2's deflate, and read by libgit2 and git
// like any loose object. Same layout and atomic rename as libgit2's writer.
Result<git_oid> WriteStoredBlob(const std::string& git_dir, int fd, uint64_t size, std::string& buf,
                                const std::atomic<bool>& cancel) {
  const std::string header = "blob " + std::to_string(size) + std::string(1, '\0');
  Sha1 sha;
  z_stream z{};
  if (deflateInit(&z, Z_NO_COMPRESSION) != Z_OK) return Status::Error(EIO, "deflateInit");
  std::unique_ptr<z_stream, int (*)(z_stream*)> zguard(&z, deflateEnd);
  const std::string tmp = git_dir + "/objects/tmp_stored_" + std::to_string(::getpid()) + "_" +
                          std::to_string(reinterpret_cast<uintptr_t>(&z));
  int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
  if (out < 0) return Status::FromErrno("create " + tmp);
  bool ok = false;
  struct Cleanup {
    int fd;
    const std::string& path;
    bool& ok;
    ~Cleanup() {
      if (fd >= 0) ::close(fd);
      if (!ok) ::unlink(path.c_str());
    }
  } cleanup{out, tmp, ok};
  std::string zbuf(kStreamChunk + (64 << 10), '\0');
  auto feed = [&](const char* data, size_t len, int flush) -> Status {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z.avail_in = static_cast<uInt>(len);
    do {
      z.next_out = reinterpret_cast<Bytef*>(zbuf.data());
      z.avail_out = static_cast<uInt>(zbuf.size());
      int rc = deflate(&z, flush);
      if (rc == Z_STREAM_ERROR) return Status::Error(EIO, "deflate");
      size_t have = zbuf.size() - z.avail_out;
      for (size_t done = 0; done < have;) {
        ssize_t n = ::write(out, zbuf.data() + done, have - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return Status::FromErrno("write " + tmp);
        done += static_cast<size_t>(n);
      }
    } while (z.avail_out == 0);
    return Status::Ok();
  };
  sha.Update(header);
  NEXUS_RETURN_IF_ERROR(feed(header.data(), header.size(), Z_NO_FLUSH));
  for (uint64_t off = 0; off < size;) {
    if (cancel.load(std::memory_order_relaxed))
      return Status::Error(ECANCELED, "capture cancelled: shutting down");
    size_t len = static_cast<size_t>(std::min<uint64_t>(kStreamChunk, size - off));
    NEXUS_RETURN_IF_ERROR(ReadFull(fd, buf.data(), len, off));
    sha.Update(std::string_view(buf.data(), len));
    off += len;
    NEXUS_RETURN_IF_ERROR(feed(buf.data(), len, off == size ? Z_FINISH : Z_NO_FLUSH));
  }
  if (size == 0) NEXUS_RETURN_IF_ERROR(feed(nullptr, 0, Z_FINISH));
  if (GrewPast(fd, size)) return Status::Error(EAGAIN, "file grew while being captured");
  const std::string md = sha.FinishRaw();
  git_oid oid;
  git_oid_fromraw(&oid, reinterpret_cast<const unsigned char*>(md.data()));
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &oid);
  const std::string final_path = LooseObjectPath(git_dir, hex);
  const std::string dir = final_path.substr(0, final_path.rfind('/'));
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + dir);
  ::close(cleanup.fd);
  cleanup.fd = -1;
  if (::access(final_path.c_str(), F_OK) == 0) return oid;  // already stored: tmp is removed
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) return Status::FromErrno("rename to " + final_path);
  ok = true;
  return oid;
}

Status WriteAll(int fd, const char* p, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("write version content");
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Version ToVersion(Change c) {
  Version v;
  v.number = c.n;
  v.zone = std::move(c.zone);
  v.path = std::move(c.path);
  v.blob = std::move(c.blob);
  v.size = c.size;
  v.mode = c.mode;
  v.time_ns = c.time_ns;
  v.provenance = std::move(c.who);
  v.note = std::move(c.note);
  v.commit = std::move(c.commit);
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------
// Shared helpers (store_internal.h)

std::string LooseObjectPath(const std::string& git_dir, const std::string& hex) {
  return git_dir + "/objects/" + hex.substr(0, 2) + "/" + hex.substr(2);
}

std::optional<FileRecord> FindFile(SqliteDb& db, const std::string& zone, const std::string& path) {
  Statement q = db.Prepare(
      "SELECT id, deleted, last_n, last_blob, path FROM files WHERE zone=? AND path=? "
      "ORDER BY deleted, id DESC LIMIT 1");
  q.Bind(zone).Bind(path);
  if (!q.Next()) return std::nullopt;
  return FileRecord{q.Int(0), q.Int(1) != 0, static_cast<uint32_t>(q.Int(2)), q.Text(3), q.Text(4)};
}

Result<std::string> ZoneRelativePath(const std::string& path) {
  auto p = NsPath::FromRelative(path);
  if (!p.ok()) return p.status();
  if (p->IsRoot()) return Status::Error(EINVAL, "empty path");
  return std::string(p->RelativeTo(NsPath()));
}

// ---------------------------------------------------------------------------
// Reader pool

Result<VersionStore::ReaderLease> VersionStore::Borrow() {
  auto lease = readers_->Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  return ReaderLease(std::move(lease).value());
}

Result<std::unique_ptr<VersionStore::Reader>> VersionStore::NewReader() const {
  auto r = std::make_unique<Reader>();
  auto db = OpenVersionDb(db_path_, /*create_schema=*/false);
  NEXUS_RETURN_IF_FAILED(db);
  r->db = std::move(db).value();
  auto repo = OpenRepo(git_dir_);
  NEXUS_RETURN_IF_FAILED(repo);
  r->repo = std::move(repo).value();
  NEXUS_RETURN_IF_ERROR(packs_->AttachTo(r->repo.get()));
  return r;
}

// ---------------------------------------------------------------------------
// Open / close

VersionStore::VersionStore(Options options) : options_(std::move(options)) {
  git_dir_ = options_.dir + "/versions.git";
  db_path_ = options_.dir + "/versions.db";
  readers_ = std::make_unique<ConnectionPool<Reader>>([this] { return NewReader(); });
}

int64_t VersionStore::Now() const {
  if (options_.clock) return options_.clock();
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

Result<std::unique_ptr<VersionStore>> VersionStore::Open(Options options) {
  if (options.dir.empty()) return Status::Error(EINVAL, "version store: no directory given");
  if (options.commit_batch == 0) options.commit_batch = 1;
  std::unique_ptr<VersionStore> store(new VersionStore(std::move(options)));
  NEXUS_RETURN_IF_ERROR(store->Init());
  return store;
}

Status VersionStore::Init() {
  // A kill -9 while a ref moved leaves its lock file, and libgit2 then
  // refuses to move the ref again. Only this store writes the repository
  // (the data dir is locked to one daemon), so a lock at Open is stale.
  {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(git_dir_ + "/refs", ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->path().extension() != ".lock") continue;
      spdlog::warn("version store: removing {} left by a crash", it->path().string());
      std::filesystem::remove(it->path(), ec);
    }
    for (const char* name : {"/packed-refs.lock", "/HEAD.lock"}) std::filesystem::remove(git_dir_ + name, ec);
  }
  auto repo = OpenOrInitBare(git_dir_);
  NEXUS_RETURN_IF_FAILED(repo);
  commit_repo_ = std::move(repo).value();
  auto packs = PackStore::Open(git_dir_);
  NEXUS_RETURN_IF_FAILED(packs);
  packs_ = std::move(packs).value();
  NEXUS_RETURN_IF_ERROR(packs_->AttachTo(commit_repo_.get()));
  auto odb = packs_->NewOdb();
  NEXUS_RETURN_IF_FAILED(odb);
  odb_ = std::move(odb).value();
  auto db = OpenVersionDb(db_path_, /*create_schema=*/true);
  NEXUS_RETURN_IF_FAILED(db);
  db_ = std::move(db).value();

  MutexLock commit_lk(commit_mu_);
  NEXUS_RETURN_IF_ERROR(Reconcile());
  {
    Statement q = db_->Prepare("SELECT COUNT(*) FROM changes WHERE commit_id IS NULL");
    pending_ = q.Next() ? static_cast<size_t>(q.Int(0)) : 0;
  }
  if (pending_ > 0) {
    spdlog::info("version store: committing {} journaled change(s) left by the last run", pending_);
    NEXUS_RETURN_IF_ERROR(CommitPending());
  }
  if (options_.run_committer) committer_ = std::thread([this] { CommitterLoop(); });
  return Status::Ok();
}

// Makes every branch point at the commit of its zone's last committed change.
// The committer records commit ids in the index before moving the ref, so a
// crash in between leaves the ref behind; commits whose objects were lost
// (a machine crash) put their changes back in the journal.
Status VersionStore::Reconcile() {
  auto zones = ZonesOf(*db_);
  NEXUS_RETURN_IF_FAILED(zones);
  for (const std::string& zone : *zones) {
    // Newest first; normally the first row's commit exists and ends the scan.
    Statement q = db_->Prepare(
        "SELECT commit_id, seq FROM changes WHERE zone=? AND commit_id IS NOT NULL AND "
        "commit_id<>'' ORDER BY seq DESC");
    q.Bind(zone);
    git_oid target;
    bool found = false;
    int64_t keep_seq = 0;
    std::string missing;
    while (q.Next()) {
      std::string commit = q.Text(0);
      if (commit == missing) continue;
      if (ParseOid(commit, &target) && git_odb_exists(odb_.get(), &target)) {
        found = true;
        keep_seq = q.Int(1);
        break;
      }
      missing = std::move(commit);
    }
    Statement reset =
        db_->Prepare("UPDATE changes SET commit_id=NULL WHERE zone=? AND seq>? AND commit_id IS NOT NULL");
    NEXUS_RETURN_IF_ERROR(reset.Bind(zone).Bind(keep_seq).Run());
    const std::string ref = "refs/heads/" + zone;
    git_oid current;
    bool has_ref = git_reference_name_to_id(&current, commit_repo_.get(), ref.c_str()) == 0;
    if (found && (!has_ref || !git_oid_equal(&current, &target))) {
      git_reference* r = nullptr;
      NEXUS_GIT(git_reference_create(&r, commit_repo_.get(), ref.c_str(), &target, 1, "reconcile"),
                "update " + ref);
      git_reference_free(r);
    } else if (!found && has_ref) {
      NEXUS_GIT(git_reference_remove(commit_repo_.get(), ref.c_str()), "remove " + ref);
    }
  }
  return Status::Ok();
}

VersionStore::~VersionStore() {
  {
    MutexLock lk(wake_mu_);
    stop_ = true;
  }
  wake_cv_.notify_all();
  if (committer_.joinable()) {
    committer_.join();
    MutexLock lk(commit_mu_);
    Status st = CommitPending();
    if (!st.ok()) spdlog::warn("version store: final commit failed: {}", st.ToString());
  }
}

// ---------------------------------------------------------------------------
// Recording

Result<git_oid> VersionStore::WriteBlob(int fd, uint64_t size) {
  git_oid oid;
  if (size <= kInlineBlobBytes) {
    std::string buf(size, '\0');
    NEXUS_RETURN_IF_ERROR(ReadFull(fd, buf.data(), size, 0));
    if (GrewPast(fd, size)) return Status::Error(EAGAIN, "file grew while being captured");
    NEXUS_GIT(git_odb_hash(&oid, buf.data(), buf.size(), GIT_OBJECT_BLOB), "hash blob");
    // No refresh on a miss: a content packed since the last refresh is at
    // worst stored twice, never lost.
    if (git_odb_exists_ext(odb_.get(), &oid, GIT_ODB_LOOKUP_NO_REFRESH)) return oid;
    NEXUS_RETURN_IF_ERROR(packs_->Append(oid, GIT_OBJECT_BLOB, buf));
    return oid;
  }
  // Large content: a sample of its start decides whether deflating it pays
  // (media, archives, compressed and random data do not compress).
  std::string buf(kStreamChunk, '\0');
  NEXUS_RETURN_IF_ERROR(ReadFull(fd, buf.data(), kCompressSample, 0));
  if (!Compressible(buf.data(), kCompressSample))
    return WriteStoredBlob(git_dir_, fd, size, buf, cancel_captures_);
  git_odb_stream* raw = nullptr;
  NEXUS_GIT(git_odb_open_wstream(&raw, odb_.get(), size, GIT_OBJECT_BLOB), "open blob stream");
  GitHandle<git_odb_stream, git_odb_stream_free> stream(raw);
  for (uint64_t off = 0; off < size;) {
    if (cancel_captures_.load(std::memory_order_relaxed))
      return Status::Error(ECANCELED, "capture cancelled: shutting down");
    size_t len = static_cast<size_t>(std::min<uint64_t>(kStreamChunk, size - off));
    NEXUS_RETURN_IF_ERROR(ReadFull(fd, buf.data(), len, off));
    NEXUS_GIT(git_odb_stream_write(stream.get(), buf.data(), len), "write blob stream");
    off += len;
  }
  if (GrewPast(fd, size)) return Status::Error(EAGAIN, "file grew while being captured");
  NEXUS_GIT(git_odb_stream_finalize_write(&oid, stream.get()), "finish blob stream");
  return oid;
}

Status VersionStore::InsertChange(char op, const std::string& zone, const std::string& path,
                                  const std::string& old_path, int64_t file_id, uint32_t n,
                                  const std::string& blob, uint64_t size, uint32_t mode,
                                  const Provenance& who, const std::string& note, int64_t time_ns) {
  std::string subject = SanitizeField(who.subject);
  if (subject.empty()) subject = UidSubject(who.uid);
  Statement q = db_->Prepare(
      "INSERT INTO changes(op, zone, path, old_path, file_id, n, blob, size, mode, time_ns, "
      "subject, uid, pid, command, agent_id, task_id, note) "
      "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  q.Bind(std::string_view(&op, 1)).Bind(zone).Bind(path).Bind(old_path).Bind(file_id).Bind(n);
  q.Bind(blob).Bind(size).Bind(mode).Bind(time_ns).Bind(subject).Bind(who.uid).Bind(who.pid);
  q.Bind(SanitizeField(who.command)).Bind(SanitizeField(who.agent_id)).Bind(SanitizeField(who.task_id));
  return q.Bind(note).Run();
}

void VersionStore::NotePending(size_t n) {
  {
    MutexLock lk(wake_mu_);
    pending_ += n;
  }
  if (options_.run_committer) wake_cv_.notify_one();
}

Result<CaptureResult> VersionStore::RecordVersion(const std::string& zone, const std::string& path,
                                                  const git_oid& oid, uint64_t size, uint32_t mode,
                                                  const Provenance& who, const std::string& note) {
  const std::string blob = OidHex(oid);
  const int64_t now = Now();
  MutexLock lk(db_mu_);
  auto result = InTransaction(*db_, [&]() REQUIRES(db_mu_) -> Result<CaptureResult> {
    auto file = FindFile(*db_, zone, path);
    if (file && !file->deleted && file->last_blob == blob) return CaptureResult{false, file->last_n, blob};
    int64_t id = file ? file->id : 0;
    if (!file) {
      NEXUS_RETURN_IF_ERROR(
          db_->Prepare("INSERT INTO files(zone, path) VALUES(?,?)").Bind(zone).Bind(path).Run());
      id = db_->LastInsertId();
    }
    const uint32_t n = file ? file->last_n + 1 : 1;
    NEXUS_RETURN_IF_ERROR(InsertChange('W', zone, path, "", id, n, blob, size, mode, who, note, now));
    NEXUS_RETURN_IF_ERROR(db_->Prepare("UPDATE files SET deleted=0, last_n=?, last_blob=? WHERE id=?")
                              .Bind(n)
                              .Bind(blob)
                              .Bind(id)
                              .Run());
    return CaptureResult{true, n, blob};
  });
  if (result.ok() && result->recorded) NotePending(1);
  return result;
}

Result<CaptureResult> VersionStore::Capture(const std::string& zone, const std::string& path, int fd,
                                            const Provenance& who, mode_t file_mode,
                                            const std::function<bool()>& unchanged) {
  NEXUS_RETURN_IF_ERROR(layout::ValidateZone(zone));
  auto norm = ZoneRelativePath(path);
  NEXUS_RETURN_IF_FAILED(norm);
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("stat captured file");
  if (!S_ISREG(st.st_mode)) return Status::Error(EINVAL, "capture of " + *norm + ": not a regular file");
  const mode_t perm = file_mode ? file_mode : st.st_mode;
  const uint32_t mode = (perm & 0111) ? kModeExecutable : kModeFile;
  MutexLock lk(capture_mu_);
  auto oid = WriteBlob(fd, static_cast<uint64_t>(st.st_size));
  NEXUS_RETURN_IF_FAILED(oid);
  if (unchanged && !unchanged()) return Status::Error(EAGAIN, "file changed while being captured");
  return RecordVersion(zone, *norm, *oid, static_cast<uint64_t>(st.st_size), mode, who, "");
}

Result<CaptureResult> VersionStore::CaptureFile(const std::string& zone, const std::string& path,
                                                const std::string& host_path, const Provenance& who) {
  int fd = ::open(host_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + host_path);
  auto r = Capture(zone, path, fd, who);
  ::close(fd);
  return r;
}

namespace {

// Live files at `path` or under it: (id, path).
std::vector<std::pair<int64_t, std::string>> LiveFilesAt(SqliteDb& db, const std::string& zone,
                                                         const std::string& path) {
  // Paths under "a/b" sort between "a/b/" and "a/b0" ('0' follows '/').
  // Two index searches: an OR of the name and the range makes SQLite scan
  // every file of the zone, which made each removal cost O(files).
  Statement q = db.Prepare(
      "SELECT id, path FROM files WHERE zone=?1 AND path=?2 AND deleted=0 UNION ALL "
      "SELECT id, path FROM files WHERE zone=?1 AND path>?3 AND path<?4 AND deleted=0");
  q.Bind(zone).Bind(path).Bind(path + "/").Bind(path + "0");
  std::vector<std::pair<int64_t, std::string>> out;
  while (q.Next()) out.emplace_back(q.Int(0), q.Text(1));
  return out;
}

}  // namespace

Status VersionStore::Remove(const std::string& zone, const std::string& path, const Provenance& who) {
  NEXUS_RETURN_IF_ERROR(layout::ValidateZone(zone));
  auto norm = ZoneRelativePath(path);
  NEXUS_RETURN_IF_FAILED(norm);
  MutexLock cap(capture_mu_);
  MutexLock lk(db_mu_);
  NEXUS_RETURN_IF_ERROR(InTransaction(*db_, [&]() REQUIRES(db_mu_) -> Status {
    auto files = LiveFilesAt(*db_, zone, *norm);
    if (files.empty()) return Status::Error(ENOENT, "nothing versioned at " + NamespacePath(zone, *norm));
    for (const auto& [id, p] : files)
      NEXUS_RETURN_IF_ERROR(db_->Prepare("UPDATE files SET deleted=1 WHERE id=?").Bind(id).Run());
    return InsertChange('D', zone, *norm, "", 0, 0, "", 0, 0, who, "", Now());
  }));
  NotePending(1);
  return Status::Ok();
}

Status VersionStore::Rename(const std::string& zone, const std::string& from, const std::string& to,
                            const Provenance& who) {
  NEXUS_RETURN_IF_ERROR(layout::ValidateZone(zone));
  auto src = ZoneRelativePath(from);
  NEXUS_RETURN_IF_FAILED(src);
  auto dst = ZoneRelativePath(to);
  NEXUS_RETURN_IF_FAILED(dst);
  if (*src == *dst) return Status::Ok();
  if (dst->starts_with(*src + "/")) return Status::Error(EINVAL, "cannot move " + *src + " into itself");
  MutexLock cap(capture_mu_);
  MutexLock lk(db_mu_);
  const int64_t now = Now();
  size_t changes = 1;
  NEXUS_RETURN_IF_ERROR(InTransaction(*db_, [&]() REQUIRES(db_mu_) -> Status {
    auto files = LiveFilesAt(*db_, zone, *src);
    if (files.empty()) return Status::Error(ENOENT, "nothing versioned at " + NamespacePath(zone, *src));
    NEXUS_RETURN_IF_ERROR(InsertChange('R', zone, *dst, *src, 0, 0, "", 0, 0, who, "", now));
    for (const auto& [id, old_path] : files) {
      const std::string new_path = *dst + old_path.substr(src->size());
      auto target = FindFile(*db_, zone, new_path);
      if (!target || target->deleted) {
        NEXUS_RETURN_IF_ERROR(
            db_->Prepare("UPDATE files SET path=? WHERE id=?").Bind(new_path).Bind(id).Run());
        continue;
      }
      // Replacing a versioned file (an editor's atomic save): the target
      // keeps its history and gains the source's content as a new version.
      Statement latest = db_->Prepare(
          "SELECT c.blob, c.size, c.mode FROM files f JOIN changes c ON c.file_id=f.id AND "
          "c.n=f.last_n AND c.op='W' WHERE f.id=?");
      latest.Bind(id);
      if (!latest.Next()) return Status::Error(EIO, "version index: no latest version of " + old_path);
      const std::string blob = latest.Text(0);
      const uint64_t size = static_cast<uint64_t>(latest.Int(1));
      const uint32_t mode = static_cast<uint32_t>(latest.Int(2));
      if (blob != target->last_blob) {
        const uint32_t n = target->last_n + 1;
        NEXUS_RETURN_IF_ERROR(InsertChange('W', zone, new_path, "", target->id, n, blob, size, mode, who,
                                           "renamed from " + old_path, now));
        NEXUS_RETURN_IF_ERROR(db_->Prepare("UPDATE files SET last_n=?, last_blob=? WHERE id=?")
                                  .Bind(n)
                                  .Bind(blob)
                                  .Bind(target->id)
                                  .Run());
        ++changes;
      }
      NEXUS_RETURN_IF_ERROR(db_->Prepare("UPDATE files SET deleted=1 WHERE id=?").Bind(id).Run());
    }
    return Status::Ok();
  }));
  NotePending(changes);
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Committing

Status VersionStore::Flush() {
  MutexLock lk(commit_mu_);
  return CommitPending();
}

void VersionStore::CommitterLoop() {
  LowerThreadPriority();
  MutexLock lk(wake_mu_);
  while (!stop_) {
    lk.Wait(wake_cv_, [&]() REQUIRES(wake_mu_) { return stop_ || pending_ > 0; });
    if (stop_) break;
    // The group-commit window: wait for more records unless a batch is full.
    lk.WaitFor(wake_cv_, options_.commit_window,
               [&]() REQUIRES(wake_mu_) { return stop_ || pending_ >= options_.commit_batch; });
    lk.Unlock();
    Status st;
    {
      MutexLock commit_lk(commit_mu_);
      st = CommitPending();
    }
    lk.Lock();
    if (!st.ok()) {
      spdlog::warn("version store: commit failed, retrying: {}", st.ToString());
      lk.WaitFor(wake_cv_, options_.commit_window, [&]() REQUIRES(wake_mu_) { return stop_; });
    }
  }
}

// Blob files must be on disk before the journal records naming them are
// declared durable. Only content over kInlineBlobBytes is loose; the rest is
// in the group's pack, which PackStore::Finish syncs. (Counting packed blobs
// here once made every large group a syncfs of the whole filesystem, which
// stalled the very writes being versioned.)
Status VersionStore::SyncBlobs(const std::vector<Change>& changes) {
  std::set<std::string> blobs;
  for (const Change& c : changes)
    if (c.op == 'W' && c.size > kInlineBlobBytes) blobs.insert(c.blob);
  auto sync_path = [](const std::string& p, int flags) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0) return errno == ENOENT;  // packed, or already gone
    bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
  };
  if (blobs.size() > kMaxBlobFsyncs) {
    int fd = ::open((git_dir_ + "/objects").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("open objects directory");
    int rc = ::syncfs(fd);
    ::close(fd);
    if (rc != 0) return Status::FromErrno("syncfs objects");
    return Status::Ok();
  }
  std::set<std::string> dirs;
  for (const std::string& hex : blobs) {
    if (!sync_path(LooseObjectPath(git_dir_, hex), 0)) return Status::FromErrno("fsync blob " + hex);
    dirs.insert(git_dir_ + "/objects/" + hex.substr(0, 2));
  }
  for (const std::string& d : dirs)
    if (!sync_path(d, O_DIRECTORY)) return Status::FromErrno("fsync " + d);
  return Status::Ok();
}

Result<ZoneTree*> VersionStore::ZoneTreeFor(const std::string& zone) {
  auto it = zone_trees_.find(zone);
  if (it != zone_trees_.end()) {
    git_oid ref;
    int rc = git_reference_name_to_id(&ref, commit_repo_.get(), ("refs/heads/" + zone).c_str());
    const ZoneTree& zt = *it->second;
    bool current =
        rc == 0 ? zt.has_head && git_oid_equal(&ref, &zt.head) : rc == GIT_ENOTFOUND && !zt.has_head;
    if (current) return it->second.get();
    zone_trees_.erase(it);
  }
  auto zt = LoadZoneTree(commit_repo_.get(), zone, /*fresh=*/false);
  NEXUS_RETURN_IF_FAILED(zt);
  auto& slot = zone_trees_[zone];
  slot = std::make_unique<ZoneTree>(std::move(zt).value());
  return slot.get();
}

Status VersionStore::CommitPending() {
  int64_t last_seq = 0;
  {
    MutexLock lk(db_mu_);
    Statement q = db_->Prepare("SELECT MAX(seq) FROM changes");
    if (q.Next()) last_seq = q.Int(0);
  }
  while (true) {
    std::vector<Change> rows;
    {
      MutexLock lk(db_mu_);
      Statement q = db_->Prepare("SELECT " NEXUS_CHANGE_COLUMNS
                                 " FROM changes WHERE commit_id IS NULL AND seq<=? ORDER BY seq LIMIT ?");
      q.Bind(last_seq).Bind(kCommitRound);
      while (q.Next()) rows.push_back(ReadChange(q));
    }
    if (rows.empty()) return Status::Ok();
    NEXUS_RETURN_IF_ERROR(SyncBlobs(rows));

    std::map<std::string, std::vector<const Change*>> by_zone;
    for (const Change& c : rows) by_zone[c.zone].push_back(&c);
    std::vector<std::pair<int64_t, std::string>> assigned;
    std::vector<ZoneTree*> touched;
    for (const auto& [zone, changes] : by_zone) {
      auto zt = ZoneTreeFor(zone);
      Status st = zt.ok()
                      ? CommitRuns(
                            commit_repo_.get(), **zt, changes,
                            [](const Change& a, const Change& b) { return a.who.subject == b.who.subject; },
                            &assigned)
                      : zt.status();
      if (!st.ok()) {
        zone_trees_.clear();  // their indexes hold uncommitted edits
        return st;
      }
      touched.push_back(*zt);
    }
    // The group's pack (its blobs, trees and commits) is durable before the
    // index declares the records committed.
    if (Status st = packs_->Finish(); !st.ok()) {
      zone_trees_.clear();
      return st;
    }

    // Commit ids go to the index (durably) before the refs move; Reconcile
    // repairs the refs after a crash in between.
    Status st;
    {
      MutexLock lk(db_mu_);
      st = db_->SetSynchronous(SqliteOptions::Sync::kFull);
      if (st.ok()) {
        st = InTransaction(*db_, [&]() REQUIRES(db_mu_) -> Status {
          for (const auto& [seq, commit] : assigned)
            NEXUS_RETURN_IF_ERROR(
                db_->Prepare("UPDATE changes SET commit_id=? WHERE seq=?").Bind(commit).Bind(seq).Run());
          return Status::Ok();
        });
      }
      Status back = db_->SetSynchronous(SqliteOptions::Sync::kNormal);
      if (st.ok()) st = back;
    }
    if (!st.ok()) {
      zone_trees_.clear();
      return st;
    }
    for (ZoneTree* zt : touched) {
      if (!zt->has_head) continue;
      git_reference* ref = nullptr;
      int rc = git_reference_create(&ref, commit_repo_.get(), ("refs/heads/" + zt->zone).c_str(), &zt->head,
                                    1, "nexus commit");
      git_reference_free(ref);
      if (rc < 0) {
        Status err = GitError(rc, "update branch " + zt->zone);
        zone_trees_.clear();
        NEXUS_RETURN_IF_ERROR(Reconcile());
        return err;
      }
    }
    MutexLock lk(wake_mu_);
    pending_ -= std::min(pending_, rows.size());
  }
}

// ---------------------------------------------------------------------------
// Queries

Result<std::vector<std::string>> VersionStore::ZonesOf(SqliteDb& db) {
  std::vector<std::string> zones;
  Statement q = db.Prepare("SELECT DISTINCT zone FROM files ORDER BY zone");
  while (q.Next()) zones.push_back(q.Text(0));
  return zones;
}

Result<std::vector<std::string>> VersionStore::Zones() {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  return ZonesOf(lease->db());
}

namespace {

// The smallest path of `zone` in [lo, hi) (hi empty: no upper bound).
std::optional<std::string> FirstPathFrom(SqliteDb& db, const std::string& zone, const std::string& lo,
                                         const std::string& hi) {
  if (hi.empty()) {
    Statement q = db.Prepare("SELECT path FROM files WHERE zone=? AND path>=? ORDER BY path LIMIT 1");
    q.Bind(zone).Bind(lo);
    if (q.Next()) return q.Text(0);
    return std::nullopt;
  }
  Statement q =
      db.Prepare("SELECT path FROM files WHERE zone=? AND path>=? AND path<? ORDER BY path LIMIT 1");
  q.Bind(zone).Bind(lo).Bind(hi);
  if (q.Next()) return q.Text(0);
  return std::nullopt;
}

}  // namespace

Result<std::vector<VersionedEntry>> VersionStore::ListVersionedDir(const std::string& zone,
                                                                   const std::string& dir) {
  NEXUS_RETURN_IF_ERROR(layout::ValidateZone(zone));
  std::string prefix;  // "" or "a/b/"
  if (dir.find_first_not_of('/') != std::string::npos) {
    auto norm = ZoneRelativePath(dir);
    NEXUS_RETURN_IF_FAILED(norm);
    prefix = *norm + "/";
  }
  // Paths below "a/b" sort in ["a/b/", "a/b0"): '0' follows '/'.
  const std::string hi = prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1) + "0";
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  // Skip scan: each seek finds the next name, then jumps past it. A file
  // "c" is followed by names that extend it ("c.txt", before "c/") and by
  // the paths below "c/"; paths hold no NUL, so "c\x01" is the smallest
  // path after "c", and "c0" the first after everything below "c/".
  std::map<std::string, VersionedEntry> names;
  std::string lo = prefix;
  while (auto path = FirstPathFrom(lease->db(), zone, lo, hi)) {
    std::string_view rest = std::string_view(*path).substr(prefix.size());
    const size_t slash = rest.find('/');
    std::string name(rest.substr(0, slash));
    VersionedEntry& e = names[name];
    e.name = name;
    if (slash == std::string_view::npos) {
      e.file = true;
      lo = *path + '\x01';
    } else {
      e.dir = true;
      lo = prefix + name + '0';
    }
  }
  std::vector<VersionedEntry> out;
  out.reserve(names.size());
  for (auto& [name, e] : names) out.push_back(std::move(e));
  return out;
}

Result<VersionedEntry> VersionStore::StatVersionedPath(const std::string& zone, const std::string& path) {
  NEXUS_RETURN_IF_ERROR(layout::ValidateZone(zone));
  std::string norm;
  if (path.find_first_not_of('/') != std::string::npos) {
    auto n = ZoneRelativePath(path);
    NEXUS_RETURN_IF_FAILED(n);
    norm = std::move(n).value();
  }
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  VersionedEntry e;
  e.name = norm.substr(norm.rfind('/') + 1);
  if (norm.empty()) {
    e.dir = FirstPathFrom(lease->db(), zone, "", "").has_value();
  } else {
    e.file = FindFile(lease->db(), zone, norm).has_value();
    e.dir = FirstPathFrom(lease->db(), zone, norm + "/", norm + "0").has_value();
  }
  if (!e.file && !e.dir) return Status::Error(ENOENT, "nothing versioned at " + NamespacePath(zone, norm));
  return e;
}

Result<FileHistory> VersionStore::History(const std::string& zone, const std::string& path) {
  NEXUS_RETURN_IF_ERROR(layout::ValidateZone(zone));
  auto norm = ZoneRelativePath(path);
  NEXUS_RETURN_IF_FAILED(norm);
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  SqliteDb& db = lease->db();
  auto file = FindFile(db, zone, *norm);
  if (!file) return Status::Error(ENOENT, "no versions of " + NamespacePath(zone, *norm));
  FileHistory h;
  h.zone = zone;
  h.path = file->path;
  h.deleted = file->deleted;
  Statement q =
      db.Prepare("SELECT " NEXUS_CHANGE_COLUMNS " FROM changes WHERE file_id=? AND op='W' ORDER BY n");
  q.Bind(file->id);
  while (q.Next()) h.versions.push_back(ToVersion(ReadChange(q)));
  return h;
}

Result<uint32_t> VersionStore::LatestNumber(const std::string& zone, const std::string& path,
                                            bool even_if_deleted) {
  NEXUS_RETURN_IF_ERROR(layout::ValidateZone(zone));
  auto norm = ZoneRelativePath(path);
  NEXUS_RETURN_IF_FAILED(norm);
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  auto file = FindFile(lease->db(), zone, *norm);
  return file && (even_if_deleted || !file->deleted) ? file->last_n : 0u;
}

Result<std::vector<Change>> VersionStore::ChangesAfter(int64_t after_seq, size_t limit) {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  Statement q =
      lease->db().Prepare("SELECT " NEXUS_CHANGE_COLUMNS " FROM changes WHERE seq > ? ORDER BY seq LIMIT ?");
  q.Bind(after_seq).Bind(static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  std::vector<Change> out;
  while (q.Next()) out.push_back(ReadChange(q));
  NEXUS_RETURN_IF_ERROR(q.status());
  return out;
}

Result<int64_t> VersionStore::LastSeq() {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  Statement q = lease->db().Prepare("SELECT COALESCE(MAX(seq), 0) FROM changes");
  int64_t seq = q.Next() ? q.Int(0) : 0;
  NEXUS_RETURN_IF_ERROR(q.status());
  return seq;
}

Result<std::vector<Version>> VersionStore::LatestVersions(const std::string& zone) {
  NEXUS_RETURN_IF_ERROR(layout::ValidateZone(zone));
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  SqliteDb& db = lease->db();
  Statement q = db.Prepare(
      "SELECT f.path, c.n, c.blob, c.size, c.mode, c.time_ns FROM files f JOIN changes c"
      " ON c.file_id=f.id AND c.n=f.last_n AND c.op='W' WHERE f.zone=? AND f.deleted=0");
  q.Bind(zone);
  std::vector<Version> out;
  while (q.Next()) {
    Version v;
    v.zone = zone;
    v.path = q.Text(0);
    v.number = static_cast<uint32_t>(q.Int(1));
    v.blob = q.Text(2);
    v.size = static_cast<uint64_t>(q.Int(3));
    v.mode = static_cast<uint32_t>(q.Int(4));
    v.time_ns = q.Int(5);
    out.push_back(std::move(v));
  }
  return out;
}

Result<Version> VersionStore::LoadVersion(SqliteDb& db, const std::string& zone, const std::string& path,
                                          uint32_t n) {
  NEXUS_RETURN_IF_ERROR(layout::ValidateZone(zone));
  auto norm = ZoneRelativePath(path);
  NEXUS_RETURN_IF_FAILED(norm);
  auto file = FindFile(db, zone, *norm);
  if (!file) return Status::Error(ENOENT, "no versions of " + NamespacePath(zone, *norm));
  Statement q = db.Prepare("SELECT " NEXUS_CHANGE_COLUMNS " FROM changes WHERE file_id=? AND op='W' AND n=?");
  q.Bind(file->id).Bind(n);
  if (!q.Next())
    return Status::Error(ENOENT, NamespacePath(zone, *norm) + " has no version " + std::to_string(n));
  return ToVersion(ReadChange(q));
}

Result<Version> VersionStore::GetVersion(const std::string& zone, const std::string& path, uint32_t n) {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  return LoadVersion(lease->db(), zone, path, n);
}

Result<std::shared_ptr<const std::string>> VersionStore::LoadBlob(git_repository* repo,
                                                                  const std::string& hex) {
  {
    MutexLock lk(cache_mu_);
    auto it = blob_index_.find(hex);
    if (it != blob_index_.end()) {
      blob_cache_.splice(blob_cache_.begin(), blob_cache_, it->second);
      return it->second->second;
    }
  }
  git_oid oid;
  if (!ParseOid(hex, &oid)) return Status::Error(EINVAL, "invalid object id '" + hex + "'");
  git_odb* raw = nullptr;
  NEXUS_GIT(git_repository_odb(&raw, repo), "odb");
  OdbPtr odb(raw);
  git_odb_object* obj = nullptr;
  NEXUS_GIT(git_odb_read(&obj, odb.get(), &oid), "read object " + hex);
  OdbObjectPtr object(obj);
  if (git_odb_object_type(obj) != GIT_OBJECT_BLOB)
    return Status::Error(EINVAL, "object " + hex + " is not a file's content");
  auto data = std::make_shared<const std::string>(static_cast<const char*>(git_odb_object_data(obj)),
                                                  git_odb_object_size(obj));
  if (data->size() <= kBlobCacheBytes / 4) {
    MutexLock lk(cache_mu_);
    if (blob_index_.count(hex)) return data;  // another reader cached it meanwhile
    blob_cache_.emplace_front(hex, data);
    blob_index_[hex] = blob_cache_.begin();
    blob_cache_bytes_ += data->size();
    while (blob_cache_bytes_ > kBlobCacheBytes) {
      blob_cache_bytes_ -= blob_cache_.back().second->size();
      blob_index_.erase(blob_cache_.back().first);
      blob_cache_.pop_back();
    }
  }
  return data;
}

Result<std::string> VersionStore::Get(const std::string& zone, const std::string& path, uint32_t n) {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  auto v = LoadVersion(lease->db(), zone, path, n);
  NEXUS_RETURN_IF_FAILED(v);
  auto data = LoadBlob(lease->repo(), v->blob);
  NEXUS_RETURN_IF_FAILED(data);
  return std::string(**data);
}

Status VersionStore::StreamBlob(git_repository* repo, const std::string& hex, int fd) {
  git_oid oid;
  if (!ParseOid(hex, &oid)) return Status::Error(EINVAL, "invalid object id '" + hex + "'");
  git_odb* raw = nullptr;
  NEXUS_GIT(git_repository_odb(&raw, repo), "odb");
  OdbPtr odb(raw);
  // Loose objects stream in chunks; a backend without streaming reads whole.
  git_odb_stream* s = nullptr;
  size_t len = 0;
  git_object_t type;
  if (git_odb_open_rstream(&s, &len, &type, odb.get(), &oid) == 0) {
    GitHandle<git_odb_stream, git_odb_stream_free> stream(s);
    if (type != GIT_OBJECT_BLOB) return Status::Error(EINVAL, "object " + hex + " is not a file's content");
    std::string buf(kStreamChunk, '\0');
    while (true) {
      int got = git_odb_stream_read(stream.get(), buf.data(), buf.size());
      if (got < 0) return GitError(got, "read blob " + hex);
      if (got == 0) break;
      NEXUS_RETURN_IF_ERROR(WriteAll(fd, buf.data(), static_cast<size_t>(got)));
    }
    return Status::Ok();
  }
  auto data = LoadBlob(repo, hex);
  NEXUS_RETURN_IF_FAILED(data);
  return WriteAll(fd, (*data)->data(), (*data)->size());
}

Status VersionStore::GetTo(const std::string& zone, const std::string& path, uint32_t n, int fd) {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  auto v = LoadVersion(lease->db(), zone, path, n);
  NEXUS_RETURN_IF_FAILED(v);
  git_oid oid;
  if (!ParseOid(v->blob, &oid)) return Status::Error(EIO, "bad blob id " + v->blob);
  return StreamBlob(lease->repo(), v->blob, fd);
}

Status VersionStore::ReadBlobTo(const std::string& oid, int fd) {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  return StreamBlob(lease->repo(), oid, fd);
}

Result<std::string> VersionStore::ReadBlob(const std::string& oid, uint64_t offset, uint64_t length) {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  auto data = LoadBlob(lease->repo(), oid);
  NEXUS_RETURN_IF_FAILED(data);
  const std::string& d = **data;
  if (offset >= d.size()) return std::string();
  return d.substr(offset, std::min<uint64_t>(length, d.size() - offset));
}

Result<std::string> VersionStore::Diff(const std::string& zone, const std::string& path, uint32_t a,
                                       uint32_t b, DiffMode mode) {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  auto va = LoadVersion(lease->db(), zone, path, a);
  NEXUS_RETURN_IF_FAILED(va);
  auto vb = LoadVersion(lease->db(), zone, path, b);
  NEXUS_RETURN_IF_FAILED(vb);
  if (mode == DiffMode::kContent && va->blob == vb->blob) return std::string();
  if (mode == DiffMode::kMetadata) {
    std::string out;
    auto line = [&out](const char* field, const std::string& x, const std::string& y) {
      out += std::string(field) + ": " + (x == y ? x : x + " → " + y) + "\n";
    };
    line("version", std::to_string(a), std::to_string(b));
    line("path", va->path, vb->path);
    line("size", WithSeparators(va->size) + " bytes", WithSeparators(vb->size) + " bytes");
    line("mode", OctalMode(va->mode, 6), OctalMode(vb->mode, 6));
    line("time", FormatRfc3339(va->time_ns, 0), FormatRfc3339(vb->time_ns, 0));
    line("author", va->provenance.subject, vb->provenance.subject);
    line("command", va->provenance.command, vb->provenance.command);
    line("content", va->blob, vb->blob);
    return out;
  }
  git_oid oa, ob;
  if (!ParseOid(va->blob, &oa) || !ParseOid(vb->blob, &ob))
    return Status::Error(EIO, "bad blob id in the version index");
  git_blob* raw = nullptr;
  NEXUS_GIT(git_blob_lookup(&raw, lease->repo(), &oa), "blob " + va->blob);
  BlobPtr blob_a(raw);
  NEXUS_GIT(git_blob_lookup(&raw, lease->repo(), &ob), "blob " + vb->blob);
  BlobPtr blob_b(raw);
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  git_patch* p = nullptr;
  NEXUS_GIT(git_patch_from_blobs(&p, blob_a.get(), va->path.c_str(), blob_b.get(), vb->path.c_str(), &opts),
            "diff");
  PatchPtr patch(p);
  if (!patch) return std::string();  // identical
  if (git_patch_get_delta(p)->flags & GIT_DIFF_FLAG_BINARY)
    return "binary files differ: " + WithSeparators(va->size) + " → " + WithSeparators(vb->size) + " bytes\n";
  git_buf buf = GIT_BUF_INIT;
  NEXUS_GIT(git_patch_to_buf(&buf, p), "format diff");
  std::string out(buf.ptr, buf.size);
  git_buf_dispose(&buf);
  return out;
}

Result<StoreStats> VersionStore::Stats() {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  StoreStats s;
  SqliteDb& db = lease->db();
  {
    Statement q = db.Prepare("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM changes WHERE op='W'");
    if (q.Next()) s.versions = q.Int(0), s.logical_bytes = q.Int(1);
  }
  {
    Statement q = db.Prepare(
        "SELECT COALESCE(SUM(size), 0) FROM "
        "(SELECT MAX(size) size FROM changes WHERE op='W' GROUP BY blob)");
    if (q.Next()) s.unique_bytes = q.Int(0);
  }
  {
    Statement q = db.Prepare("SELECT COUNT(*) FROM files");
    if (q.Next()) s.files = q.Int(0);
  }
  s.dedup_ratio = s.unique_bytes ? double(s.logical_bytes) / double(s.unique_bytes) : 1.0;
  git_odb* raw = nullptr;
  NEXUS_GIT(git_repository_odb(&raw, lease->repo()), "odb");
  OdbPtr odb(raw);
  NEXUS_GIT(git_odb_foreach(
                odb.get(),
                [](const git_oid*, void* count) {
                  ++*static_cast<uint64_t*>(count);
                  return 0;
                },
                &s.objects),
            "count objects");
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(git_dir_ + "/objects", ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) s.disk_bytes += it->file_size(ec);
  return s;
}

// ---------------------------------------------------------------------------
// Undoing changes

Result<WriteBack> VersionStore::Rollback(const std::string& zone, const std::string& path, uint32_t n,
                                         const Provenance& who) {
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  auto v = LoadVersion(lease->db(), zone, path, n);
  NEXUS_RETURN_IF_FAILED(v);
  auto data = LoadBlob(lease->repo(), v->blob);
  NEXUS_RETURN_IF_FAILED(data);
  git_oid oid;
  ParseOid(v->blob, &oid);
  auto norm = ZoneRelativePath(path);
  NEXUS_RETURN_IF_FAILED(norm);
  MutexLock lk(capture_mu_);
  auto r = RecordVersion(zone, *norm, oid, v->size, v->mode, who, "rollback to v" + std::to_string(n));
  NEXUS_RETURN_IF_FAILED(r);
  return WriteBack{**data, v->mode, r->version, r->recorded};
}

Result<WriteBack> VersionStore::Restore(const std::string& zone, const std::string& path,
                                        const Provenance& who) {
  NEXUS_RETURN_IF_ERROR(layout::ValidateZone(zone));
  auto norm = ZoneRelativePath(path);
  NEXUS_RETURN_IF_FAILED(norm);
  auto lease = Borrow();
  NEXUS_RETURN_IF_FAILED(lease);
  auto file = FindFile(lease->db(), zone, *norm);
  if (!file) return Status::Error(ENOENT, "no versions of " + NamespacePath(zone, *norm));
  auto v = LoadVersion(lease->db(), zone, *norm, file->last_n);
  NEXUS_RETURN_IF_FAILED(v);
  auto data = LoadBlob(lease->repo(), v->blob);
  NEXUS_RETURN_IF_FAILED(data);
  git_oid oid;
  ParseOid(v->blob, &oid);
  MutexLock lk(capture_mu_);
  auto r = RecordVersion(zone, *norm, oid, v->size, v->mode, who, "restore");
  NEXUS_RETURN_IF_FAILED(r);
  return WriteBack{**data, v->mode, r->version, r->recorded};
}

}  // namespace nexus::versions
