// Search: glob, grep, search query|index|reindex|stats, path-context ...
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include <capnp/capability.h>

#include "cli/cli.h"
#include "rpc/bytes.h"
#include "rpc/errors.h"
#include "rpc/search_json.h"

namespace nexus::cli {
namespace {

using nlohmann::json;

int WithSearch(Cli& cli, const std::function<int(NexusClient&, rpc::Search::Client&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto search = (*c)->session().searchRequest().send().getSearch();
  return fn(**c, search);
}

// Text as a JSON string; bytes that are not UTF-8 become U+FFFD (the raw
// line is what the plain output prints).
std::string JsonText(std::string_view s) {
  if (IsValidUtf8(s)) return std::string(s);
  std::string out;
  for (char ch : s) {
    if (static_cast<unsigned char>(ch) < 0x80)
      out.push_back(ch);
    else
      out += "\xEF\xBF\xBD";
  }
  return out;
}

Result<uint32_t> Limit(const Args& a, double def, double max) {
  auto n = a.Number("limit", def, 0, max);
  if (!n.ok()) return n.status();
  return static_cast<uint32_t>(*n);
}

void WarnTruncated(Cli& cli, bool truncated, const char* what) {
  if (truncated && !cli.json)
    std::fprintf(stderr, "nexus: more %s than shown (raise --limit or narrow PATH)\n", what);
}

json StatusJson(rpc::IndexStatus::Reader s) {
  return {{"state", std::string(s.getState())},
          {"files", s.getFiles()},
          {"chunks", s.getChunks()},
          {"bytes", s.getBytes()},
          {"last_update", s.getLastUpdateNs() ? json(FormatTime(s.getLastUpdateNs())) : json(nullptr)},
          {"queue_depth", s.getQueueDepth()},
          {"semantic", s.getSemantic().size() ? json(std::string(s.getSemantic())) : json(nullptr)},
          {"embedded", s.getEmbedded()},
          {"embedding", s.getEmbedding()},
          {"semantic_error",
           s.getSemanticError().size() ? json(std::string(s.getSemanticError())) : json(nullptr)}};
}

void PrintStatus(rpc::IndexStatus::Reader s) {
  std::printf("state        %s\n", s.getState().cStr());
  std::printf("files        %llu\n", static_cast<unsigned long long>(s.getFiles()));
  std::printf("chunks       %llu\n", static_cast<unsigned long long>(s.getChunks()));
  std::printf("bytes        %llu (%.1f MiB)\n", static_cast<unsigned long long>(s.getBytes()),
              s.getBytes() / 1048576.0);
  std::printf("last update  %s\n", FormatTime(s.getLastUpdateNs()).c_str());
  std::printf("queue        %llu\n", static_cast<unsigned long long>(s.getQueueDepth()));
  std::printf("semantic     %s\n", s.getSemantic().size() ? s.getSemantic().cStr() : "off (keyword only)");
  if (s.getSemantic().size())
    std::printf("vectors      %llu of %llu chunks%s\n", static_cast<unsigned long long>(s.getEmbedded()),
                static_cast<unsigned long long>(s.getChunks()), s.getEmbedding() ? " (embedding)" : "");
  if (s.getSemanticError().size()) std::printf("error        %s\n", s.getSemanticError().cStr());
}

// ---------------------------------------------------------------- glob / grep

int Glob(Cli& cli, const Args& a) {
  auto limit = Limit(a, 0, 1e9);
  if (!limit.ok()) return cli.Fail(limit.status(), true);
  return WithSearch(cli, [&](NexusClient& c, rpc::Search::Client& s) -> int {
    auto req = s.globRequest();
    req.setPattern(a.positional[0]);
    req.setPath(a.positional.size() > 1 ? a.positional[1] : "/");
    req.setLimit(*limit);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      json paths = json::array();
      for (auto p : r->getPaths()) paths.push_back(JsonText(std::string_view(p.cStr(), p.size())));
      cli.PrintJson({{"paths", paths}, {"truncated", r->getTruncated()}});
    } else {
      for (auto p : r->getPaths()) std::printf("%s\n", p.cStr());
    }
    WarnTruncated(cli, r->getTruncated(), "paths");
    return kExitOk;
  });
}

int Grep(Cli& cli, const Args& a) {
  auto limit = Limit(a, 0, 1e6);
  if (!limit.ok()) return cli.Fail(limit.status(), true);
  const std::string mode = a.Get("search-mode", "raw");
  if (mode != "raw" && mode != "parsed")
    return cli.Usage("--search-mode must be raw or parsed, not '" + mode + "'");
  return WithSearch(cli, [&](NexusClient& c, rpc::Search::Client& s) -> int {
    auto req = s.grepRequest();
    req.setPattern(a.positional[0]);
    req.setPath(a.positional.size() > 1 ? a.positional[1] : "/");
    req.setIgnoreCase(a.Has("ignore-case"));
    req.setFixed(a.Has("fixed-strings"));
    req.setFilesOnly(a.Has("files-with-matches"));
    req.setLimit(*limit);
    req.setParsed(mode == "parsed");
    req.setFileGlob(a.Get("file", ""));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    const bool files_only = a.Has("files-with-matches");
    if (cli.json) {
      json out = json::array();
      for (auto m : r->getMatches()) {
        json j = {{"path", std::string(m.getPath())}};
        if (!files_only) {
          j["line"] = m.getLine();
          j["text"] = JsonText(AsView(m.getText()));
        }
        AddResultPlace(j, m.getPath().cStr(), m.getPart());
        out.push_back(std::move(j));
      }
      cli.PrintJson({{"matches", out}, {"truncated", r->getTruncated()}});
    } else {
      for (auto m : r->getMatches()) {
        if (files_only) {
          std::printf("%s\n", m.getPath().cStr());
          continue;
        }
        std::printf("%s%s:%u:", m.getPath().cStr(), PartSuffix(m.getPart()).c_str(), m.getLine());
        auto text = AsView(m.getText());
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fputc('\n', stdout);
      }
    }
    WarnTruncated(cli, r->getTruncated(), "matches");
    return kExitOk;
  });
}

// ---------------------------------------------------------------- search

Result<rpc::Search::Mode> ModeOf(const std::string& m) {
  if (m == "keyword") return rpc::Search::Mode::KEYWORD;
  if (m == "semantic") return rpc::Search::Mode::SEMANTIC;
  if (m == "hybrid") return rpc::Search::Mode::HYBRID;
  return Status::Error(EINVAL, "--mode must be keyword, semantic or hybrid, not '" + m + "'");
}

int Query(Cli& cli, const Args& a) {
  auto limit = Limit(a, 10, 1000);
  if (!limit.ok()) return cli.Fail(limit.status(), true);
  if (*limit == 0) return cli.Usage("--limit must be at least 1");
  const std::string mode_name = a.Get("mode", "keyword");
  auto mode = ModeOf(mode_name);
  if (!mode.ok()) return cli.Fail(mode.status(), true);
  return WithSearch(cli, [&](NexusClient& c, rpc::Search::Client& s) -> int {
    auto req = s.queryRequest();
    req.setText(a.positional[0]);
    req.setPath(a.Get("path", "/"));
    req.setMode(*mode);
    req.setLimit(*limit);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      json hits = json::array();
      for (auto h : r->getHits()) {
        json j = {{"path", std::string(h.getPath())},
                  {"start_line", h.getStartLine()},
                  {"end_line", h.getEndLine()},
                  {"score", h.getScore()},
                  {"keyword_score", h.getKeywordScore()},
                  {"vector_score", h.getVectorScore()},
                  {"semantic_degraded", h.getSemanticDegraded()},
                  {"snippet", std::string(h.getSnippet())}};
        j["context"] = h.getContext().size() ? json(std::string(h.getContext())) : json(nullptr);
        AddResultPlace(j, h.getPath().cStr(), h.getPart());
        hits.push_back(std::move(j));
      }
      cli.PrintJson({{"mode", mode_name}, {"semantic_degraded", r->getSemanticDegraded()}, {"hits", hits}});
      return kExitOk;
    }
    if (r->getSemanticDegraded())
      std::fprintf(stderr,
                   "nexus: semantic lane unavailable (no embedding provider, or it failed): results are "
                   "keyword-only\n");
    for (auto h : r->getHits()) {
      std::printf("%s%s:%u-%u  score %.4f", h.getPath().cStr(), PartSuffix(h.getPart()).c_str(),
                  h.getStartLine(), h.getEndLine(), h.getScore());
      if (h.getVectorScore() != 0)
        std::printf("  (keyword %.3f, vector %.3f)", h.getKeywordScore(), h.getVectorScore());
      std::printf("\n");
      if (h.getContext().size()) std::printf("  [%s]\n", h.getContext().cStr());
      std::string snippet = h.getSnippet();
      size_t pos = 0;
      while (pos < snippet.size()) {
        size_t end = snippet.find('\n', pos);
        if (end == std::string::npos) end = snippet.size();
        std::printf("    %.*s\n", static_cast<int>(end - pos), snippet.data() + pos);
        pos = end + 1;
      }
    }
    if (r->getHits().size() == 0) std::printf("no matches\n");
    return kExitOk;
  });
}

// Draws the daemon's progress reports as a bar on stderr.
struct BarState {
  bool draw = false;
  bool drawn = false;
  void Finish() {
    if (drawn) std::fputc('\n', stderr);
    drawn = false;
  }
};

class ProgressBar final : public rpc::Progress::Server {
 public:
  explicit ProgressBar(std::shared_ptr<BarState> state) : state_(std::move(state)) {}

