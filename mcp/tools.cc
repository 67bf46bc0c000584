#include "mcp/tools.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <map>
#include <utility>

#include "base/format.h"
#include "mcp/diff.h"
#include "mcp/edit.h"
#include "rpc/errors.h"
#include "rpc/search_json.h"

namespace nexus::mcp {
namespace {

kj::ArrayPtr<const kj::byte> Bytes(std::string_view s) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

std::string Str(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

std::string Str(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }

rpc::Files::Client FilesOf(ToolContext& ctx) { return ctx.session.filesRequest().send().getFiles(); }
rpc::Versions::Client VersionsOf(ToolContext& ctx) {
  return ctx.session.versionsRequest().send().getVersions();
}
rpc::Search::Client SearchOf(ToolContext& ctx) { return ctx.session.searchRequest().send().getSearch(); }
rpc::Ipc::Client IpcOf(ToolContext& ctx) { return ctx.session.ipcRequest().send().getIpc(); }

template <typename Reader>
Status ErrorOf(const Reader& r) {
  return StatusFromError(r.hasError(), r.getError());
}

ToolOutcome Data(Json structured, std::string text = {}) {
  ToolOutcome out;
  out.text = text.empty() ? structured.dump() : std::move(text);
  out.structured = std::move(structured);
  return out;
}

ToolOutcome InvalidArgument(std::string message) {
  return ToolFailure(Status::Error(EINVAL, std::move(message)));
}

std::string Time(int64_t ns) { return ns ? FormatRfc3339(ns) : std::string(); }

Json StatJson(rpc::FileStat::Reader s) {
  char mode[16];
  std::snprintf(mode, sizeof mode, "%04o", s.getMode() & 07777);
  Json j = {{"path", Str(s.getPath())},
            {"type", Str(s.getKind())},
            {"size", s.getSize()},
            {"mode", mode},
            {"modified", Time(s.getModifiedAtNs())},
            {"created", Time(s.getCreatedAtNs())},
            {"contentId", Str(s.getContentId())},
            {"version", s.getVersion()}};
  if (s.getMimeType().size() > 0) j["mimeType"] = Str(s.getMimeType());
  if (s.getSymlinkTarget().size() > 0) j["symlinkTarget"] = Str(s.getSymlinkTarget());
  return j;
}

// {content: "..."} for UTF-8 text, else {contentBase64: "..."}.
void PutContent(Json* j, const std::string& data) {
  if (IsValidUtf8(data)) {
    (*j)["encoding"] = "utf-8";
    (*j)["content"] = data;
  } else {
    (*j)["encoding"] = "base64";
    (*j)["content"] = Base64Encode(data);
  }
}

// The first or last `n` lines of `data`.
std::string HeadLines(const std::string& data, uint64_t n) {
  size_t pos = 0;
  for (uint64_t i = 0; i < n && pos < data.size(); ++i) {
    size_t nl = data.find('\n', pos);
    pos = nl == std::string::npos ? data.size() : nl + 1;
  }
  return data.substr(0, pos);
}

std::string TailLines(const std::string& data, uint64_t n) {
  if (n == 0) return "";
  size_t end = data.size();
  if (end > 0 && data[end - 1] == '\n') --end;  // the last line's own newline
  size_t start = end;
  for (uint64_t i = 0; i < n; ++i) {
    size_t nl = start == 0 ? std::string::npos : data.rfind('\n', start - 1);
    if (nl == std::string::npos) return data;
    start = nl;
  }
  return data.substr(start + 1);
}

// ---------------------------------------------------------------- handlers

// The outcome of a read: `data` found at `offset` of a file of `size`
// bytes; `truncated` when the reply limit cut it short.
ToolOutcome ReadOutcome(const std::string& path, const std::string& data, uint64_t offset, uint64_t size,
                        bool truncated) {
  Json j = {
      {"path", path}, {"size", size}, {"offset", offset}, {"length", data.size()}, {"truncated", truncated}};
  PutContent(&j, data);
  std::string shown = j["encoding"] == "utf-8"
                          ? data
                          : "(" + std::to_string(data.size()) +
                                " bytes of binary content; base64 in the structured result)\n" +
                                j["content"].get<std::string>();
  if (shown.empty()) shown = "(empty)";
  if (truncated)
    shown += "\n(the file goes on: read more with offset " + std::to_string(offset + data.size()) + ")";
  return Data(std::move(j), shown);
}

kj::Promise<ToolOutcome> ReadFile(ToolContext ctx, Json args) {
  const std::string path = NamespacePath(args["path"].get<std::string>());
  const bool head = args.contains("head"), tail = args.contains("tail");
  if (head && tail) return InvalidArgument("give head or tail, not both");
  if ((head || tail) && (args.contains("offset") || args.contains("length")))
    return InvalidArgument("head/tail count lines of the whole file: give them without offset/length");
  const uint64_t offset = args.value("offset", uint64_t{0}), length = args.value("length", uint64_t{0});
  const uint64_t lines = head ? args["head"].get<uint64_t>() : tail ? args["tail"].get<uint64_t>() : 0;
  auto files = FilesOf(ctx);
  auto req = files.readRequest();
  req.setPath(path);
  req.setOffset(head || tail ? 0 : offset);
  req.setLength(head || tail ? 0 : length);
  return req.send().then(
      [files, path, offset, length, head, tail, lines](auto&& r) mutable -> kj::Promise<ToolOutcome> {
        if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, path);
        const std::string data = Str(r.getData());
        const uint64_t size = r.getSize();
        if (head) {
          const std::string out = HeadLines(data, lines);
          return ReadOutcome(path, out, 0, size, out.size() == data.size() && data.size() < size);
        }
        if (tail) {
          if (data.size() >= size) {
            const std::string out = TailLines(data, lines);
            return ReadOutcome(path, out, size - out.size(), size, false);
          }
          // Larger than one reply: the tail comes from the file's last part.
          auto end = files.readRequest();
          end.setPath(path);
          end.setOffset(size - data.size());
          end.setLength(data.size());
          return end.send().then([path, lines](auto&& e) -> ToolOutcome {
            if (Status st = ErrorOf(e); !st.ok()) return ToolFailure(st, path);
            const std::string out = TailLines(Str(e.getData()), lines);
            return ReadOutcome(path, out, e.getSize() - out.size(), e.getSize(), false);
          });
        }
        const bool truncated = offset + data.size() < size && (length == 0 || data.size() < length);
        return ReadOutcome(path, data, offset, size, truncated);
      });
}

kj::Promise<ToolOutcome> WriteFile(ToolContext ctx, Json args) {
  const std::string path = NamespacePath(args["path"].get<std::string>());
  const std::string content = args["content"].get<std::string>();
  auto req = FilesOf(ctx).writeRequest();
  req.setPath(path);
  req.setData(Bytes(content));
  req.setTruncate(true);
  req.setCreateParents(true);
  return req.send().then([path](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, path);
    auto s = r.getStat();
    Json j = {{"path", path}, {"size", s.getSize()}, {"contentId", Str(s.getContentId())}};
    return Data(j, "wrote " + std::to_string(s.getSize()) + " bytes to " + path);
  });
}

kj::Promise<ToolOutcome> EditFile(ToolContext ctx, Json args) {
  const std::string path = NamespacePath(args["path"].get<std::string>());
  std::vector<TextEdit> edits;
  for (const Json& e : args["edits"]) edits.push_back({e["oldText"], e["newText"]});
  if (edits.empty()) return InvalidArgument("edits is empty: give at least one {oldText, newText}");
  const bool dry_run = args.value("dryRun", false);
  auto files = FilesOf(ctx);
  auto req = files.readRequest();
  req.setPath(path);
  return req.send().then([files, path, edits = std::move(edits),
                          dry_run](auto&& r) mutable -> kj::Promise<ToolOutcome> {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, path);
    std::string before = Str(r.getData());
    if (before.size() < r.getSize())
      return ToolFailure(Status::Error(
          EFBIG, path + " is too large to edit in one piece (" + std::to_string(r.getSize()) + " bytes)"));
    auto after = ApplyEdits(before, edits);
    if (!after.ok()) return ToolFailure(after.status());
    std::string diff = UnifiedDiff(before, *after, path);
    Json j = {{"path", path}, {"dryRun", dry_run}, {"edits", edits.size()}, {"diff", diff}};
    if (dry_run || diff.empty()) {
      j["size"] = after->size();
      j["contentId"] = ContentId(*after);
      return Data(j, diff.empty() ? "no change" : diff);
    }
    // Compare-and-replace against what was read: a change made in between
    // is a conflict, and nothing is written.
    auto put = files.replaceRequest();
    put.setPath(path);
    put.setData(Bytes(*after));
    put.setExpectedContentId(ContentId(before));
    return put.send().then([path, j = std::move(j), diff](auto&& w) mutable -> ToolOutcome {
      if (Status st = ErrorOf(w); !st.ok()) {
        if (ErrorCodeFor(st.code()) == rpc::Error::Code::CONFLICT)
          return ToolFailure(Status::Error(st.code(), path +
                                                          " changed since it was read; nothing was written: "
                                                          "read it again and redo the edit"));
        return ToolFailure(st, path);
      }
      j["size"] = w.getStat().getSize();
      j["contentId"] = Str(w.getStat().getContentId());
      return Data(j, diff);
    });
  });
}

