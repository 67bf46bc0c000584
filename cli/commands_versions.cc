// File history and snapshots: nexus versions ..., nexus snapshot ...
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "rpc/bytes.h"
#include "cli/cli.h"
#include "cli/progress.h"
#include "rpc/errors.h"

namespace nexus::cli {
namespace {

using nlohmann::json;

constexpr uint64_t kGetChunk = 8u << 20;  // per `get` round trip
constexpr size_t kShortId = 10;           // content ids in tables

// ---------------------------------------------------------------- formatting

std::string Short(const std::string& id) { return id.substr(0, kShortId); }

json VersionJson(rpc::VersionInfo::Reader v) {
  auto text_or_null = [](capnp::Text::Reader t) { return t.size() ? json(std::string(t)) : json(nullptr); };
  return {{"number", v.getNumber()},
          {"path", std::string(v.getPath())},
          {"content_id", std::string(v.getContentId())},
          {"size", v.getSize()},
          {"mode", OctalMode(v.getMode())},
          {"time", FormatTime(v.getTimeNs())},
          {"time_ns", v.getTimeNs()},
          {"subject", std::string(v.getSubject())},
          {"uid", v.getUid()},
          {"pid", v.getPid()},
          {"command", std::string(v.getCommand())},
          {"agent_id", text_or_null(v.getAgentId())},
          {"task_id", text_or_null(v.getTaskId())},
          {"note", text_or_null(v.getNote())},
          {"commit", text_or_null(v.getCommit())}};
}

json SnapshotJson(rpc::SnapshotInfo::Reader s) {
  json zones = json::array();
  for (auto z : s.getZones()) zones.push_back(std::string(z));
  return {{"id", std::string(s.getId())},
          {"description", std::string(s.getDescription())},
          {"time", FormatTime(s.getTimeNs())},
          {"time_ns", s.getTimeNs()},
          {"zones", zones},
          {"commit", std::string(s.getCommit())},
          {"automatic", s.getAutomatic()}};
}

std::string Zones(rpc::SnapshotInfo::Reader s) {
  std::string out;
  for (auto z : s.getZones()) out += (out.empty() ? "" : ",") + std::string(z);
  return out.empty() ? "-" : out;
}

// "agent/task" of a version: "-" when neither is known.
std::string AgentTask(rpc::VersionInfo::Reader v) {
  std::string a = v.getAgentId(), t = v.getTaskId();
  if (a.empty() && t.empty()) return "-";
  return (a.empty() ? "-" : a) + "/" + (t.empty() ? "-" : t);
}

// ---------------------------------------------------------------- plumbing

// Cli::Fail, saying "not found" for a missing file, version or snapshot.
int Failed(Cli& cli, const Status& st) {
  if (st.code() != ENOENT || st.message().find("not found") != std::string::npos) return cli.Fail(st);
  return cli.Fail(Status::Error(ENOENT, st.message() + " (not found)"));
}

rpc::Versions::Client VersionsOf(NexusClient& c) {
  return c.session().versionsRequest().send().getVersions();
}

// Runs `fn` with the connected client and its Versions capability.
int WithVersions(Cli& cli, const std::function<int(NexusClient&, rpc::Versions::Client&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto v = VersionsOf(**c);
  return fn(**c, v);
}

// A required --flag N (a version number >= 1).
Result<uint32_t> VersionFlag(const Args& a, const std::string& flag) {
  if (!a.values.count(flag)) return Status::Error(EINVAL, "--" + flag + " N is required");
  auto n = a.Number(flag, 0, 1, 4294967295.0);
  if (!n.ok()) return n.status();
  if (*n != std::floor(*n))
    return Status::Error(EINVAL, "--" + flag + ": '" + a.Get(flag) + "' is not a whole number");
  return static_cast<uint32_t>(*n);
}

// An optional whole-number flag in [min, max].
Result<uint32_t> CountFlag(const Args& a, const std::string& flag, uint32_t def, double min, double max) {
  auto n = a.Number(flag, def, min, max);
  if (!n.ok()) return n.status();
  if (*n != std::floor(*n))
    return Status::Error(EINVAL, "--" + flag + ": '" + a.Get(flag) + "' is not a whole number");
  return static_cast<uint32_t>(*n);
}

// ---------------------------------------------------------------- versions

int History(Cli& cli, const Args& a) {
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto req = v.historyRequest();
    req.setPath(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    if (cli.json) {
      json list = json::array();
      for (auto ver : r->getVersions()) list.push_back(VersionJson(ver));
      cli.PrintJson({{"path", std::string(r->getPath())}, {"deleted", r->getDeleted()}, {"versions", list}});
      return kExitOk;
    }
    std::printf("%s%s: %u version%s\n", r->getPath().cStr(), r->getDeleted() ? " (deleted)" : "",
                r->getVersions().size(), r->getVersions().size() == 1 ? "" : "s");
    std::printf("%4s  %-24s %10s  %-16s %-12s %-20s %-10s  %s\n", "N", "TIME", "SIZE", "AUTHOR", "COMMAND",
                "AGENT/TASK", "CONTENT", "NOTE");
    for (auto ver : r->getVersions()) {
      std::string note = ver.getNote();
      if (ver.getCommit().size() == 0) note += note.empty() ? "(journaled)" : " (journaled)";
      std::printf("%4u  %-24s %10llu  %-16s %-12s %-20s %-10s  %s\n", ver.getNumber(),
                  FormatTime(ver.getTimeNs()).c_str(), static_cast<unsigned long long>(ver.getSize()),
                  ver.getSubject().cStr(), ver.getCommand().size() ? ver.getCommand().cStr() : "-",
                  AgentTask(ver).c_str(), Short(ver.getContentId()).c_str(), note.c_str());
    }
    return kExitOk;
  });
}

int Get(Cli& cli, const Args& a) {
  auto n = VersionFlag(a, "version");
  if (!n.ok()) return cli.Fail(n.status(), true);
  const std::string out_path = a.Get("output");
  if (a.Has("output") && out_path.empty()) return cli.Usage("-o needs a file name");
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    FILE* out = stdout;
    std::string all;  // --json without -o: the content goes into the document
    const bool to_file = !out_path.empty();
    const bool collect = cli.json && !to_file;
    uint64_t pos = 0;
    json info;
    while (true) {
      auto req = v.getRequest();
      req.setPath(a.positional[0]);
      req.setVersion(*n);
      req.setOffset(pos);
      req.setLength(kGetChunk);
      auto r = c.Wait(req.send());
      if (Status st = ReplyStatus(r); !st.ok()) {
        if (to_file && out != stdout) {
          std::fclose(out);
          std::remove(out_path.c_str());  // no partial copy left behind
        }
        return Failed(cli, st);
      }
      if (pos == 0) {
        info = VersionJson(r->getInfo());
        if (to_file) {
          out = std::fopen(out_path.c_str(), "wb");
          if (!out) return cli.Fail(Status::FromErrno("open " + out_path));
        }
      }
      auto data = AsView(r->getData());
      if (collect) {
        all.append(data);
      } else if (!data.empty() && std::fwrite(data.data(), 1, data.size(), out) != data.size()) {
        Status st = Status::FromErrno("write " + (to_file ? out_path : std::string("standard output")));
        if (to_file) std::fclose(out);
        return cli.Fail(st);
      }
      pos += data.size();
      if (data.empty() || pos >= r->getInfo().getSize()) break;
    }
    if (to_file ? std::fclose(out) != 0 : std::fflush(stdout) != 0)
      return cli.Fail(Status::FromErrno("write " + (to_file ? out_path : std::string("standard output"))));
    if (cli.json) {
      json j = {{"info", info}};
      if (to_file) {
        j["output"] = out_path;
        j["bytes"] = pos;
      } else if (IsValidUtf8(all)) {
        j["content"] = all;
      } else {
        j["content_base64"] = Base64Encode(all);
      }
      cli.PrintJson(j);
    } else if (to_file) {
      std::fprintf(stderr, "wrote v%u of %s to %s (%llu bytes)\n", *n, a.positional[0].c_str(),
                   out_path.c_str(), static_cast<unsigned long long>(pos));
    }
    return kExitOk;
  });
}

