// The Search interface of the control socket (rpc/nexus.capnp): glob, grep
// and ranked queries over the daemon's search index, index maintenance and
// path contexts.
//
// Permissions: the index covers the whole tree (it is read as root), so
// every result is filtered by a `visible` predicate for non-admin sessions:
// a path is visible when the session could stat it (search permission on
// every directory above it) and read it. Admins see everything. Forcing a
// full re-read is admin-only; path contexts may be set or deleted by admins
// and by whoever may write the path.
//
// Threading: the methods run on the event-loop thread. Glob, grep, index
// and queries that need the embedding provider run on a BackgroundJobs
// thread (RunOffLoop) and fill their results back on the loop; keyword
// queries, status and path contexts are short index reads done in place.
#include <kj/debug.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>

#include "base/ns_path.h"
#include "fs/search/indexer.h"
#include "fs/search/search_index.h"
#include "rpc/bytes.h"
#include "rpc/errors.h"
#include "rpc/server/service_internal.h"

namespace nexus {
namespace {

void SetPart(rpc::DocumentPart::Builder b, const search::DocumentPart& part) {
  static_assert(static_cast<int>(rpc::DocumentPart::Kind::SLIDE) ==
                static_cast<int>(search::DocumentPart::Kind::kSlide));
  b.setKind(static_cast<rpc::DocumentPart::Kind>(part.kind));  // the same numbering
  b.setNumber(part.number);
  b.setName(part.name);
}

using search::QueryMode;

// Replies stay well inside the message limit.
constexpr size_t kMaxReplyBytes = 48u << 20;
constexpr size_t kMaxGrepMatches = 1'000'000;
constexpr size_t kMaxQueryLimit = 1000;

SearchProviders::State ProviderState(const SearchDeps& deps) {
  return deps.providers != nullptr ? deps.providers->Current() : SearchProviders::State{};
}

void FillStatus(rpc::IndexStatus::Builder b, const search::IndexStats& s, const SearchDeps& deps) {
  const SearchProviders::State provider = ProviderState(deps);
  b.setFiles(s.files);
  b.setChunks(s.chunks);
  b.setBytes(s.bytes);
  b.setLastUpdateNs(s.last_update_ns);
  const bool busy = s.state == search::IndexStats::State::kIndexing || provider.embedding;
  b.setState(busy ? "indexing" : "ready");
  b.setQueueDepth(s.queue_depth);
  b.setSemantic(provider.provider);
  b.setEmbedded(s.embedded);
  b.setEmbedding(provider.embedding);
  b.setSemanticError(provider.error);
}

// Where an off-loop bulk pass reports, read by PumpProgress.
struct ProgressState {
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> total{0};
};

class SearchImpl final : public Service<rpc::Search> {
 public:
  explicit SearchImpl(ConnPtr conn) : Service(std::move(conn)) {}

  kj::Promise<void> glob(GlobContext context) override {
    return Serve(context, Feature::kSearch, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(NsPath under, NsPath::ParseOptional(std::string(p.getPath())));
      std::string pattern = p.getPattern();
      if (pattern.empty()) return Status::Error(EINVAL, "empty glob pattern");
      const size_t limit = p.getLimit();
      auto* index = deps().index;
      auto visible = Visible();
      std::string root = under.str();
      return Job<std::vector<std::string>>(
          context, [=]() { return index->Glob(pattern, root, visible); },
          [limit](auto results, std::vector<std::string>& paths) {
            size_t n = paths.size(), bytes = 0;
            if (limit > 0 && n > limit) n = limit;
            for (size_t i = 0; i < n; ++i) {
              bytes += paths[i].size() + 8;
              if (bytes > kMaxReplyBytes) n = i;
            }
            results.setTruncated(n < paths.size());
            auto list = results.initPaths(n);
            for (size_t i = 0; i < n; ++i) list.set(i, paths[i]);
          });
    });
  }