kj::Promise<ToolOutcome> DeleteFile(ToolContext ctx, Json args) {
  const std::string path = NamespacePath(args["path"].get<std::string>());
  auto req = FilesOf(ctx).removeBatchRequest();
  req.initPaths(1).set(0, path);
  return req.send().then([path](auto&& r) -> ToolOutcome {
    if (r.getResults().size() != 1) return ToolFailure(Status::Error(EIO, "no answer for " + path));
    if (Status st = ErrorOf(r.getResults()[0]); !st.ok()) return ToolFailure(st, path);
    return Data({{"path", path}, {"deleted", true}}, "deleted " + path);
  });
}

kj::Promise<ToolOutcome> ListFiles(ToolContext ctx, Json args) {
  const std::string path = NamespacePath(args.value("path", std::string("/")));
  auto req = FilesOf(ctx).listRequest();
  req.setPath(path);
  req.setLong(true);
  return req.send().then([path](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, path);
    Json entries = Json::array();
    std::string text;
    for (auto e : r.getEntries()) {
      const std::string kind = Str(e.getStat().getKind());
      entries.push_back({{"name", Str(e.getName())}, {"type", kind}, {"size", e.getStat().getSize()}});
      text += (kind == "directory" ? "[DIR]  " : "[FILE] ") + Str(e.getName()) + "\n";
    }
    return Data({{"path", path}, {"entries", entries}}, text.empty() ? "(empty directory)" : text);
  });
}

kj::Promise<ToolOutcome> FileInfo(ToolContext ctx, Json args) {
  const std::string path = NamespacePath(args["path"].get<std::string>());
  auto req = FilesOf(ctx).statRequest();
  req.initPaths(1).set(0, path);
  req.setDetailed(true);
  return req.send().then([path](auto&& r) -> ToolOutcome {
    if (r.getResults().size() != 1) return ToolFailure(Status::Error(EIO, "no answer for " + path));
    auto one = r.getResults()[0];
    if (Status st = ErrorOf(one); !st.ok()) return ToolFailure(st, path);
    return Data(StatJson(one.getStat()));
  });
}

kj::Promise<ToolOutcome> Mkdir(ToolContext ctx, Json args) {
  const std::string path = NamespacePath(args["path"].get<std::string>());
  auto req = FilesOf(ctx).mkdirRequest();
  req.setPath(path);
  req.setParents(true);
  return req.send().then([path](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, path);
    return Data({{"path", path}, {"created", true}}, "created " + path);
  });
}

kj::Promise<ToolOutcome> Rmdir(ToolContext ctx, Json args) {
  const std::string path = NamespacePath(args["path"].get<std::string>());
  auto req = FilesOf(ctx).rmdirRequest();
  req.setPath(path);
  return req.send().then([path](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, path);
    return Data({{"path", path}, {"removed", true}}, "removed " + path);
  });
}

kj::Promise<ToolOutcome> RenameFile(ToolContext ctx, Json args) {
  const std::string from = NamespacePath(args["source"].get<std::string>());
  const std::string to = NamespacePath(args["destination"].get<std::string>());
  auto req = FilesOf(ctx).renameBatchRequest();
  auto item = req.initItems(1)[0];
  item.setFrom(from);
  item.setTo(to);
  return req.send().then([from, to](auto&& r) -> ToolOutcome {
    if (r.getResults().size() != 1) return ToolFailure(Status::Error(EIO, "no answer for " + from));
    if (Status st = ErrorOf(r.getResults()[0]); !st.ok()) return ToolFailure(st, from + " -> " + to);
    return Data({{"source", from}, {"destination", to}}, "renamed " + from + " to " + to);
  });
}

kj::Promise<ToolOutcome> Glob(ToolContext ctx, Json args) {
  auto req = SearchOf(ctx).globRequest();
  req.setPattern(args["pattern"].get<std::string>());
  if (args.contains("path")) req.setPath(NamespacePath(args["path"].get<std::string>()));
  req.setLimit(args.value("limit", 1000u));
  return req.send().then([](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st);
    Json paths = Json::array();
    std::string text;
    for (auto p : r.getPaths()) {
      paths.push_back(Str(p));
      text += Str(p) + "\n";
    }
    if (r.getTruncated()) text += "(more matches left out: narrow the pattern or raise limit)\n";
    return Data({{"paths", paths}, {"truncated", r.getTruncated()}}, text.empty() ? "(no matches)" : text);
  });
}