int Diff(Cli& cli, const Args& a) {
  auto v1 = VersionFlag(a, "v1");
  if (!v1.ok()) return cli.Fail(v1.status(), true);
  auto v2 = VersionFlag(a, "v2");
  if (!v2.ok()) return cli.Fail(v2.status(), true);
  const std::string mode = a.Get("mode", "content");
  if (mode != "content" && mode != "metadata") return cli.Usage("--mode must be content or metadata");
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto req = v.diffRequest();
    req.setPath(a.positional[0]);
    req.setV1(*v1);
    req.setV2(*v2);
    req.setMetadata(mode == "metadata");
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    std::string d = r->getDiff();
    if (cli.json) {
      cli.PrintJson({{"path", a.positional[0]}, {"v1", *v1}, {"v2", *v2}, {"mode", mode}, {"diff", d}});
    } else {
      std::fwrite(d.data(), 1, d.size(), stdout);
      if (!d.empty() && d.back() != '\n') std::fputc('\n', stdout);
    }
    return kExitOk;
  });
}

int Rollback(Cli& cli, const Args& a) {
  auto n = VersionFlag(a, "version");
  if (!n.ok()) return cli.Fail(n.status(), true);
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto req = v.rollbackRequest();
    req.setPath(a.positional[0]);
    req.setVersion(*n);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    auto ver = r->getVersion();
    if (cli.json) {
      cli.PrintJson(
          {{"path", a.positional[0]}, {"version", VersionJson(ver)}, {"recorded", r->getRecorded()}});
    } else if (r->getRecorded()) {
      std::printf("rolled %s back to v%u: now v%u (%llu bytes)\n", ver.getPath().cStr(), *n, ver.getNumber(),
                  static_cast<unsigned long long>(ver.getSize()));
    } else {
      std::printf("%s already has the content of v%u (v%u); written back\n", ver.getPath().cStr(), *n,
                  ver.getNumber());
    }
    return kExitOk;
  });
}

