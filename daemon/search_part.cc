#include "daemon/search_part.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "base/layout.h"
#include "base/thread_priority.h"
#include "fs/search/content_source.h"
#include "fs/search/embedding.h"
#include "fs/search/indexer.h"
#include "fs/search/namespace_source.h"
#include "fs/search/search_index.h"

namespace nexus {
namespace {

// Words whose keyword impact lists are built once the index has caught up.
constexpr size_t kKeywordListWords = 1000;

// The provider SPEC names ("" or "none": none); `what` names where SPEC
// came from in errors.
Result<std::unique_ptr<search::EmbeddingProvider>> MakeProvider(const std::string& src,
                                                                const std::string& model,
                                                                const std::string& key, const std::string& ca,
                                                                const std::string& what) {
  if (src.empty() || src == "none") return std::unique_ptr<search::EmbeddingProvider>();
  if (src.rfind("fasttext:", 0) == 0) {
    auto p = search::FastTextEmbeddingProvider::Open(src.substr(9));
    if (!p.ok()) return Status::Error(EINVAL, what + " " + src + ": " + p.status().message());
    return std::unique_ptr<search::EmbeddingProvider>(std::move(p).value());
  }
  if (src.rfind("http://", 0) == 0 || src.rfind("https://", 0) == 0) {
    search::HttpEmbeddingProvider::Options ho;
    ho.base_url = src;
    ho.model = model;
    ho.api_key = key;
    ho.ca_file = ca;
    auto p = search::HttpEmbeddingProvider::Create(std::move(ho));
    if (!p.ok()) return Status::Error(EINVAL, what + " " + src + ": " + p.status().message());
    return std::unique_ptr<search::EmbeddingProvider>(std::move(p).value());
  }
  return Status::Error(EINVAL, what +
                                   " must be http(s)://HOST[:PORT][/PATH], fasttext:/path/model.bin or none, "
                                   "not '" +
                                   src + "'");
}

// What the bus subscriber reaches; outlives the part (the bus keeps the
// subscriber), so the part detaches it on destruction.
struct Feed {
  Mutex mu;
  search::Indexer* indexer GUARDED_BY(mu) = nullptr;  // null once detached
};

void Deliver(Feed& feed, const ChangeEvent& e) {
  using Kind = ChangeEvent::Kind;
  if (e.path.empty()) return;
  const bool from_history = layout::IsSystemPath(e.path);
  MutexLock lk(feed.mu);
  if (feed.indexer == nullptr) return;
  switch (e.kind) {
    case Kind::kContentClosed:
    case Kind::kContentSynced:
    case Kind::kCreated:
    case Kind::kAttrChanged:
      if (!from_history) feed.indexer->Upsert(e.path);
      break;
    case Kind::kRemoved:
      if (!from_history) feed.indexer->Remove(e.path);
      break;
    case Kind::kRenamed: {
      const bool to_history = e.new_path.empty() || layout::IsSystemPath(e.new_path);
      if (!from_history && !to_history) {
        feed.indexer->Rename(e.path, e.new_path);
      } else if (!from_history) {
        feed.indexer->Remove(e.path);
      } else if (!to_history) {
        feed.indexer->Upsert(e.new_path);
      }
      break;
    }
  }
}

class SearchPartImpl final : public SearchPart, public SearchProviders {
 public:
  ~SearchPartImpl() override {
    {
      MutexLock lk(feed_->mu);
      feed_->indexer = nullptr;
    }
    stopping_ = true;
    if (catch_up_.joinable()) catch_up_.join();
    std::thread embed;
    {
      MutexLock lk(embed_mu_);
      embed = std::move(embed_);
    }
    if (embed.joinable()) embed.join();
    indexer_.reset();  // stops the worker before the index goes
    index_.reset();
  }

  void Fill(ServiceContext& ctx) override {
    ctx.search.index = index_.get();
    ctx.search.indexer = indexer_.get();
    ctx.search.providers = this;
  }

  SearchProviders::State Current() const override {
    search::EmbeddingProvider* e = index_->embedder();
    MutexLock lk(embed_mu_);
    return {e != nullptr ? e->ModelId() : "", embedding_, embed_error_};
  }

  Status Switch(const std::string& spec, const std::string& model, const std::string& key) override {
    MutexLock switching(switch_mu_);  // one switch at a time
    auto provider = MakeProvider(spec, model, key, ca_file_, "provider");
    if (!provider.ok()) return provider.status();
    NEXUS_RETURN_IF_ERROR(index_->SetEmbedder(provider->get()));
    spdlog::info("search: embedding provider is now {}", *provider ? (*provider)->ModelId() : "none");
    // The refill in flight stops at its next batch (its provider was
    // replaced); the replaced provider may still be serving a query, so it
    // is kept until the daemon stops (a switch is rare; a provider small).
    std::thread previous;
    {
      MutexLock lk(embed_mu_);
      previous = std::move(embed_);
      if (embedder_) retired_.push_back(std::move(embedder_));
      embedder_ = std::move(provider).value();
    }
    if (previous.joinable()) previous.join();
    MutexLock lk(embed_mu_);
    StartEmbeddingLocked();
    return Status::Ok();
  }

  std::string State() const override {
    if (catching_up_.load()) return "indexing";
    {
      MutexLock lk(embed_mu_);
      if (embedding_) return "indexing";
    }
    auto st = indexer_->Stats();
    if (st.ok()) return search::StateName(st->state);
    return "ready";
  }