 protected:
  kj::Promise<void> update(UpdateContext context) override {
    auto p = context.getParams();
    if (!state_->draw) return kj::READY_NOW;
    uint64_t done = p.getDone(), total = p.getTotal();
    constexpr int kWidth = 30;
    int filled = total ? static_cast<int>(kWidth * std::min<double>(1, double(done) / total)) : 0;
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\rindexing [%s] %llu/%llu %s", bar.c_str(), static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total), p.getWhat().cStr());
    std::fflush(stderr);
    state_->drawn = true;
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<BarState> state_;
};

int RunIndex(Cli& cli, const std::string& path, bool force) {
  return WithSearch(cli, [&](NexusClient& c, rpc::Search::Client& s) -> int {
    auto req = s.indexRequest();
    req.setPath(path);
    req.setForce(force);
    auto bar = std::make_shared<BarState>();
    bar->draw = isatty(STDERR_FILENO) && !cli.json;
    req.setProgress(kj::heap<ProgressBar>(bar));
    auto t0 = std::chrono::steady_clock::now();
    auto r = c.Wait(req.send());
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar->Finish();
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json) {
      json j = StatusJson(r->getStatus());
      j["path"] = path;
      j["force"] = force;
      j["seconds"] = secs;
      cli.PrintJson(j);
    } else {
      std::printf("indexed %s in %.2f s\n", path.c_str(), secs);
      PrintStatus(r->getStatus());
    }
    return kExitOk;
  });
}

int Index(Cli& cli, const Args& a) { return RunIndex(cli, a.positional[0], a.Has("force")); }
int Reindex(Cli& cli, const Args&) { return RunIndex(cli, "/", true); }

// search init: the index is always there while search is on; --provider
// switches the embedding provider, --wait follows the re-embedding.
int Init(Cli& cli, const Args& a) {
  if ((a.Has("model") || a.Has("api-key")) && !a.Has("provider"))
    return cli.Usage("--model and --api-key go with --provider");
  return WithSearch(cli, [&](NexusClient& c, rpc::Search::Client& s) -> int {
    if (a.Has("provider")) {
      auto req = s.initRequest();
      req.setProvider(a.Get("provider"));
      req.setModel(a.Get("model"));
      req.setApiKey(a.Get("api-key"));
      auto r = c.Wait(req.send());
      if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    }
    const bool draw = isatty(STDERR_FILENO) && !cli.json;
    bool drawn = false;
    for (;;) {
      auto r = c.Wait(s.statusRequest().send());
      if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
      auto st = r->getStatus();
      const bool busy = st.getEmbedding() || st.getState() == "indexing";
      if (!a.Has("wait") || !busy) {
        if (drawn) std::fputc('\n', stderr);
        if (cli.json) {
          cli.PrintJson(StatusJson(st));
        } else {
          PrintStatus(st);
        }
        if (a.Has("wait") && st.getSemanticError().size())
          return cli.Fail(Status::Error(EIO, st.getSemanticError()));
        return kExitOk;
      }
      if (draw) {
        std::fprintf(stderr, "\rembedding %llu/%llu chunks",
                     static_cast<unsigned long long>(st.getEmbedded()),
                     static_cast<unsigned long long>(st.getChunks()));
        drawn = true;
      }
      usleep(200'000);
    }
  });
}

int Stats(Cli& cli, const Args&) {
  return WithSearch(cli, [&](NexusClient& c, rpc::Search::Client& s) -> int {
    auto r = c.Wait(s.statusRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson(StatusJson(r->getStatus()));
    else
      PrintStatus(r->getStatus());
    return kExitOk;
  });
}

// ---------------------------------------------------------------- path contexts

int ContextSet(Cli& cli, const Args& a) {
  return WithSearch(cli, [&](NexusClient& c, rpc::Search::Client& s) -> int {
    auto req = s.setPathContextRequest();
    req.setPath(a.positional[0]);
    req.setDescription(a.positional[1]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson({{"path", a.positional[0]}, {"description", a.positional[1]}});
    else
      std::printf("context of %s set\n", a.positional[0].c_str());
    return kExitOk;
  });
}

int ContextList(Cli& cli, const Args&) {
  return WithSearch(cli, [&](NexusClient& c, rpc::Search::Client& s) -> int {
    auto r = c.Wait(s.listPathContextsRequest().send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    json out = json::array();
    for (auto ctx : r->getContexts()) {
      if (cli.json)
        out.push_back(
            {{"path", std::string(ctx.getPath())}, {"description", std::string(ctx.getDescription())}});
      else
        std::printf("%-32s %s\n", ctx.getPath().cStr(), ctx.getDescription().cStr());
    }
    if (cli.json) cli.PrintJson(out);
    return kExitOk;
  });
}

int ContextDelete(Cli& cli, const Args& a) {
  return WithSearch(cli, [&](NexusClient& c, rpc::Search::Client& s) -> int {
    auto req = s.deletePathContextRequest();
    req.setPath(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson({{"path", a.positional[0]}, {"deleted", true}});
    else
      std::printf("context of %s deleted\n", a.positional[0].c_str());
    return kExitOk;
  });
}

}  // namespace

void AddSearchCommands(std::vector<Command>* t) {
  t->push_back({{"glob"},
                {"--limit"},
                {"--plain"},
                "glob PATTERN [PATH] [--limit N] [--plain]",
                "Files whose path matches PATTERN (*, ?, [a-z], **, {a,b}), below PATH\n"
                "(default /). A relative PATTERN is taken below PATH. Only files you may read\n"
                "are listed. --limit N stops after N paths (default: all). One path a line is\n"
                "the default output (--plain says so explicitly).",
                1,
                2,
                Glob});
  t->push_back({{"grep"},
                {"--limit", "--search-mode", "-f,--file"},
                {"-i,--ignore-case", "-F,--fixed-strings", "-l,--files-with-matches"},
                "grep PATTERN [PATH] [-i] [-F] [-l] [-f GLOB] [--search-mode raw|parsed] [--limit N]",
                "Lines matching PATTERN (RE2 syntax, like grep -E) in the text files below\n"
                "PATH (default /), printed as PATH:LINE:TEXT like grep -rn. Binary files and\n"
                "files over 4 MiB are skipped. Uses the search index; exact for the current\n"
                "content. Put -- before a PATTERN starting with '-'.\n"
                "  -i  ignore case     -F  PATTERN is a literal string\n"
                "  -l  print only the names of matching files\n"
                "  -f GLOB  only files matching GLOB (relative: below PATH), e.g. '**/*.pdf'\n"
                "  --search-mode raw     the bytes of text files (default)\n"
                "  --search-mode parsed  also PDF, docx, xlsx and pptx files by their text;\n"
                "                        a match names its page, sheet or slide\n"
                "  --limit N  stop after N matches (default: all)\n"
                "--json adds each match's zone and its path within the zone.",
                1,
                2,
                Grep});
  t->push_back({{"search", "query"},
                {"--path", "--mode", "--limit"},
                {},
                "search query TEXT [--path P] [--mode keyword|semantic|hybrid] [--limit N]",
                "Ranked search: the chunks of text files best matching TEXT, best first.\n"
                "  --mode keyword   BM25 over words (default)\n"
                "  --mode semantic  embedding similarity (needs --search-embeddings on nexusd)\n"
                "  --mode hybrid    both, fused by rank\n"
                "Without an embedding provider, semantic and hybrid answer with keywords and\n"
                "say so (semantic_degraded). --path limits to a subtree; --limit N (default 10).\n"
                "PDF and Office documents are indexed by their text; their hits name the page,\n"
                "sheet or slide. --json adds each hit's zone and its path within the zone.",
                1,
                1,
                Query});
  t->push_back({{"search", "index"},
                {},
                {"--force"},
                "search index PATH [--force]",
                "Index new and changed files below PATH now (nexusd also does this at start\n"
                "and on every change). --force re-reads every file (admins only). Shows a\n"
                "progress bar on a terminal.",
                1,
                1,
                Index});
  t->push_back({{"search", "reindex"},
                {},
                {},
                "search reindex",
                "Re-read the whole tree into the index (admins only); progress bar on a\n"
                "terminal.",
                0,
                0,
                Reindex});
  t->push_back({{"search", "init"},
                {"--provider", "--model", "--api-key"},
                {"--wait"},
                "search init [--provider URL|fasttext:MODEL|none [--model M] [--api-key K]] [--wait]",
                "The search index is ready whenever search is on; this shows its state. With\n"
                "--provider (admins only) the embedding provider is switched at run time:\n"
                "  http(s)://HOST[:PORT][/PATH]  an OpenAI-compatible /v1/embeddings endpoint\n"
                "                                (--model names the model, --api-key the bearer)\n"
                "  fasttext:/path/model.bin      a local fastText model\n"
                "  none                          keyword search only\n"
                "Every chunk is then embedded again in the background (semantic and hybrid\n"
                "answer by keywords, flagged semantic_degraded, until it is done). --wait\n"
                "follows it with a progress line and fails if the provider fails. The switch\n"
                "lasts until nexusd restarts: its --search-embeddings flag or config decides\n"
                "at start.",
                0,
                0,
                Init});
  t->push_back({{"search", "stats"},
                {},
                {},
                "search stats",
                "State of the index (ready or indexing), files, chunks, bytes, last update,\n"
                "queued changes and the embedding provider.",
                0,
                0,
                Stats});
  t->push_back({{"path-context", "set"},
                {},
                {},
                "path-context set PATH DESCRIPTION",
                "Attach DESCRIPTION to PATH and everything below it; search hits there carry\n"
                "it. Admins, or whoever may write PATH.",
                2,
                2,
                ContextSet});
  t->push_back({{"path-context", "list"},
                {},
                {},
                "path-context list",
                "Every path context (of paths you can reach).",
                0,
                0,
                ContextList});
  t->push_back({{"path-context", "delete"},
                {},
                {},
                "path-context delete PATH",
                "Remove the context of PATH (error if it has none).",
                1,
                1,
                ContextDelete});
}

}  // namespace nexus::cli