int Restore(Cli& cli, const Args& a) {
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto req = v.restoreRequest();
    req.setPath(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    auto ver = r->getVersion();
    if (cli.json)
      cli.PrintJson({{"path", a.positional[0]}, {"version", VersionJson(ver)}});
    else
      std::printf("restored %s as v%u (%llu bytes)\n", ver.getPath().cStr(), ver.getNumber(),
                  static_cast<unsigned long long>(ver.getSize()));
    return kExitOk;
  });
}

int Stats(Cli& cli, const Args&) {
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto r = c.Wait(v.statsRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    auto s = r->getStats();
    if (cli.json) {
      cli.PrintJson({{"objects", s.getObjects()},
                     {"disk_bytes", s.getDiskBytes()},
                     {"logical_bytes", s.getLogicalBytes()},
                     {"unique_bytes", s.getUniqueBytes()},
                     {"dedup_ratio", s.getDedupRatio()},
                     {"files", s.getFiles()},
                     {"versions", s.getVersions()},
                     {"pending", s.getPending()}});
      return kExitOk;
    }
    std::printf("files          %llu\n", static_cast<unsigned long long>(s.getFiles()));
    std::printf("versions       %llu\n", static_cast<unsigned long long>(s.getVersions()));
    std::printf("logical size   %s (all versions)\n", HumanBytes(s.getLogicalBytes()).c_str());
    std::printf("unique size    %s (distinct contents)\n", HumanBytes(s.getUniqueBytes()).c_str());
    std::printf("dedup ratio    %.2f\n", s.getDedupRatio());
    std::printf("on disk        %s in %llu git objects\n", HumanBytes(s.getDiskBytes()).c_str(),
                static_cast<unsigned long long>(s.getObjects()));
    std::printf("pending        %llu (closes queued for capture)\n",
                static_cast<unsigned long long>(s.getPending()));
    return kExitOk;
  });
}