  // Sets feed_->indexer before the bus subscription shares the feed, so
  // without feed_->mu.
  Status Open(const DaemonOptions& o, const std::string& data_dir, Namespace* ns,
              ChangeBus* bus) NO_THREAD_SAFETY_ANALYSIS {
    ca_file_ = o.search_embeddings_ca;
    auto provider = MakeProvider(o.search_embeddings, o.search_embeddings_model, o.search_embeddings_key,
                                 o.search_embeddings_ca, "--search-embeddings");
    if (!provider.ok()) return provider.status();
    embedder_ = std::move(provider).value();
    source_ = std::make_unique<search::NamespaceContentSource>(ns);
    search::SearchIndex::Options io;
    io.embedder = embedder_.get();
    io.hnsw_min_vectors = 10'000;  // exact scans below, the HNSW graph above
    auto index = search::SearchIndex::Open(data_dir + "/search.db", source_.get(), io);
    if (!index.ok())
      return Status::Error(index.code(),
                           "search index " + data_dir + "/search.db: " + index.status().message());
    index_ = std::move(index).value();
    indexer_ = std::make_unique<search::Indexer>(index_.get());
    feed_->indexer = indexer_.get();
    bus->Subscribe([feed = feed_](const ChangeEvent& e) { Deliver(*feed, e); });

    // Catch up with the tree, then embed what has no vector: everything
    // when the model changed (the index dropped the old vectors at open),
    // else what the provider failed to embed before.
    catching_up_ = true;
    catch_up_ = std::thread([this]() {
      LowerThreadPriority();
      auto t0 = std::chrono::steady_clock::now();
      Status st = indexer_->IndexPath("/");
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      auto counts = index_->Counts();
      if (!st.ok())
        spdlog::error("search: catching up with the tree failed after {:.1f} s: {}", s, st.ToString());
      else
        spdlog::info("search: index caught up in {:.1f} s: {} files, {} chunks", s,
                     counts.ok() ? counts->files : 0, counts.ok() ? counts->chunks : 0);
      {
        MutexLock lk(embed_mu_);
        if (!stopping_ && !embed_.joinable()) StartEmbeddingLocked();
      }
      catching_up_ = false;
      // Frequent words' impact lists, so that queries holding them are
      // quick from the first one.
      t0 = std::chrono::steady_clock::now();
      auto lists = index_->PrepareKeywordLists(kKeywordListWords, [this] { return stopping_.load(); });
      s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!lists.ok())
        spdlog::warn("search: frequent words' impact lists: {}", lists.status().ToString());
      else if (*lists > 0)
        spdlog::info("search: impact lists of {} frequent words built in {:.1f} s", *lists, s);
    });
    spdlog::info("search: index {}/search.db, semantic lane {}", data_dir,
                 embedder_ ? embedder_->ModelId() : "off (keyword only)");
    return Status::Ok();
  }

 private:
  std::shared_ptr<Feed> feed_ = std::make_shared<Feed>();
  Mutex switch_mu_;
  std::unique_ptr<search::EmbeddingProvider> embedder_;  // the current provider (embed_mu_ once serving)
  std::unique_ptr<search::NamespaceContentSource> source_;
  std::unique_ptr<search::SearchIndex> index_;
  std::unique_ptr<search::Indexer> indexer_;
  std::atomic<bool> catching_up_{false};
  std::atomic<bool> stopping_{false};
  std::thread catch_up_;
  std::string ca_file_;  // --search-embeddings-ca, for providers switched to

  // Refilling vectors in the background (after start or a switch).
  mutable Mutex embed_mu_;
  std::thread embed_ GUARDED_BY(embed_mu_);
  bool embedding_ GUARDED_BY(embed_mu_) = false;
  std::string embed_error_ GUARDED_BY(embed_mu_);
  std::vector<std::unique_ptr<search::EmbeddingProvider>> retired_ GUARDED_BY(embed_mu_);

  void StartEmbeddingLocked() REQUIRES(embed_mu_) {
    embed_error_.clear();
    if (index_->embedder() == nullptr) return;
    embedding_ = true;
    embed_ = std::thread([this]() {
      LowerThreadPriority();
      auto t0 = std::chrono::steady_clock::now();
      uint64_t total = 0;
      Status st =
          index_->EmbedMissing([&](size_t, size_t t) { total = t; }, [this] { return stopping_.load(); });
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      MutexLock lk(embed_mu_);
      embedding_ = false;
      if (!st.ok()) {
        embed_error_ = st.ToString();
        spdlog::error("search: embedding stopped after {:.1f} s: {} (the semantic lane stays degraded)", s,
                      embed_error_);
      } else if (total > 0) {
        spdlog::info("search: embedded {} chunks in {:.1f} s", total, s);
      }
    });
  }
};

}  // namespace

Result<std::unique_ptr<SearchPart>> SearchPart::Start(const DaemonOptions& options,
                                                      const std::string& data_dir, Namespace* ns,
                                                      ChangeBus* bus) {
  auto part = std::make_unique<SearchPartImpl>();
  if (Status st = part->Open(options, data_dir, ns, bus); !st.ok()) return st;
  return std::unique_ptr<SearchPart>(std::move(part));
}

}  // namespace nexus