  kj::Promise<void> grep(GrepContext context) override {
    return Serve(context, Feature::kSearch, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(NsPath under, NsPath::ParseOptional(std::string(p.getPath())));
      std::string pattern = p.getPattern();
      if (pattern.empty()) return Status::Error(EINVAL, "empty grep pattern");
      search::GrepOptions o;
      o.ignore_case = p.getIgnoreCase();
      o.fixed_string = p.getFixed();
      o.files_only = p.getFilesOnly();
      o.parsed = p.getParsed();
      o.file_glob = p.getFileGlob();
      const size_t limit = p.getLimit() ? std::min<size_t>(p.getLimit(), kMaxGrepMatches) : kMaxGrepMatches;
      o.max_results = limit + 1;  // one more tells the reply was truncated
      o.visible = Visible();
      auto* indexer = deps().indexer;
      std::string root = under.str();
      return Job<std::vector<search::GrepMatch>>(
          context, [=]() { return indexer->Grep(pattern, root, o); },
          [limit](auto results, std::vector<search::GrepMatch>& m) {
            size_t n = std::min(m.size(), limit), bytes = 0;
            for (size_t i = 0; i < n; ++i) {
              bytes += m[i].path.size() + m[i].text.size() + 24;
              if (bytes > kMaxReplyBytes) n = i;
            }
            results.setTruncated(n < m.size());
            auto list = results.initMatches(n);
            for (size_t i = 0; i < n; ++i) {
              list[i].setPath(m[i].path);
              list[i].setLine(m[i].line);
              list[i].setText(AsBytes(m[i].text));
              SetPart(list[i].initPart(), m[i].part);
            }
          });
    });
  }

  kj::Promise<void> query(QueryContext context) override {
    return Serve(context, Feature::kSearch, [&](auto p, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(NsPath under, NsPath::ParseOptional(std::string(p.getPath())));
      search::QueryOptions o;
      o.path_prefix = under.str();
      switch (p.getMode()) {
        case rpc::Search::Mode::KEYWORD:
          o.mode = QueryMode::kKeyword;
          break;
        case rpc::Search::Mode::SEMANTIC:
          o.mode = QueryMode::kSemantic;
          break;
        case rpc::Search::Mode::HYBRID:
          o.mode = QueryMode::kHybrid;
          break;
        default:
          return Status::Error(EINVAL, "unknown query mode");
      }
      if (p.getLimit() > kMaxQueryLimit) return Status::Error(EINVAL, "limit must be at most 1000");
      o.limit = p.getLimit() ? p.getLimit() : 10;
      o.visible = Visible();
      std::string text = p.getText();
      const bool no_provider = ProviderState(deps()).provider.empty();
      auto* index = deps().index;
      auto fill = [mode = o.mode, no_provider](auto results, std::vector<search::QueryHit>& hits) {
        bool degraded = mode != QueryMode::kKeyword && no_provider;
        auto list = results.initHits(hits.size());
        for (size_t i = 0; i < hits.size(); ++i) {
          const auto& h = hits[i];
          auto b = list[i];
          b.setPath(h.path);
          b.setStartLine(h.start_line);
          b.setEndLine(h.end_line);
          b.setSnippet(h.snippet);
          b.setScore(h.score);
          b.setKeywordScore(h.keyword_score);
          b.setVectorScore(h.vector_score);
          b.setSemanticDegraded(h.semantic_degraded);
          b.setContext(h.context);
          SetPart(b.initPart(), h.part);
          degraded = degraded || h.semantic_degraded;
        }
        results.setSemanticDegraded(degraded);
      };
      // Keyword queries are short index reads; the semantic lane may wait on
      // an embedding provider, so it leaves the loop.
      if (o.mode == QueryMode::kKeyword || no_provider) {
        NEXUS_ASSIGN_OR_RETURN(auto hits, index->Query(text, o));
        fill(results, hits);
        return Status::Ok();
      }
      return Job<std::vector<search::QueryHit>>(
          context, [=]() { return index->Query(text, o); }, fill);
    });
  }