int Gc(Cli& cli, const Args& a) {
  // A policy on the command line replaces the configured one; what it leaves
  // out keeps nothing extra (the latest version of a file is always kept).
  const bool explicit_policy = a.Has("keep-versions") || a.Has("keep-days");
  auto keep_versions = CountFlag(a, "keep-versions", 1, 1, 4294967295.0);
  if (!keep_versions.ok()) return cli.Fail(keep_versions.status(), true);
  auto keep_days = CountFlag(a, "keep-days", 0, 0, 4294967295.0);
  if (!keep_days.ok()) return cli.Fail(keep_days.status(), true);
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto req = v.gcRequest();
    req.setExplicitPolicy(explicit_policy);
    if (explicit_policy) {
      req.setKeepVersions(*keep_versions);
      req.setKeepDays(*keep_days);
    }
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    auto g = r->getReport();
    if (cli.json) {
      cli.PrintJson({{"versions_dropped", g.getVersionsDropped()},
                     {"commits_rewritten", g.getCommitsRewritten()},
                     {"objects_removed", g.getObjectsRemoved()},
                     {"bytes_removed", g.getBytesRemoved()}});
    } else {
      std::printf("dropped %llu versions, rewrote %llu commits, removed %llu objects (%s)\n",
                  static_cast<unsigned long long>(g.getVersionsDropped()),
                  static_cast<unsigned long long>(g.getCommitsRewritten()),
                  static_cast<unsigned long long>(g.getObjectsRemoved()),
                  HumanBytes(g.getBytesRemoved()).c_str());
    }
    return kExitOk;
  });
}

int Export(Cli& cli, const Args& a) {
  std::string dest = a.Get("git");
  if (dest.empty()) return cli.Usage("--git DEST is required");
  if (dest[0] != '/') {
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) return cli.Fail(Status::FromErrno("getcwd"));
    dest = std::string(cwd) + "/" + dest;
  }
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto req = v.exportRequest();
    req.setDest(dest);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    if (cli.json)
      cli.PrintJson({{"dest", dest}, {"exported", true}});
    else
      std::printf("exported to %s (branches per zone, tags snapshot/<id>)\n", dest.c_str());
    return kExitOk;
  });
}

int Flush(Cli& cli, const Args&) {
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto r = c.Wait(v.flushRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    if (cli.json)
      cli.PrintJson({{"flushed", true}});
    else
      std::printf("flushed: every captured change is committed\n");
    return kExitOk;
  });
}

// ---------------------------------------------------------------- snapshots

void PrintSnapshot(rpc::SnapshotInfo::Reader s) {
  std::printf("snapshot %s%s\n", s.getId().cStr(), s.getAutomatic() ? " (automatic)" : "");
  std::printf("  time         %s\n", FormatTime(s.getTimeNs()).c_str());
  std::printf("  zones        %s\n", Zones(s).c_str());
  std::printf("  description  %s\n", s.getDescription().size() ? s.getDescription().cStr() : "-");
  std::printf("  commit       %s\n", s.getCommit().cStr());
}

int SnapshotCreate(Cli& cli, const Args& a) {
  std::vector<std::string> zones;
  auto add = [&](const std::string& list) {
    for (auto& z : SplitCommas(list)) zones.push_back(std::move(z));
  };
  if (a.Has("zone")) {
    if (a.Get("zone").empty()) return cli.Usage("--zone needs a zone name");
    add(a.Get("zone"));
  }
  for (const auto& z : a.positional) add(z);
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto req = v.createSnapshotRequest();
    req.setDescription(a.Get("description"));
    auto list = req.initZones(zones.size());
    for (size_t i = 0; i < zones.size(); ++i) list.set(i, zones[i]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    if (cli.json)
      cli.PrintJson(SnapshotJson(r->getSnapshot()));
    else
      std::printf("created snapshot %s of %s\n", r->getSnapshot().getId().cStr(),
                  Zones(r->getSnapshot()).c_str());
    return kExitOk;
  });
}