kj::Promise<ToolOutcome> Grep(ToolContext ctx, Json args) {
  auto req = SearchOf(ctx).grepRequest();
  req.setPattern(args["pattern"].get<std::string>());
  if (args.contains("path")) req.setPath(NamespacePath(args["path"].get<std::string>()));
  req.setIgnoreCase(args.value("ignoreCase", false));
  req.setFixed(args.value("fixed", false));
  req.setLimit(args.value("limit", 200u));
  req.setParsed(args.value("searchMode", std::string("raw")) == "parsed");
  if (args.contains("fileGlob")) req.setFileGlob(args["fileGlob"].get<std::string>());
  return req.send().then([](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st);
    Json matches = Json::array();
    std::string text;
    for (auto m : r.getMatches()) {
      std::string line = Str(m.getText());
      if (!IsValidUtf8(line)) line = "(binary line)";
      Json j = {{"path", Str(m.getPath())}, {"line", m.getLine()}, {"text", line}};
      AddResultPlace(j, m.getPath().cStr(), m.getPart(), "zonePath");
      matches.push_back(std::move(j));
      text +=
          Str(m.getPath()) + PartSuffix(m.getPart()) + ":" + std::to_string(m.getLine()) + ": " + line + "\n";
    }
    if (r.getTruncated()) text += "(more matches left out: narrow the pattern or raise limit)\n";
    return Data({{"matches", matches}, {"truncated", r.getTruncated()}},
                text.empty() ? "(no matches)" : text);
  });
}

kj::Promise<ToolOutcome> SemanticSearch(ToolContext ctx, Json args) {
  auto req = SearchOf(ctx).queryRequest();
  req.setText(args["query"].get<std::string>());
  if (args.contains("path")) req.setPath(NamespacePath(args["path"].get<std::string>()));
  const std::string mode = args.value("mode", std::string("hybrid"));
  req.setMode(mode == "keyword"    ? rpc::Search::Mode::KEYWORD
              : mode == "semantic" ? rpc::Search::Mode::SEMANTIC
                                   : rpc::Search::Mode::HYBRID);
  req.setLimit(args.value("limit", 10u));
  return req.send().then([](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st);
    Json hits = Json::array();
    std::string text;
    if (r.getSemanticDegraded()) text += "(semantic ranking unavailable: results are keyword matches only)\n";
    for (auto h : r.getHits()) {
      Json j = {{"path", Str(h.getPath())},
                {"startLine", h.getStartLine()},
                {"endLine", h.getEndLine()},
                {"snippet", Str(h.getSnippet())},
                {"score", h.getScore()}};
      AddResultPlace(j, h.getPath().cStr(), h.getPart(), "zonePath");
      hits.push_back(std::move(j));
      text += Str(h.getPath()) + PartSuffix(h.getPart()) + ":" + std::to_string(h.getStartLine()) + "-" +
              std::to_string(h.getEndLine()) + "\n" + Str(h.getSnippet()) + "\n\n";
    }
    if (hits.empty()) text += "(no results)";
    return Data({{"hits", hits}, {"semantic_degraded", r.getSemanticDegraded()}}, text);
  });
}

Json VersionJson(rpc::VersionInfo::Reader v) {
  return {{"version", v.getNumber()},
          {"path", Str(v.getPath())},
          {"size", v.getSize()},
          {"time", Time(v.getTimeNs())},
          {"author", Str(v.getSubject())},
          {"command", Str(v.getCommand())},
          {"agentId", Str(v.getAgentId())},
          {"note", Str(v.getNote())},
          {"contentId", Str(v.getContentId())}};
}

kj::Promise<ToolOutcome> FileHistory(ToolContext ctx, Json args) {
  const std::string path = NamespacePath(args["path"].get<std::string>());
  auto req = VersionsOf(ctx).historyRequest();
  req.setPath(path);
  return req.send().then([path](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, path);
    Json versions = Json::array();
    std::string text;
    for (auto v : r.getVersions()) {
      versions.push_back(VersionJson(v));
      text += "v" + std::to_string(v.getNumber()) + "  " + Time(v.getTimeNs()) + "  " + Str(v.getSubject()) +
              "  " + std::to_string(v.getSize()) + " bytes  " + Str(v.getCommand()) +
              (v.getNote().size() ? "  (" + Str(v.getNote()) + ")" : "") + "\n";
    }
    return Data({{"path", path}, {"deleted", r.getDeleted()}, {"versions", versions}},
                text.empty() ? "(no versions)" : text);
  });
}

kj::Promise<ToolOutcome> FileDiff(ToolContext ctx, Json args) {
  const std::string path = NamespacePath(args["path"].get<std::string>());
  const uint32_t v1 = args["v1"].get<uint32_t>();
  auto versions = VersionsOf(ctx);
  kj::Promise<uint32_t> v2 = static_cast<uint32_t>(0);
  if (args.contains("v2")) {
    v2 = args["v2"].get<uint32_t>();
  } else {
    auto h = versions.historyRequest();
    h.setPath(path);
    v2 = h.send().then([](auto&& r) -> uint32_t {
      auto list = r.getVersions();
      return r.hasError() || list.size() == 0 ? 0 : list[list.size() - 1].getNumber();
    });
  }
  return v2.then([versions, path, v1](uint32_t v2) mutable -> kj::Promise<ToolOutcome> {
    if (v2 == 0) return ToolFailure(Status::Error(ENOENT, "no versions"), path);
    auto req = versions.diffRequest();
    req.setPath(path);
    req.setV1(v1);
    req.setV2(v2);
    return req.send().then([path, v1, v2](auto&& r) -> ToolOutcome {
      if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, path);
      const std::string diff = Str(r.getDiff());
      return Data({{"path", path}, {"v1", v1}, {"v2", v2}, {"diff", diff}},
                  diff.empty() ? "no difference" : diff);
    });
  });
}

kj::Promise<ToolOutcome> FileRollback(ToolContext ctx, Json args) {
  const std::string path = NamespacePath(args["path"].get<std::string>());
  auto req = VersionsOf(ctx).rollbackRequest();
  req.setPath(path);
  req.setVersion(args["version"].get<uint32_t>());
  return req.send().then([path](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, path);
    Json j = {{"path", path}, {"recorded", r.getRecorded()}, {"version", r.getVersion().getNumber()}};
    return Data(j, r.getRecorded()
                       ? path + " is back to that content as v" + std::to_string(r.getVersion().getNumber())
                       : path + " already had that content");
  });
}

Json MessageJson(rpc::IpcMessage::Reader m) {
  const std::string body = Str(m.getBody());
  Json j = {{"id", Str(m.getId())},
            {"from", Str(m.getFrom())},
            {"to", "agent:" + Str(m.getTo())},
            {"time", Time(m.getTimeNs())},
            {"path", Str(m.getPath())}};
  PutContent(&j, body);
  j["body"] = j["content"];
  j.erase("content");
  return j;
}