  kj::Promise<void> index(IndexContext context) override {
    return Serve(context, Feature::kSearch, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(NsPath root, NsPath::ParseOptional(std::string(p.getPath())));
      const bool force = p.getForce();
      if (force && !conn_->admin())
        return Status::Error(EACCES, "re-reading the index (--force, reindex) is for admins only");
      // The path must exist, and a non-admin indexes only what it can see.
      NEXUS_RETURN_IF_ERROR(
          ctx().files->Stat(conn_->admin() ? Caller{} : conn_->actor, root.str(), false, false));
      auto progress = std::make_shared<ProgressState>();
      auto state = std::make_shared<Status>();
      auto* indexer = deps().indexer;
      auto* idx = deps().index;
      std::string path = root.str();
      auto report = [progress](size_t done, size_t total) {
        progress->done = done;
        progress->total = total;
      };
      kj::Promise<void> work = RunOffLoop(ctx(), [=]() {
        if (force && path == "/")
          *state = indexer->Reindex(report);
        else if (force)
          *state = idx->Sync(path, true, report);
        else
          *state = indexer->IndexPath(path, report);
      });
      if (p.hasProgress() && ctx().timer != nullptr)
        work = work.exclusiveJoin(PumpProgress(
            *ctx().timer, p.getProgress(),
            [progress] { return std::make_pair(progress->done.load(), progress->total.load()); }, "files"));
      return work.then([context, state, call = &Current(), &deps = deps()]() mutable {
        auto results = context.getResults();
        if (call->Fail(results, *state)) return;
        auto stats = deps.indexer->Stats();
        if (call->Fail(results, stats.status())) return;
        FillStatus(results.initStatus(), *stats, deps);
      });
    });
  }

  kj::Promise<void> status(StatusContext context) override {
    return Serve(context, Feature::kSearch, [&](auto, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(auto stats, deps().indexer->Stats());
      FillStatus(results.initStatus(), stats, deps());
      return Status::Ok();
    });
  }

  kj::Promise<void> init(InitContext context) override {
    return Serve(context, Feature::kSearch, [&](auto p, auto) -> Reply {
      if (!conn_->admin())
        return Status::Error(EACCES, "switching the embedding provider is for admins only");
      if (deps().providers == nullptr) return Status::Error(ENOTSUP, "this daemon cannot switch providers");
      std::string provider = p.getProvider(), model = p.getModel(), key = p.getApiKey();
      if (provider.empty())
        return Status::Error(EINVAL, "no provider (http(s)://..., fasttext:MODEL or none)");
      auto state = std::make_shared<Status>();
      auto* providers = deps().providers;
      return RunOffLoop(ctx(), [=]() { *state = providers->Switch(provider, model, key); })
          .then([context, state, call = &Current(), &deps = deps()]() mutable {
            auto results = context.getResults();
            if (call->Fail(results, *state)) return;
            auto stats = deps.indexer->Stats();
            if (call->Fail(results, stats.status())) return;
            FillStatus(results.initStatus(), *stats, deps);
          });
    });
  }

  kj::Promise<void> setPathContext(SetPathContextContext context) override {
    return Serve(context, Feature::kSearch, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(NsPath path, NsPath::ParseOptional(std::string(p.getPath())));
      std::string description = p.getDescription();
      if (description.empty())
        return Status::Error(EINVAL, "empty description (use path-context delete to remove one)");
      NEXUS_RETURN_IF_ERROR(MayWrite(path.str()));
      return deps().index->SetPathContext(path.str(), description);
    });
  }

  kj::Promise<void> listPathContexts(ListPathContextsContext context) override {
    return Serve(context, Feature::kSearch, [&](auto, auto results) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(auto all, deps().index->ListPathContexts());
      std::vector<search::PathContext> shown;
      auto visible = Visible();
      for (auto& c : all)
        if (!visible || Reachable(c.path)) shown.push_back(std::move(c));
      auto list = results.initContexts(shown.size());
      for (size_t i = 0; i < shown.size(); ++i) {
        list[i].setPath(shown[i].path);
        list[i].setDescription(shown[i].description);
      }
      return Status::Ok();
    });
  }

  kj::Promise<void> deletePathContext(DeletePathContextContext context) override {
    return Serve(context, Feature::kSearch, [&](auto p, auto) -> Reply {
      NEXUS_ASSIGN_OR_RETURN(NsPath path, NsPath::ParseOptional(std::string(p.getPath())));
      NEXUS_RETURN_IF_ERROR(MayWrite(path.str()));
      return deps().index->DeletePathContext(path.str());
    });
  }

 private:
  const SearchDeps& deps() const { return ctx().search; }
  // Null for admins (they see everything); else: may this session stat and
  // read the path? Safe to call from any thread.
  search::VisibleFn Visible() {
    if (conn_->admin()) return {};
    PathFiles* files = ctx().files;
    Caller actor = conn_->actor;
    return [files, actor](const std::string& path) {
      auto st = files->Stat(actor, path, false, false);
      return st.ok() && CheckAccess(actor, st->attr, kMayRead).ok();
    };
  }

  // The session can reach `path` (search permission on the way).
  bool Reachable(const std::string& path) { return ctx().files->Stat(conn_->actor, path, false, false).ok(); }

  // Admins, or a session that may write `path` (which must exist).
  Status MayWrite(const std::string& path) {
    if (conn_->admin()) return Status::Ok();
    auto st = ctx().files->Stat(conn_->actor, path, false, false);
    if (!st.ok()) return st.status();
    if (!CheckAccess(conn_->actor, st->attr, kMayWrite).ok())
      return Status::Error(EACCES, "path contexts of " + path + " are for admins and those who may write it");
    return Status::Ok();
  }
};

}  // namespace

kj::Own<rpc::Search::Server> MakeSearchService(ConnPtr conn) { return kj::heap<SearchImpl>(std::move(conn)); }

}  // namespace nexus