int SnapshotList(Cli& cli, const Args&) {
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto r = c.Wait(v.listSnapshotsRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    if (cli.json) {
      json out = json::array();
      for (auto s : r->getSnapshots()) out.push_back(SnapshotJson(s));
      cli.PrintJson(out);
      return kExitOk;
    }
    if (r->getSnapshots().size() == 0) {
      std::printf("no snapshots\n");
      return kExitOk;
    }
    std::printf("%-12s %-24s %-16s %-5s %s\n", "ID", "TIME", "ZONES", "AUTO", "DESCRIPTION");
    for (auto s : r->getSnapshots())
      std::printf("%-12s %-24s %-16s %-5s %s\n", s.getId().cStr(), FormatTime(s.getTimeNs()).c_str(),
                  Zones(s).c_str(), s.getAutomatic() ? "yes" : "no", s.getDescription().cStr());
    return kExitOk;
  });
}

int SnapshotInfo(Cli& cli, const Args& a) {
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto req = v.snapshotInfoRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    if (cli.json) {
      json j = SnapshotJson(r->getSnapshot());
      j["files"] = r->getFiles();
      j["bytes"] = r->getBytes();
      cli.PrintJson(j);
      return kExitOk;
    }
    PrintSnapshot(r->getSnapshot());
    std::printf("  files        %llu (%s)\n", static_cast<unsigned long long>(r->getFiles()),
                HumanBytes(r->getBytes()).c_str());
    return kExitOk;
  });
}

int SnapshotEntries(Cli& cli, const Args& a) {
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto req = v.snapshotEntriesRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    json out = json::array();
    for (auto e : r->getEntries()) {
      if (cli.json) {
        out.push_back({{"path", std::string(e.getPath())},
                       {"content_id", std::string(e.getContentId())},
                       {"mode", OctalMode(e.getMode())},
                       {"size", e.getSize()}});
        continue;
      }
      std::printf("%6s %12llu %-10s %s\n", OctalMode(e.getMode()).c_str(),
                  static_cast<unsigned long long>(e.getSize()), Short(e.getContentId()).c_str(),
                  e.getPath().cStr());
    }
    if (cli.json) cli.PrintJson(out);
    return kExitOk;
  });
}

int SnapshotRestore(Cli& cli, const Args& a) {
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto req = v.restoreSnapshotRequest();
    req.setId(a.positional[0]);
    auto progress = kj::heap<ProgressBar>("restoring", isatty(STDERR_FILENO) && !cli.json);
    auto drawn = progress->drawn();
    req.setProgress(kj::mv(progress));
    auto r = c.Wait(req.send());
    if (*drawn) std::fputc('\n', stderr);
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    if (cli.json) {
      cli.PrintJson({{"id", a.positional[0]},
                     {"undo_snapshot", std::string(r->getUndoSnapshot())},
                     {"written", r->getWritten()},
                     {"removed", r->getRemoved()}});
    } else {
      std::printf("restored snapshot %s: %llu files written, %llu removed\n", a.positional[0].c_str(),
                  static_cast<unsigned long long>(r->getWritten()),
                  static_cast<unsigned long long>(r->getRemoved()));
      std::printf("undo with: nexus snapshot restore %s\n", r->getUndoSnapshot().cStr());
    }
    return kExitOk;
  });
}

int SnapshotDelete(Cli& cli, const Args& a) {
  return WithVersions(cli, [&](NexusClient& c, rpc::Versions::Client& v) -> int {
    auto req = v.deleteSnapshotRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return Failed(cli, st);
    if (cli.json)
      cli.PrintJson({{"id", a.positional[0]}, {"deleted", true}});
    else
      std::printf("deleted snapshot %s\n", a.positional[0].c_str());
    return kExitOk;
  });
}

}  // namespace