kj::Promise<ToolOutcome> IpcSend(ToolContext ctx, Json args) {
  auto req = IpcOf(ctx).sendRequest();
  const std::string to = args["to"].get<std::string>(), body = args["message"].get<std::string>();
  req.setTo(to);
  req.setBody(Bytes(body));
  // `from` empty: the daemon sends as the session's subject, which is the
  // agent when the session acts as one.
  if (args.contains("ttlSeconds")) {
    req.setHasTtl(true);
    req.setTtlSeconds(args["ttlSeconds"].get<int64_t>());
  }
  return req.send().then([to](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, to);
    Json j = MessageJson(r.getMessage());
    return Data(j, "sent " + j["id"].get<std::string>() + " to " + j["to"].get<std::string>());
  });
}

kj::Promise<ToolOutcome> IpcInbox(ToolContext ctx, Json args) {
  std::string agent = args.value("agent", std::string());
  if (agent.empty()) {
    if (ctx.subject.rfind("agent:", 0) != 0)
      return InvalidArgument("give agent: you act as " + ctx.subject + ", not as an agent");
    agent = ctx.subject;
  }
  auto req = IpcOf(ctx).inboxRequest();
  req.setId(agent);
  return req.send().then([agent](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, agent);
    Json messages = Json::array();
    std::string text;
    for (auto m : r.getMessages()) {
      Json j = MessageJson(m);
      text += j["id"].get<std::string>() + " from " + j["from"].get<std::string>() + ": " +
              j["body"].get<std::string>() + "\n";
      messages.push_back(std::move(j));
    }
    return Data({{"agent", agent}, {"messages", messages}}, text.empty() ? "(no messages)" : text);
  });
}

// ---------------------------------------------------------------- sandboxes

rpc::Sandboxes::Client SandboxesOf(ToolContext& ctx) {
  return ctx.session.sandboxesRequest().send().getSandboxes();
}

Json SandboxJson(rpc::SandboxInfo::Reader s) {
  Json j = {{"id", Str(s.getId())},     {"name", Str(s.getName())},   {"subject", Str(s.getSubject())},
            {"root", Str(s.getRoot())}, {"state", Str(s.getState())}, {"created", Time(s.getCreatedAtNs())},
            {"network", s.getNetwork()}};
  if (s.getExpiresAtNs()) j["expires"] = Time(s.getExpiresAtNs());
  return j;
}

kj::Promise<ToolOutcome> SandboxCreate(ToolContext ctx, Json args) {
  auto req = SandboxesOf(ctx).createRequest();
  const std::string name = args["name"].get<std::string>();
  req.setName(name);
  if (args.contains("root")) req.setRoot(NamespacePath(args["root"].get<std::string>()));
  req.setNetwork(args.value("network", false));
  req.setTtlSeconds(args.value("ttlSeconds", 3600u));
  return req.send().then([name](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, name);
    Json j = SandboxJson(r.getSandbox());
    return Data(j, "sandbox " + j["id"].get<std::string>() + " (" + name + ") is running; " +
                       j["root"].get<std::string>() + " is at /workspace");
  });
}

kj::Promise<ToolOutcome> SandboxList(ToolContext ctx, Json) {
  return SandboxesOf(ctx).listRequest().send().then([](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st);
    Json list = Json::array();
    std::string text;
    for (auto s : r.getSandboxes()) {
      list.push_back(SandboxJson(s));
      text += Str(s.getId()) + " " + Str(s.getName()) + " " + Str(s.getState()) + "\n";
    }
    return Data({{"sandboxes", list}}, text.empty() ? "(no sandboxes)" : text);
  });
}

kj::Promise<ToolOutcome> SandboxStop(ToolContext ctx, Json args) {
  const std::string id = args["sandbox"].get<std::string>();
  auto req = SandboxesOf(ctx).stopRequest();
  req.setId(id);
  return req.send().then([id](auto&& r) -> ToolOutcome {
    if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, id);
    Json j = SandboxJson(r.getSandbox());
    return Data(j, "sandbox " + j["id"].get<std::string>() + " is " + j["state"].get<std::string>());
  });
}

// The sandbox a run without `sandbox` uses: the caller's own, named after
// it ("mcp-agent-bot"), made on first use with a one-hour TTL.
std::string DefaultSandboxName(const std::string& subject) {
  std::string name = "mcp-" + subject;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '-';
  return name.substr(0, 64);
}

// The id of `wanted`, or of the caller's default sandbox (started if needed).
kj::Promise<Result<std::string>> SandboxFor(ToolContext ctx, std::string wanted) {
  const bool by_default = wanted.empty();
  if (by_default) wanted = DefaultSandboxName(ctx.subject);
  auto sandboxes = SandboxesOf(ctx);
  auto req = sandboxes.infoRequest();
  req.setId(wanted);
  return req.send().then(
      [by_default, wanted, sandboxes](auto&& r) mutable -> kj::Promise<Result<std::string>> {
        Status st = ErrorOf(r);
        if (st.ok() && Str(r.getSandbox().getState()) == "running")
          return Result<std::string>(Str(r.getSandbox().getId()));
        if (!by_default)
          return Result<std::string>(
              st.ok() ? Status::Error(ESTALE, "sandbox " + wanted + " is " + Str(r.getSandbox().getState()))
                      : st);
        if (!st.ok() && st.code() != ENOENT) return Result<std::string>(st);
        auto create = sandboxes.createRequest();
        create.setName(wanted);
        create.setTtlSeconds(3600);
        return create.send().then([](auto&& c) -> Result<std::string> {
          if (Status cst = ErrorOf(c); !cst.ok()) return cst;
          return Str(c.getSandbox().getId());
        });
      });
}

kj::Promise<ToolOutcome> RunInSandbox(ToolContext ctx, Json args, std::string command,
                                      std::vector<std::string> env) {
  const double timeout = args.value("timeoutSeconds", 60.0);
  if (timeout < 0) return InvalidArgument("timeoutSeconds must be 0 (none) or more");
  return SandboxFor(ctx, args.value("sandbox", std::string()))
      .then([ctx, command, env, timeout](Result<std::string> id) mutable -> kj::Promise<ToolOutcome> {
        if (!id.ok()) return ToolFailure(id.status());
        auto req = SandboxesOf(ctx).runRequest();
        req.setId(*id);
        req.setCommand(command);
        auto list = req.initEnv(env.size());
        for (size_t i = 0; i < env.size(); ++i) list.set(i, env[i]);
        req.setTimeoutSeconds(timeout);
        return req.send().then([sandbox = *id](auto&& r) -> ToolOutcome {
          if (Status st = ErrorOf(r); !st.ok()) return ToolFailure(st, sandbox);
          const std::string out = Str(r.getStdout()), err = Str(r.getStderr());
          Json j = {{"sandbox", sandbox}, {"exitCode", r.getExitCode()}, {"stdout", out},
                    {"stderr", err},      {"timedOut", r.getTimedOut()}, {"truncated", r.getTruncated()}};
          std::string text = out;
          if (!err.empty())
            text += (text.empty() || text.back() == '\n' ? "" : "\n") + std::string("[stderr]\n") + err;
          if (r.getTimedOut()) text += "\n[killed: the timeout ran out]";
          if (r.getExitCode() != 0) text += "\n[exit code " + std::to_string(r.getExitCode()) + "]";
          return Data(j, text.empty() ? "(no output, exit code 0)" : text);
        });
      });
}

