// Files and locks: write, cat, ls, stat, metadata, exists, read-bulk,
// mkdir, rmdir, rename-batch, rm-batch, lock ...
#include <unistd.h>

#include <cstdio>
#include <string>

#include <kj/debug.h>
#include <kj/vector.h>

#include "rpc/bytes.h"
#include "cli/cli.h"
#include "rpc/errors.h"

namespace nexus::cli {
namespace {

using nlohmann::json;

constexpr uint64_t kReadChunk = 8u << 20;
constexpr size_t kStreamChunk = 1u << 20;

json ContentJson(std::string_view data) {
  if (IsValidUtf8(data)) return {{"content", std::string(data)}};
  return {{"content_base64", Base64Encode(data)}};
}

json StatJson(rpc::FileStat::Reader s, bool detailed) {
  json j = {
      {"path", std::string(s.getPath())},
      {"is_directory", s.getIsDirectory()},
      {"kind", std::string(s.getKind())},
      {"size", s.getSize()},
      {"mode", LsMode(s.getMode())},
      {"uid", s.getUid()},
      {"gid", s.getGid()},
      {"modified_at", FormatTime(s.getModifiedAtNs())},
      {"content_id", s.getContentId().size() ? json(std::string(s.getContentId())) : json(nullptr)},
      // Version numbers arrive with versioning; until then there is none.
      {"version", s.getVersion() ? json(s.getVersion()) : json(nullptr)},
  };
  if (s.getSymlinkTarget().size()) j["symlink_target"] = std::string(s.getSymlinkTarget());
  if (detailed) {
    j["mime_type"] = std::string(s.getMimeType());
    j["created_at"] = FormatTime(s.getCreatedAtNs());
    j["zone"] = std::string(s.getZone());
  }
  return j;
}

json ErrorJson(rpc::Error::Reader e) {
  return {{"code", ErrorCodeName(e.getCode())},
          {"errno", e.getErrno()},
          {"message", std::string(e.getMessage())}};
}

// Runs `fn` with a connected client; connection errors are reported.
int WithClient(Cli& cli, const std::function<int(NexusClient&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  return fn(**c);
}

rpc::Files::Client FilesOf(NexusClient& c) { return c.session().filesRequest().send().getFiles(); }

// ---------------------------------------------------------------- write / cat

int Write(Cli& cli, const Args& a) {
  const std::string path = a.positional[0];
  bool from_stdin = a.Has("stream") || a.positional.size() < 2;
  if (a.Has("stream") && a.positional.size() > 1) return cli.Usage("give TEXT or --stream, not both");
  auto offset = a.Number("offset", 0, 0, 1e18);
  if (!offset.ok()) return cli.Fail(offset.status(), true);
  return WithClient(cli, [&](NexusClient& c) -> int {
    auto files = FilesOf(c);
    rpc::FileStat::Reader stat;
    kj::Maybe<capnp::Response<rpc::Files::WriteResults>> write_reply;
    kj::Maybe<capnp::Response<rpc::ByteSink::DoneResults>> done_reply;
    if (!from_stdin || a.Has("append") || a.Has("offset")) {
      std::string data;
      if (from_stdin) {
        char buf[65536];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) data.append(buf, n);
      } else {
        data = a.positional[1];
      }
      auto req = files.writeRequest();
      req.setPath(path);
      req.setData(AsBytes(data));
      req.setAppend(a.Has("append"));
      req.setTruncate(!a.Has("append") && !a.Has("offset"));
      req.setOffset(static_cast<uint64_t>(*offset));
      req.setCreateParents(a.Has("parents"));
      auto r = c.Wait(req.send());
      if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
      write_reply = std::move(r).value();
      stat = KJ_ASSERT_NONNULL(write_reply).getStat();
    } else {
      auto open = files.writeStreamRequest();
      open.setPath(path);
      open.setCreateParents(a.Has("parents"));
      auto opened = c.Wait(open.send());
      if (Status st = ReplyStatus(opened); !st.ok()) return cli.Fail(st);
      auto sink = opened->getSink();
      std::string buf(kStreamChunk, '\0');
      // Keep a few chunks in flight so the pipe stays full.
      kj::Vector<kj::Promise<void>> in_flight;
      size_t n;
      uint64_t total = 0;
      const bool progress = isatty(STDERR_FILENO) && !cli.json;
      while ((n = std::fread(buf.data(), 1, buf.size(), stdin)) > 0) {
        auto req = sink.writeRequest();
        req.setData(AsBytes(std::string_view(buf.data(), n)));
        in_flight.add(req.send().ignoreResult());
        total += n;
        if (progress) std::fprintf(stderr, "\r%s: %.1f MiB sent", path.c_str(), total / 1048576.0);
        if (in_flight.size() >= 4) {
          auto w = c.Wait(kj::joinPromises(in_flight.releaseAsArray()).then([]() { return 0; }));
          if (!w.ok()) return cli.Fail(w.status());
        }
      }
      if (progress) std::fputc('\n', stderr);
      if (in_flight.size() > 0) {
        auto w = c.Wait(kj::joinPromises(in_flight.releaseAsArray()).then([]() { return 0; }));
        if (!w.ok()) return cli.Fail(w.status());
      }
      auto done = c.Wait(sink.doneRequest().send());
      if (Status st = ReplyStatus(done); !st.ok()) return cli.Fail(st);
      done_reply = std::move(done).value();
      stat = KJ_ASSERT_NONNULL(done_reply).getStat();
    }
    if (cli.json) {
      json j = StatJson(stat, false);
      j["path"] = path;
      cli.PrintJson(j);
    } else {
      std::printf("wrote %s (%llu bytes)\n", path.c_str(), static_cast<unsigned long long>(stat.getSize()));
    }
    return kExitOk;
  });
}

int Cat(Cli& cli, const Args& a) {
  auto offset = a.Number("offset", 0, 0, 1e18);
  if (!offset.ok()) return cli.Fail(offset.status(), true);
  auto length = a.Number("length", 0, 0, 1e18);
  if (!length.ok()) return cli.Fail(length.status(), true);
  auto chunk_size =
      a.Number("chunk-size", static_cast<double>(kReadChunk), 1, static_cast<double>(kReadChunk));
  if (!chunk_size.ok()) return cli.Fail(chunk_size.status(), true);
  const uint64_t chunk = static_cast<uint64_t>(*chunk_size);
  return WithClient(cli, [&](NexusClient& c) -> int {
    auto files = FilesOf(c);
    uint64_t pos = static_cast<uint64_t>(*offset);
    uint64_t left = static_cast<uint64_t>(*length);  // 0: to the end
    std::string all;
    while (true) {
      auto req = files.readRequest();
      req.setPath(a.positional[0]);
      req.setOffset(pos);
      req.setLength(left ? std::min(left, chunk) : chunk);
      auto r = c.Wait(req.send());
      if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
      auto data = AsView(r->getData());
      if (cli.json)
        all.append(data);
      else
        std::fwrite(data.data(), 1, data.size(), stdout);
      pos += data.size();
      if (left) left -= std::min<uint64_t>(left, data.size());
      if (data.empty() || pos >= r->getSize() || (a.Has("length") && left == 0)) break;
    }
    if (cli.json) {
      json j = ContentJson(all);
      j["path"] = a.positional[0];
      j["offset"] = static_cast<uint64_t>(*offset);
      j["length"] = all.size();
      cli.PrintJson(j);
    }
    return std::fflush(stdout) == 0 ? kExitOk : kExitFailed;
  });
}

// ---------------------------------------------------------------- listing and stat

int Ls(Cli& cli, const Args& a) {
  std::string path = a.positional.empty() ? "/" : a.positional[0];
  return WithClient(cli, [&](NexusClient& c) -> int {
    auto req = FilesOf(c).listRequest();
    req.setPath(path);
    req.setLong(a.Has("long") || cli.json);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      json j = json::array();
      for (auto e : r->getEntries()) {
        json s = StatJson(e.getStat(), false);
        s["name"] = std::string(e.getName());
        j.push_back(s);
      }
      cli.PrintJson(j);
      return kExitOk;
    }
    for (auto e : r->getEntries()) {
      if (!a.Has("long")) {
        std::printf("%s%s\n", e.getName().cStr(), e.getStat().getIsDirectory() ? "/" : "");
        continue;
      }
      auto s = e.getStat();
      std::string name = e.getName();
      if (s.getSymlinkTarget().size()) name += " -> " + std::string(s.getSymlinkTarget());
      std::printf("%s %3u %5u %5u %12llu %s %s\n", LsMode(s.getMode()).c_str(), s.getNlink(), s.getUid(),
                  s.getGid(), static_cast<unsigned long long>(s.getSize()),
                  FormatTime(s.getModifiedAtNs()).c_str(), name.c_str());
    }
    return kExitOk;
  });
}

// stat, metadata and exists share one round trip for all paths.
int StatLike(Cli& cli, const Args& a, bool detailed, bool exists_only) {
  return WithClient(cli, [&](NexusClient& c) -> int {
    auto req = FilesOf(c).statRequest();
    auto paths = req.initPaths(a.positional.size());
    for (size_t i = 0; i < a.positional.size(); ++i) paths.set(i, a.positional[i]);
    req.setDetailed(detailed);
    auto r = c.Wait(req.send());
    if (!r.ok()) return cli.Fail(r.status());
    int rc = kExitOk;
    json out = json::array();
    for (auto item : r->getResults()) {
      std::string path = item.getPath();
      Status st = StatusFromError(item.hasError(), item.getError());
      bool missing = st.code() == ENOENT;
      if (!st.ok() && rc == kExitOk) rc = ExitCodeFor(st);
      if (exists_only) {
        if (!st.ok() && !missing) std::fprintf(stderr, "nexus: %s\n", ErrorText(st).c_str());
        if (cli.json)
          out.push_back({{"path", path}, {"exists", st.ok()}});
        else
          std::printf("%s: %s\n", path.c_str(), st.ok() ? "exists" : missing ? "missing" : "error");
        continue;
      }
      if (!st.ok()) {
        std::fprintf(stderr, "nexus: %s: %s\n", path.c_str(), ErrorText(st).c_str());
        if (cli.json) out.push_back({{"path", path}, {"error", ErrorJson(item.getError())}});
        continue;
      }
      json j = StatJson(item.getStat(), detailed);
      j["path"] = path;
      if (cli.json) {
        out.push_back(j);
        continue;
      }
      std::printf("%s\n", path.c_str());
      for (auto& [k, v] : j.items())
        if (k != "path")
          std::printf("  %-13s %s\n", k.c_str(),
                      v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
    }
    if (cli.json) cli.PrintJson(out);
    return rc;
  });
}

int ReadBulk(Cli& cli, const Args& a) {
  return WithClient(cli, [&](NexusClient& c) -> int {
    auto req = FilesOf(c).readBulkRequest();
    auto paths = req.initPaths(a.positional.size());
    for (size_t i = 0; i < a.positional.size(); ++i) paths.set(i, a.positional[i]);
    req.setAtomic(a.Has("atomic"));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    json out = json::object();
    for (auto item : r->getResults()) {
      std::string path = item.getPath();
      Status st = StatusFromError(item.hasError(), item.getError());
      if (cli.json) {
        if (!st.ok()) {
          out[path] = nullptr;
          continue;
        }
        json j = ContentJson(AsView(item.getData()));
        j["size"] = item.getSize();
        out[path] = j;
        continue;
      }
      if (!st.ok()) {
        std::printf("==> %s: %s <==\n", path.c_str(), st.code() == ENOENT ? "missing" : st.message().c_str());
        continue;
      }
      std::printf("==> %s <==\n", path.c_str());
      auto d = AsView(item.getData());
      std::fwrite(d.data(), 1, d.size(), stdout);
      if (!d.empty() && d.back() != '\n') std::fputc('\n', stdout);
    }
    if (cli.json) cli.PrintJson(out);
    return kExitOk;
  });
}

// ---------------------------------------------------------------- changes

// Runs `call` for each path on its own; exit as the first failure says.
int EachPath(Cli& cli, const Args& a,
             const std::function<Status(NexusClient&, rpc::Files::Client&, const std::string&)>& call) {
  return WithClient(cli, [&](NexusClient& c) -> int {
    auto files = FilesOf(c);
    int rc = kExitOk;
    json out = json::array();
    for (const auto& path : a.positional) {
      Status st = call(c, files, path);
      if (!st.ok()) {
        std::fprintf(stderr, "nexus: %s\n", ErrorText(st).c_str());
        if (rc == kExitOk) rc = ExitCodeFor(st);
      }
      out.push_back({{"path", path}, {"ok", st.ok()}});
    }
    if (cli.json) cli.PrintJson(out);
    return rc;
  });
}

int MkDir(Cli& cli, const Args& a) {
  return EachPath(cli, a, [&](NexusClient& c, rpc::Files::Client& files, const std::string& path) {
    auto req = files.mkdirRequest();
    req.setPath(path);
    req.setParents(a.Has("parents"));
    auto r = c.Wait(req.send());
    return ReplyStatus(r);
  });
}

int RmDir(Cli& cli, const Args& a) {
  return EachPath(cli, a, [&](NexusClient& c, rpc::Files::Client& files, const std::string& path) {
    auto req = files.rmdirRequest();
    req.setPath(path);
    auto r = c.Wait(req.send());
    return ReplyStatus(r);
  });
}

// Prints per-item results of a batch; exit as the first failure says.
template <typename Reader>
int BatchResults(Cli& cli, Reader results) {
  int rc = kExitOk;
  json out = json::array();
  for (auto item : results) {
    std::string what = item.getItem();
    Status st = StatusFromError(item.hasError(), item.getError());
    if (!st.ok() && rc == kExitOk) rc = ExitCodeFor(st);
    if (cli.json) {
      json j = {{"item", what}, {"ok", st.ok()}};
      if (!st.ok()) j["error"] = ErrorJson(item.getError());
      out.push_back(j);
    } else if (st.ok()) {
      std::printf("ok      %s\n", what.c_str());
    } else {
      std::printf("failed  %s: %s\n", what.c_str(), st.message().c_str());
    }
  }
  if (cli.json) cli.PrintJson(out);
  return rc;
}

int RenameBatch(Cli& cli, const Args& a) {
  std::vector<std::pair<std::string, std::string>> items;
  for (const auto& arg : a.positional) {
    size_t sep = arg.find(":/");
    if (sep == std::string::npos || sep == 0)
      return cli.Usage("'" + arg + "' is not SRC:DST with absolute paths");
    items.emplace_back(arg.substr(0, sep), arg.substr(sep + 1));
  }
  return WithClient(cli, [&](NexusClient& c) -> int {
    auto req = FilesOf(c).renameBatchRequest();
    auto list = req.initItems(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      list[i].setFrom(items[i].first);
      list[i].setTo(items[i].second);
    }
    auto r = c.Wait(req.send());
    if (!r.ok()) return cli.Fail(r.status());
    return BatchResults(cli, r->getResults());
  });
}

int RmBatch(Cli& cli, const Args& a) {
  return WithClient(cli, [&](NexusClient& c) -> int {
    auto req = FilesOf(c).removeBatchRequest();
    auto list = req.initPaths(a.positional.size());
    for (size_t i = 0; i < a.positional.size(); ++i) list.set(i, a.positional[i]);
    auto r = c.Wait(req.send());
    if (!r.ok()) return cli.Fail(r.status());
    return BatchResults(cli, r->getResults());
  });
}

// ---------------------------------------------------------------- locks

json LockJson(rpc::LockInfo::Reader l) {
  return {{"path", std::string(l.getPath())},
          {"holder", std::string(l.getHolder())},
          {"acquired_at", FormatTime(l.getAcquiredAtNs())},
          {"expires_at", FormatTime(l.getExpiresAtNs())}};
}

rpc::Locks::Client LocksOf(NexusClient& c) { return c.session().locksRequest().send().getLocks(); }

int LockAcquire(Cli& cli, const Args& a) {
  auto ttl = a.Number("ttl", 0, 0.001, 7 * 86400);
  if (!ttl.ok()) return cli.Fail(ttl.status(), true);
  auto wait = a.Number("wait", 0, 0, 3600);
  if (!wait.ok()) return cli.Fail(wait.status(), true);
  cli.timeout_s = std::max(cli.timeout_s, *wait + 10);
  return WithClient(cli, [&](NexusClient& c) -> int {
    auto req = LocksOf(c).acquireRequest();
    req.setPath(a.positional[0]);
    req.setTtlSeconds(*ttl);
    req.setWaitSeconds(*wait);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson(LockJson(r->getLock()));
    else
      std::printf("locked %s until %s\n", r->getLock().getPath().cStr(),
                  FormatTime(r->getLock().getExpiresAtNs()).c_str());
    return kExitOk;
  });
}

int LockRelease(Cli& cli, const Args& a) {
  return WithClient(cli, [&](NexusClient& c) -> int {
    auto req = LocksOf(c).releaseRequest();
    req.setPath(a.positional[0]);
    req.setForce(a.Has("force"));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson({{"path", a.positional[0]}, {"released", true}});
    else
      std::printf("released %s\n", a.positional[0].c_str());
    return kExitOk;
  });
}

int LockInfo(Cli& cli, const Args& a) {
  return WithClient(cli, [&](NexusClient& c) -> int {
    auto req = LocksOf(c).infoRequest();
    req.setPath(a.positional[0]);
    auto r = c.Wait(req.send());
    if (!r.ok()) return cli.Fail(r.status());
    if (cli.json) {
      json j = r->getHeld() ? LockJson(r->getLock()) : json{{"path", a.positional[0]}};
      j["held"] = r->getHeld();
      cli.PrintJson(j);
    } else if (r->getHeld()) {
      auto l = r->getLock();
      std::printf("%s: locked by %s since %s, expires %s\n", l.getPath().cStr(), l.getHolder().cStr(),
                  FormatTime(l.getAcquiredAtNs()).c_str(), FormatTime(l.getExpiresAtNs()).c_str());
    } else {
      std::printf("%s: not locked\n", a.positional[0].c_str());
    }
    return kExitOk;
  });
}

int LockList(Cli& cli, const Args&) {
  return WithClient(cli, [&](NexusClient& c) -> int {
    auto r = c.Wait(LocksOf(c).listRequest().send());
    if (!r.ok()) return cli.Fail(r.status());
    json out = json::array();
    for (auto l : r->getLocks()) {
      if (cli.json)
        out.push_back(LockJson(l));
      else
        std::printf("%-40s %-24s expires %s\n", l.getPath().cStr(), l.getHolder().cStr(),
                    FormatTime(l.getExpiresAtNs()).c_str());
    }
    if (cli.json) cli.PrintJson(out);
    return kExitOk;
  });
}

}  // namespace

void AddFileCommands(std::vector<Command>* t) {
  t->push_back({{"write"},
                {"--offset"},
                {"--stream", "--append", "-p,--parents"},
                "write PATH [TEXT] [--stream] [--append|--offset N] [-p]",
                "Write TEXT (or standard input) to PATH, replacing its content.\n"
                "  --stream     stream standard input in chunks (for large files)\n"
                "  --append     add to the end instead of replacing\n"
                "  --offset N   write at byte N instead of replacing\n"
                "  -p, --parents  create missing parent directories",
                1,
                2,
                Write});
  t->push_back({{"cat"},
                {"--offset", "--length", "--chunk-size"},
                {"--stream"},
                "cat PATH [--offset N] [--length M] [--stream] [--chunk-size N]",
                "Print a file. With --offset/--length, only that byte range; a range past\n"
                "the end gives what exists. The content is always read and written out in\n"
                "ranges (--stream says so explicitly) of --chunk-size bytes (default and\n"
                "most: 8 MiB).",
                1,
                1,
                Cat});
  t->push_back({{"ls"},
                {},
                {"-l,--long"},
                "ls [PATH] [-l]",
                "List a directory (default /); -l adds mode, owner, size and time.",
                0,
                1,
                Ls});
  t->push_back({{"stat"},
                {},
                {},
                "stat PATH...",
                "Size, content_id, version, modified_at and is_directory of each path, in one\n"
                "round trip. Exit 1 if any path fails.",
                1,
                SIZE_MAX,
                [](Cli& c, const Args& a) { return StatLike(c, a, false, false); }});
  t->push_back({{"metadata"},
                {},
                {},
                "metadata PATH...",
                "Like stat, plus mime_type, created_at, zone and the latest version.",
                1,
                SIZE_MAX,
                [](Cli& c, const Args& a) { return StatLike(c, a, true, false); }});
  t->push_back({{"exists"},
                {},
                {},
                "exists PATH...",
                "Say whether each path exists. Exit 1 if any is missing.",
                1,
                SIZE_MAX,
                [](Cli& c, const Args& a) { return StatLike(c, a, false, true); }});
  t->push_back({{"read-bulk"},
                {},
                {"--atomic"},
                "read-bulk PATH... [--atomic]",
                "Read several files in one round trip. Missing files are reported (null in\n"
                "--json); with --atomic the first missing file fails the whole call.",
                1,
                SIZE_MAX,
                ReadBulk});
  t->push_back({{"mkdir"},
                {},
                {"-p,--parents"},
                "mkdir [-p] PATH...",
                "Create directories; -p creates parents and accepts existing ones.",
                1,
                SIZE_MAX,
                MkDir});
  t->push_back({{"rmdir"}, {}, {}, "rmdir PATH...", "Remove empty directories.", 1, SIZE_MAX, RmDir});
  t->push_back({{"rename-batch"},
                {},
                {},
                "rename-batch SRC:DST...",
                "Rename each SRC to DST. Every item succeeds or fails on its own; exit 1 if\n"
                "any failed.",
                1,
                SIZE_MAX,
                RenameBatch});
  t->push_back({{"rm-batch"},
                {},
                {},
                "rm-batch PATH...",
                "Remove files (not directories). Every item succeeds or fails on its own;\n"
                "exit 1 if any failed.",
                1,
                SIZE_MAX,
                RmBatch});
  t->push_back({{"lock", "acquire"},
                {"--ttl", "--wait"},
                {},
                "lock acquire PATH [--ttl S] [--wait S]",
                "Take the advisory lock on PATH for S seconds (default 60). If someone holds\n"
                "it: fail at once, or with --wait keep trying up to S seconds.",
                1,
                1,
                LockAcquire});
  t->push_back({{"lock", "release"},
                {},
                {"--force"},
                "lock release PATH [--force]",
                "Release your lock on PATH; --force (admins) releases anyone's.",
                1,
                1,
                LockRelease});
  t->push_back({{"lock", "info"},
                {},
                {},
                "lock info PATH",
                "Who holds the lock on PATH, until when.",
                1,
                1,
                LockInfo});
  t->push_back({{"lock", "list"}, {}, {}, "lock list", "Every lock held.", 0, 0, LockList});
}

}  // namespace nexus::cli