void AddVersionCommands(std::vector<Command>* t) {
  t->push_back({{"versions", "history"},
                {},
                {},
                "versions history PATH",
                "Every version of a file (deleted files too), oldest first: number, time,\n"
                "size, author, writing command, NEXUS_AGENT_ID/NEXUS_TASK_ID of the writer,\n"
                "note and short content id. \"(journaled)\": captured, not yet committed.",
                1,
                1,
                History});
  t->push_back({{"versions", "get"},
                {"--version", "-o,--output"},
                {},
                "versions get PATH --version N [-o FILE]",
                "Print version N of a file (raw bytes) or write it to FILE.",
                1,
                1,
                Get});
  t->push_back({{"versions", "diff"},
                {"--v1", "--v2", "--mode"},
                {},
                "versions diff PATH --v1 A --v2 B [--mode content|metadata]",
                "Unified diff from version A to B (a one-line summary for binary content);\n"
                "--mode metadata compares the records (size, mode, author, ...).",
                1,
                1,
                Diff});
  t->push_back({{"versions", "rollback"},
                {"--version"},
                {},
                "versions rollback PATH --version N",
                "Write version N back as the file's content; recorded as a new version\n"
                "(note \"rollback to vN\"). Needs write permission on the file.",
                1,
                1,
                Rollback});
  t->push_back({{"versions", "restore"},
                {},
                {},
                "versions restore PATH",
                "Bring a deleted file back with its last content (a new version, note\n"
                "\"restore\"); missing parent directories are created.",
                1,
                1,
                Restore});
  t->push_back({{"versions", "stats"},
                {},
                {},
                "versions stats",
                "Files, versions, sizes (logical, unique, on disk), dedup ratio and the\n"
                "capture queue.",
                0,
                0,
                Stats});
  t->push_back({{"versions", "gc"},
                {"--keep-versions", "--keep-days"},
                {},
                "versions gc [--keep-versions N] [--keep-days D]",
                "Drop old versions. A version is kept while it is among its file's newest N\n"
                "or younger than D days. Without flags the daemon's configured policy\n"
                "applies; with flags, the given ones (--keep-versions defaults to 1,\n"
                "--keep-days to 0). A file's latest version is always kept. Admins only.",
                0,
                0,
                Gc});
  t->push_back({{"versions", "export"},
                {"--git"},
                {},
                "versions export --git DEST",
                "Write the history as an ordinary git repository at DEST (a directory on the\n"
                "daemon's host, missing or empty; made absolute here): a branch per zone\n"
                "(root, local, ...), a tag snapshot/<id> per snapshot. Admins only.",
                0,
                0,
                Export});
  t->push_back({{"versions", "flush"},
                {},
                {},
                "versions flush",
                "Capture every queued change and commit the journal now.",
                0,
                0,
                Flush});
  t->push_back({{"snapshot", "create"},
                {"--description", "--zone"},
                {},
                "snapshot create [--description D] [--zone Z[,Z...]] [ZONE...]",
                "Snapshot the given zones (\"root\" is the tree, \"local\" the workspace;\n"
                "all zones with history when none is given) as they are now.",
                0,
                SIZE_MAX,
                SnapshotCreate});
  t->push_back({{"snapshot", "list"},
                {},
                {},
                "snapshot list",
                "Every snapshot: id, time, zones, automatic (taken by a restore) and\n"
                "description.",
                0,
                0,
                SnapshotList});
  t->push_back({{"snapshot", "info"},
                {},
                {},
                "snapshot info ID",
                "A snapshot's record, with its number of files and their total size.",
                1,
                1,
                SnapshotInfo});
  t->push_back({{"snapshot", "entries"},
                {},
                {},
                "snapshot entries ID",
                "Every file in a snapshot: mode, size, short content id, path.",
                1,
                1,
                SnapshotEntries});
  t->push_back({{"snapshot", "restore"},
                {},
                {},
                "snapshot restore ID",
                "Return the snapshot's zones to it: changed files are rewritten, missing ones\n"
                "created, files added since removed (and directories left empty). An\n"
                "automatic snapshot is taken first; restoring it undoes the restore.\n"
                "Shows progress on a terminal. Admins only.",
                1,
                1,
                SnapshotRestore});
  t->push_back({{"snapshot", "delete"},
                {},
                {},
                "snapshot delete ID",
                "Delete a snapshot (the versions it names stay). Admins only.",
                1,
                1,
                SnapshotDelete});
}

}  // namespace nexus::cli