kj::Promise<ToolOutcome> Bash(ToolContext ctx, Json args) {
  return RunInSandbox(ctx, args, args["command"].get<std::string>(), {});
}

kj::Promise<ToolOutcome> Python(ToolContext ctx, Json args) {
  // The code travels in the environment: no quoting to get wrong.
  return RunInSandbox(ctx, args, "exec python3 -c \"$NEXUS_PYTHON_CODE\"",
                      {"NEXUS_PYTHON_CODE=" + args["code"].get<std::string>()});
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

kj::Promise<ToolOutcome> SearchTools(ToolContext ctx, Json args) {
  const std::string query = Lower(args["query"].get<std::string>());
  const size_t limit = args.value("limit", 10u);
  return ctx.visible_tools().then([query, limit](std::vector<std::string> names) -> ToolOutcome {
    std::vector<std::string> words;
    for (size_t i = 0; i < query.size();) {
      size_t j = query.find_first_of(" \t,_", i);
      if (j == std::string::npos) j = query.size();
      if (j > i) words.push_back(query.substr(i, j - i));
      i = j + 1;
    }
    std::vector<std::pair<int, const ToolDef*>> scored;
    for (const std::string& name : names) {
      const ToolDef* t = FindTool(name);
      if (!t) continue;
      const std::string hay_name = Lower(t->name), hay_text = Lower(t->title + " " + t->description);
      int score = 0;
      for (const std::string& w : words)
        score +=
            (hay_name.find(w) != std::string::npos ? 3 : 0) + (hay_text.find(w) != std::string::npos ? 1 : 0);
      if (score > 0 || words.empty()) scored.push_back({score, t});
    }
    std::stable_sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.first > b.first; });
    Json tools = Json::array();
    std::string text;
    for (size_t i = 0; i < scored.size() && i < limit; ++i) {
      const ToolDef* t = scored[i].second;
      const std::string summary = t->description.substr(0, t->description.find('.') + 1);
      tools.push_back({{"name", t->name}, {"title", t->title}, {"summary", summary}});
      text += t->name + ": " + summary + "\n";
    }
    return Data({{"tools", tools}}, text.empty() ? "(no tool matches)" : text);
  });
}

kj::Promise<ToolOutcome> GetToolDetails(ToolContext ctx, Json args) {
  const std::string name = args["name"].get<std::string>();
  return ctx.visible_tools().then([name](std::vector<std::string> names) -> ToolOutcome {
    const ToolDef* t = std::find(names.begin(), names.end(), name) != names.end() ? FindTool(name) : nullptr;
    if (!t) return ToolFailure(Status::Error(ENOENT, "no tool " + name));
    Json j = ToolListEntry(*t);
    return Data({{"tool", j}});
  });
}

// ---------------------------------------------------------------- the table

Json Schema(const char* text) { return Json::parse(text); }

std::vector<ToolDef> BuildTable() {
  std::vector<ToolDef> t;
  auto add = [&](ToolDef d) { t.push_back(std::move(d)); };
  const char* kPath =
      R"j("path": {"type": "string", "description": "Absolute path in NexusFS, e.g. /src/main.c"})j";
  auto obj = [](std::string props, std::string required) {
    return Schema(("{\"type\": \"object\", \"properties\": {" + props + "}, \"required\": [" + required +
                   "], \"additionalProperties\": false}")
                      .c_str());
  };
  auto out = [](std::string props, std::string required) {
    return Schema(
        ("{\"type\": \"object\", \"properties\": {" + props + "}, \"required\": [" + required + "]}")
            .c_str());
  };

  add({"nexus_read_file", "Read file",
       "Read a file's content. Give offset/length (bytes) for a byte range, or head/tail for the first/last "
       "N "
       "lines; without them the whole file. Text comes back as is; binary content as base64 (encoding says "
       "which). A file you may not see reads as not found.",
       obj(std::string(kPath) +
               R"j(, "offset": {"type": "integer", "minimum": 0, "description": "First byte to read"},
              "length": {"type": "integer", "minimum": 0, "description": "Bytes to read; 0 or absent: to the end"},
              "head": {"type": "integer", "minimum": 1, "maximum": 4294967295, "description": "Only the first N lines"},
              "tail": {"type": "integer", "minimum": 1, "maximum": 4294967295, "description": "Only the last N lines"})j",
           R"j("path")j"),
       out(R"j("path": {"type": "string"}, "size": {"type": "integer"}, "offset": {"type": "integer"},
              "length": {"type": "integer"}, "encoding": {"type": "string", "enum": ["utf-8", "base64"]},
              "content": {"type": "string"}, "truncated": {"type": "boolean"})j",
           R"j("path", "size", "content", "encoding")j"),
       true, false, true, false, ReadFile});
  add({"nexus_write_file", "Write file",
       "Create a file or replace its whole content with `content` (missing parent folders are created). The "
       "write is versioned: nexus_file_history lists it and nexus_file_rollback undoes it. To change part of "
       "a "
       "file prefer nexus_edit_file.",
       obj(std::string(kPath) +
               R"j(, "content": {"type": "string", "description": "The new content (UTF-8 text)"})j",
           R"j("path", "content")j"),
       out(R"j("path": {"type": "string"}, "size": {"type": "integer"}, "contentId": {"type": "string"})j",
           R"j("path", "size")j"),
       false, true, true, false, WriteFile});
  add({"nexus_edit_file", "Edit file",
       "Apply text replacements to a file atomically. Each edit's oldText must occur exactly once in the "
       "file "
       "(whitespace and line breaks included; add surrounding lines to make it unique); edits apply in "
       "order, "
       "and if any fails nothing is written. dryRun: true returns the unified diff without writing. If the "
       "file "
       "changes between the read and the write, the edit fails with a conflict and nothing is lost.",
       obj(std::string(kPath) +
               R"j(, "edits": {"type": "array", "description": "Replacements, applied in order",
              "items": {"type": "object", "properties": {
                "oldText": {"type": "string", "description": "Exact text to replace; must occur once"},
                "newText": {"type": "string", "description": "Text to put in its place"}},
                "required": ["oldText", "newText"], "additionalProperties": false}},
              "dryRun": {"type": "boolean", "description": "Preview the diff without writing (default false)"})j",
           R"j("path", "edits")j"),
       out(R"j("path": {"type": "string"}, "dryRun": {"type": "boolean"}, "edits": {"type": "integer"},
              "diff": {"type": "string"}, "size": {"type": "integer"}, "contentId": {"type": "string"})j",
           R"j("path", "dryRun", "diff")j"),
       false, true, false, false, EditFile});
  add({"nexus_delete_file", "Delete file",
       "Delete a file (not a folder: use nexus_rmdir). Its versions stay in history, so it can be restored.",
       obj(kPath, R"j("path")j"),
       out(R"j("path": {"type": "string"}, "deleted": {"type": "boolean"})j", R"j("path")j"), false, true,
       false, false, DeleteFile});
  add({"nexus_list_files", "List folder",
       "List a folder's entries (name, type, size), sorted by name. path defaults to /. Entries you may not "
       "see are left out.",
       obj(R"j("path": {"type": "string", "description": "Folder to list (default /)"})j", ""),
       out(R"j("path": {"type": "string"}, "entries": {"type": "array", "items": {"type": "object", "properties": {
              "name": {"type": "string"}, "type": {"type": "string"}, "size": {"type": "integer"}}}})j",
           R"j("path", "entries")j"),
       true, false, true, false, ListFiles});
  add({"nexus_file_info", "File info",
       "A file's or folder's metadata: type, size, mode, times, content id (a git blob id), latest version "
       "number and MIME type.",
       obj(kPath, R"j("path")j"),
       out(R"j("path": {"type": "string"}, "type": {"type": "string"}, "size": {"type": "integer"},
              "mode": {"type": "string"}, "modified": {"type": "string"}, "created": {"type": "string"},
              "contentId": {"type": "string"}, "version": {"type": "integer"}, "mimeType": {"type": "string"},
              "symlinkTarget": {"type": "string"})j",
           R"j("path", "type", "size")j"),
       true, false, true, false, FileInfo});
  add({"nexus_mkdir", "Create folder", "Create a folder and any missing parents; an existing folder is fine.",
       obj(kPath, R"j("path")j"),
       out(R"j("path": {"type": "string"}, "created": {"type": "boolean"})j", R"j("path")j"), false, false,
       true, false, Mkdir});
  add({"nexus_rmdir", "Remove folder",
       "Remove an empty folder (a folder with entries is refused: delete them first).",
       obj(kPath, R"j("path")j"),
       out(R"j("path": {"type": "string"}, "removed": {"type": "boolean"})j", R"j("path")j"), false, true,
       false, false, Rmdir});
  add({"nexus_rename_file", "Rename or move",
       "Rename or move a file or folder from source to destination; an existing destination file is "
       "replaced.",
       obj(R"j("source": {"type": "string", "description": "Current path"},
              "destination": {"type": "string", "description": "New path"})j",
           R"j("source", "destination")j"),
       out(R"j("source": {"type": "string"}, "destination": {"type": "string"})j",
           R"j("source", "destination")j"),
       false, true, false, false, RenameFile});
  add({"nexus_glob", "Find files by name",
       "Find paths matching a glob pattern (*, ?, ** for any depth, e.g. **/*.py), optionally under path.",
       obj(R"j("pattern": {"type": "string", "description": "Glob, e.g. src/**/*.c"},
              "path": {"type": "string", "description": "Folder to search under (default /)"},
              "limit": {"type": "integer", "minimum": 1, "maximum": 4294967295, "description": "At most this many paths (default 1000)"})j",
           R"j("pattern")j"),
       out(R"j("paths": {"type": "array", "items": {"type": "string"}}, "truncated": {"type": "boolean"})j",
           R"j("paths", "truncated")j"),
       true, false, true, false, Glob});
  add({"nexus_grep", "Search file contents",
       "Find lines matching a regular expression (RE2 syntax; fixed: true for a literal string) in files, "
       "optionally under path. Returns path, line number and line. searchMode parsed also searches PDF, "
       "docx, xlsx and pptx files by their text (matches name their page, sheet or slide).",
       obj(R"j("pattern": {"type": "string", "description": "RE2 regular expression"},
              "path": {"type": "string", "description": "Folder or file to search (default /)"},
              "ignoreCase": {"type": "boolean"}, "fixed": {"type": "boolean", "description": "pattern is a literal"},
              "searchMode": {"type": "string", "enum": ["raw", "parsed"], "description": "raw (default): bytes of text files; parsed: documents by their text too"},
              "fileGlob": {"type": "string", "description": "Only files matching this glob, e.g. **/*.pdf (relative: below path)"},
              "limit": {"type": "integer", "minimum": 1, "maximum": 4294967295, "description": "At most this many matches (default 200)"})j",
           R"j("pattern")j"),
       out(R"j("matches": {"type": "array", "items": {"type": "object", "properties": {
              "path": {"type": "string"}, "line": {"type": "integer"}, "text": {"type": "string"},
              "zone": {"type": "string"}, "zonePath": {"type": "string"}, "page": {"type": "integer"},
              "slide": {"type": "integer"}, "sheet": {"type": ["string", "integer"]}}}},
              "truncated": {"type": "boolean"})j",
           R"j("matches", "truncated")j"),
       true, false, true, false, Grep});
  add({"nexus_semantic_search", "Search by meaning",
       "Ranked search over file contents by meaning and keywords (mode hybrid, the default; or semantic, "
       "keyword). semantic_degraded true means no embedding model answered and the ranking is by keywords "
       "only.",
       obj(R"j("query": {"type": "string", "description": "What to look for, in words"},
              "path": {"type": "string", "description": "Folder to search under (default /)"},
              "mode": {"type": "string", "enum": ["hybrid", "semantic", "keyword"]},
              "limit": {"type": "integer", "minimum": 1, "maximum": 4294967295, "description": "At most this many hits (default 10)"})j",
           R"j("query")j"),
       out(R"j("hits": {"type": "array", "items": {"type": "object", "properties": {
              "path": {"type": "string"}, "startLine": {"type": "integer"}, "endLine": {"type": "integer"},
              "snippet": {"type": "string"}, "score": {"type": "number"},
              "zone": {"type": "string"}, "zonePath": {"type": "string"}, "page": {"type": "integer"},
              "slide": {"type": "integer"}, "sheet": {"type": ["string", "integer"]}}}},
              "semantic_degraded": {"type": "boolean"})j",
           R"j("hits", "semantic_degraded")j"),
       true, false, true, false, SemanticSearch});
  add({"nexus_file_history", "File history",
       "Every recorded version of a file, oldest first: number, time, author, the command that wrote it and "
       "a "
       "note. Deleted files keep their history.",
       obj(kPath, R"j("path")j"),
       out(R"j("path": {"type": "string"}, "deleted": {"type": "boolean"}, "versions": {"type": "array", "items":
              {"type": "object", "properties": {"version": {"type": "integer"}, "time": {"type": "string"},
              "author": {"type": "string"}, "command": {"type": "string"}, "size": {"type": "integer"}}}})j",
           R"j("path", "versions")j"),
       true, false, true, false, FileHistory});
  add({"nexus_file_diff", "Diff versions",
       "Unified diff between two versions of a file (numbers from nexus_file_history); v2 defaults to the "
       "latest version.",
       obj(std::string(kPath) +
               R"j(, "v1": {"type": "integer", "minimum": 1, "maximum": 4294967295, "description": "Older version"},
              "v2": {"type": "integer", "minimum": 1, "maximum": 4294967295, "description": "Newer version (default: latest)"})j",
           R"j("path", "v1")j"),
       out(R"j("path": {"type": "string"}, "v1": {"type": "integer"}, "v2": {"type": "integer"},
              "diff": {"type": "string"})j",
           R"j("path", "v1", "v2", "diff")j"),
       true, false, true, false, FileDiff});
  add({"nexus_file_rollback", "Roll back file",
       "Write an earlier version of a file back as its content (recorded as a new version, so it can be "
       "undone "
       "too).",
       obj(std::string(kPath) +
               R"j(, "version": {"type": "integer", "minimum": 1, "maximum": 4294967295, "description": "Version to restore"})j",
           R"j("path", "version")j"),
       out(R"j("path": {"type": "string"}, "version": {"type": "integer"}, "recorded": {"type": "boolean"})j",
           R"j("path", "version")j"),
       false, true, true, false, FileRollback});
  add({"nexus_ipc_send", "Send message",
       "Send a message to an agent's mailbox, as you. to is the agent's id (ID or agent:ID).",
       obj(R"j("to": {"type": "string", "description": "Recipient agent, e.g. agent:reviewer"},
              "message": {"type": "string", "description": "The message body"},
              "ttlSeconds": {"type": "integer", "minimum": 0, "description": "Expire after this long (0: never)"})j",
           R"j("to", "message")j"),
       out(R"j("id": {"type": "string"}, "to": {"type": "string"}, "from": {"type": "string"},
              "body": {"type": "string"}, "encoding": {"type": "string"})j",
           R"j("id", "to", "from")j"),
       false, false, false, false, IpcSend});
  add({"nexus_ipc_inbox", "Read inbox",
       "The messages waiting in an agent's inbox, oldest first (reading does not remove them). agent "
       "defaults "
       "to the agent you act as.",
       obj(R"j("agent": {"type": "string", "description": "Whose inbox (default: yours)"})j", ""),
       out(R"j("agent": {"type": "string"}, "messages": {"type": "array", "items": {"type": "object", "properties": {
              "id": {"type": "string"}, "from": {"type": "string"}, "body": {"type": "string"}}}})j",
           R"j("agent", "messages")j"),
       true, false, true, false, IpcInbox});
  add({"nexus_discovery_search_tools", "Search tools",
       "Find tools of this server you may use by keywords (e.g. \"rename\", \"history\").",
       obj(R"j("query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": 4294967295})j",
           R"j("query")j"),
       out(R"j("tools": {"type": "array", "items": {"type": "object", "properties": {
              "name": {"type": "string"}, "summary": {"type": "string"}}}})j",
           R"j("tools")j"),
       true, false, true, false, SearchTools});
  add({"nexus_discovery_get_tool_details", "Tool details",
       "A tool's full definition: description, input and output schema, annotations.",
       obj(R"j("name": {"type": "string", "description": "Tool name, e.g. nexus_edit_file"})j",
           R"j("name")j"),
       out(R"j("tool": {"type": "object"})j", R"j("tool")j"), true, false, true, false, GetToolDetails});
  // The execution tools: offered only where the daemon has a sandbox
  // provider (SessionOptions::sandbox_available), each run as the caller in
  // its own sandbox (docs/sandboxes.md).
  const char* kRunArgs =
      R"j("sandbox": {"type": "string", "description": "Sandbox id or name (default: your own, started on first use)"},
          "timeoutSeconds": {"type": "number", "minimum": 0, "description": "Kill the command after this long (default 60; 0: none)"})j";
  const char* kRunOut =
      R"j("sandbox": {"type": "string"}, "exitCode": {"type": "integer"}, "stdout": {"type": "string"},
          "stderr": {"type": "string"}, "timedOut": {"type": "boolean"}, "truncated": {"type": "boolean"})j";
  const char* kSandboxOut =
      R"j("id": {"type": "string"}, "name": {"type": "string"}, "subject": {"type": "string"}, "root": {"type": "string"},
          "state": {"type": "string"}, "created": {"type": "string"}, "expires": {"type": "string"}, "network": {"type": "boolean"})j";
  ToolDef bash{
      "nexus_bash",
      "Run shell command",
      "Run a shell command (/bin/sh -c) in your sandbox, in /workspace, which holds your view of the "
      "files (your own fork if you have one, else /zone/local, unless the sandbox was made on another root). "
      "Files you write there are "
      "versioned; /tmp and background processes last between calls; no network unless the sandbox "
      "has it. A non-zero exit code is reported, not an error.",
      obj(R"j("command": {"type": "string", "description": "The command, e.g. make test"}, )j" +
              std::string(kRunArgs),
          R"j("command")j"),
      out(kRunOut, R"j("sandbox", "exitCode", "stdout", "stderr")j"),
      false,
      true,
      false,
      false,
      Bash};
  bash.needs_sandbox = true;
  add(bash);
  ToolDef python{
      "nexus_python",
      "Run Python",
      "Run Python 3 code (python3 -c) in your sandbox, in /workspace (see nexus_bash).",
      obj(R"j("code": {"type": "string", "description": "The program, e.g. print(sum(range(10)))"}, )j" +
              std::string(kRunArgs),
          R"j("code")j"),
      out(kRunOut, R"j("sandbox", "exitCode", "stdout", "stderr")j"),
      false,
      true,
      false,
      false,
      Python};
  python.needs_sandbox = true;
  add(python);
  ToolDef create{"nexus_sandbox_create",
                 "Create sandbox",
                 "Start a sandbox of your own: root (default: your own fork if you have one, else "
                 "/zone/local) is at /workspace as you see it; "
                 "network off unless asked; it stops after ttlSeconds (default 3600).",
                 obj(R"j("name": {"type": "string", "description": "1 to 64 of A-Z a-z 0-9 . _ -"},
                        "root": {"type": "string", "description": "Folder shown at /workspace, e.g. /forks/NAME"},
                        "network": {"type": "boolean"},
                        "ttlSeconds": {"type": "integer", "minimum": 1, "maximum": 604800})j",
                     R"j("name")j"),
                 out(kSandboxOut, R"j("id", "name", "state")j"),
                 false,
                 false,
                 false,
                 false,
                 SandboxCreate};
  create.needs_sandbox = true;
  add(create);
  ToolDef list{"nexus_sandbox_list",
               "List sandboxes",
               "Your sandboxes: running, then stopped and expired.",
               obj("", ""),
               out(R"j("sandboxes": {"type": "array", "items": {"type": "object"}})j", R"j("sandboxes")j"),
               true,
               false,
               true,
               false,
               SandboxList};
  list.needs_sandbox = true;
  add(list);
  ToolDef stop{
      "nexus_sandbox_stop",
      "Stop sandbox",
      "Stop a sandbox: every process in it is killed.",
      obj(R"j("sandbox": {"type": "string", "description": "Sandbox id or name"})j", R"j("sandbox")j"),
      out(kSandboxOut, R"j("id", "state")j"),
      false,
      true,
      true,
      false,
      SandboxStop};
  stop.needs_sandbox = true;
  add(stop);
  return t;
}

std::string TypeOf(const Json& v) {
  switch (v.type()) {
    case Json::value_t::string:
      return "a string";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a number";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    default:
      return "null";
  }
}

std::string Article(const std::string& type) {
  return (type == "integer" || type == "array" || type == "object" ? "an " : "a ") + type;
}

Status CheckValue(const Json& schema, const Json& v, const std::string& where) {
  const std::string type = schema.value("type", std::string());
  bool ok = true;
  if (type == "string") ok = v.is_string();
  if (type == "boolean") ok = v.is_boolean();
  if (type == "number") ok = v.is_number();
  if (type == "integer") ok = v.is_number_integer() || v.is_number_unsigned();
  if (type == "array") ok = v.is_array();
  if (type == "object") ok = v.is_object();
  if (!ok) return Status::Error(EINVAL, where + " must be " + Article(type) + ", not " + TypeOf(v));
  if (schema.contains("minimum") && v.is_number() && v.get<double>() < schema["minimum"].get<double>())
    return Status::Error(EINVAL, where + " must be at least " + schema["minimum"].dump());
  if (schema.contains("maximum") && v.is_number() && v.get<double>() > schema["maximum"].get<double>())
    return Status::Error(EINVAL, where + " must be at most " + schema["maximum"].dump());
  if (schema.contains("enum") &&
      std::find(schema["enum"].begin(), schema["enum"].end(), v) == schema["enum"].end())
    return Status::Error(EINVAL, where + " must be one of " + schema["enum"].dump());
  if (type == "array" && schema.contains("items"))
    for (size_t i = 0; i < v.size(); ++i)
      if (Status st = CheckValue(schema["items"], v[i], where + "[" + std::to_string(i) + "]"); !st.ok())
        return st;
  if (type == "object" && schema.contains("properties")) {
    const Json& props = schema["properties"];
    for (const Json& r : schema.value("required", Json::array()))
      if (!v.contains(r.get<std::string>()))
        return Status::Error(EINVAL,
                             (where.empty() ? "" : where + ".") + r.get<std::string>() + " is required");
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string name = (where.empty() ? "" : where + ".") + it.key();
      if (!props.contains(it.key())) {
        std::string known;
        for (auto p = props.begin(); p != props.end(); ++p) known += (known.empty() ? "" : ", ") + p.key();
        return Status::Error(EINVAL, "unknown argument " + name + " (arguments: " + known + ")");
      }
      if (Status st = CheckValue(props[it.key()], it.value(), name); !st.ok()) return st;
    }
  }
  return Status::Ok();
}

}  // namespace

Json ToolOutcome::ToResult() const {
  Json r = {{"content", Json::array({{{"type", "text"}, {"text", text}}})}, {"isError", is_error}};
  if (!is_error && !structured.is_null()) r["structuredContent"] = structured;
  return r;
}

const std::vector<ToolDef>& ToolTable() {
  static const std::vector<ToolDef> table = BuildTable();
  return table;
}

const ToolDef* FindTool(std::string_view name) {
  for (const ToolDef& t : ToolTable())
    if (t.name == name) return &t;
  return nullptr;
}

Json ToolListEntry(const ToolDef& tool) {
  Json j = {{"name", tool.name},
            {"title", tool.title},
            {"description", tool.description},
            {"inputSchema", tool.input_schema},
            {"annotations",
             {{"title", tool.title},
              {"readOnlyHint", tool.read_only},
              {"destructiveHint", tool.destructive},
              {"idempotentHint", tool.idempotent},
              {"openWorldHint", false}}}};
  if (!tool.output_schema.is_null()) j["outputSchema"] = tool.output_schema;
  return j;
}

Status CheckArguments(const ToolDef& tool, const Json& args) {
  if (!args.is_object()) return Status::Error(EINVAL, "arguments must be an object, not " + TypeOf(args));
  return CheckValue(tool.input_schema, args, "");
}

ToolOutcome ToolFailure(const Status& st, std::string_view what) {
  std::string text;
  switch (ErrorCodeFor(st.code())) {
    case rpc::Error::Code::NOT_FOUND:
      text = what.empty() ? "not found: " + st.message() : "not found: " + std::string(what);
      break;
    case rpc::Error::Code::PERMISSION_DENIED:
      text = what.empty() ? "permission denied: " + st.message() : "permission denied: " + std::string(what);
      break;
    case rpc::Error::Code::CONFLICT:
      text = "conflict: " + st.message();
      break;
    case rpc::Error::Code::INVALID_ARGUMENT:
      text = "invalid argument: " + st.message();
      break;
    case rpc::Error::Code::UNAVAILABLE:
      text = "unavailable: " + st.message();
      break;
    case rpc::Error::Code::ALREADY_EXISTS:
      text = "already exists: " + (what.empty() ? st.message() : std::string(what));
      break;
    case rpc::Error::Code::NOT_EMPTY:
      text = "not empty: " + (what.empty() ? st.message() : std::string(what));
      break;
    case rpc::Error::Code::IS_DIRECTORY:
      text = "is a directory: " + (what.empty() ? st.message() : std::string(what));
      break;
    case rpc::Error::Code::NOT_DIRECTORY:
      text = "not a directory: " + st.message();
      break;
    case rpc::Error::Code::READ_ONLY:
      text = "read-only: " + st.message();
      break;
    default:
      text = std::string(ErrorCodeName(ErrorCodeFor(st.code()))) + ": " + st.message();
      break;
  }
  ToolOutcome out;
  out.text = std::move(text);
  out.is_error = true;
  return out;
}

std::string NamespacePath(std::string_view arg) {
  if (arg.rfind("nexus://", 0) == 0) arg.remove_prefix(8);
  std::string p(arg);
  if (p.empty() || p[0] != '/') p.insert(p.begin(), '/');
  return p;
}

std::string ContentId(std::string_view data) {
  const std::string header = "blob " + std::to_string(data.size()) + std::string(1, '\0');
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr);
  EVP_DigestUpdate(ctx, header.data(), header.size());
  EVP_DigestUpdate(ctx, data.data(), data.size());
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

}  // namespace nexus::mcp
