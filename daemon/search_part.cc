#include "daemon/search_part.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
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

Result<std::unique_ptr<search::EmbeddingProvider>> MakeProvider(const DaemonOptions& o) {
  const std::string& src = o.search_embeddings;
  if (src.empty()) return std::unique_ptr<search::EmbeddingProvider>();
  if (src.rfind("fasttext:", 0) == 0) {
    auto p = search::FastTextEmbeddingProvider::Open(src.substr(9));
    if (!p.ok()) return Status::Error(EINVAL, "--search-embeddings " + src + ": " + p.status().message());
    return std::unique_ptr<search::EmbeddingProvider>(std::move(p).value());
  }
  if (src.rfind("http://", 0) == 0 || src.rfind("https://", 0) == 0) {
    search::HttpEmbeddingProvider::Options ho;
    ho.base_url = src;
    ho.model = o.search_embeddings_model;
    ho.api_key = o.search_embeddings_key;
    ho.ca_file = o.search_embeddings_ca;
    auto p = search::HttpEmbeddingProvider::Create(std::move(ho));
    if (!p.ok()) return Status::Error(EINVAL, "--search-embeddings " + src + ": " + p.status().message());
    return std::unique_ptr<search::EmbeddingProvider>(std::move(p).value());
  }
  return Status::Error(EINVAL,
                       "--search-embeddings must be http(s)://HOST[:PORT][/PATH] or "
                       "fasttext:/path/model.bin, not '" +
                           src + "'");
}

// DATA/search.model names the embedding model of the stored vectors.
std::string ReadModelFile(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

void WriteModelFile(const std::string& path, const std::string& model) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << model << "\n";
    if (!out) return spdlog::warn("search: cannot write {}", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) spdlog::warn("search: cannot write {}", path);
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

class SearchPartImpl final : public SearchPart {
 public:
  ~SearchPartImpl() override {
    {
      MutexLock lk(feed_->mu);
      feed_->indexer = nullptr;
    }
    if (catch_up_.joinable()) catch_up_.join();
    indexer_.reset();  // stops the worker before the index goes
    index_.reset();
  }

  void Fill(ServiceContext& ctx) override {
    ctx.search.index = index_.get();
    ctx.search.indexer = indexer_.get();
    ctx.search.semantic_provider = embedder_ ? embedder_->ModelId() : "";
  }

  std::string State() const override {
    if (catching_up_.load()) return "indexing";
    auto st = indexer_->Stats();
    if (st.ok()) return search::StateName(st->state);
    return "ready";
  }

  // Sets feed_->indexer before the bus subscription shares the feed, so
  // without feed_->mu.
  Status Open(const DaemonOptions& o, const std::string& data_dir, Namespace* ns,
              ChangeBus* bus) NO_THREAD_SAFETY_ANALYSIS {
    auto provider = MakeProvider(o);
    if (!provider.ok()) return provider.status();
    embedder_ = std::move(provider).value();
    source_ = std::make_unique<search::NamespaceContentSource>(ns);
    search::SearchIndex::Options io;
    io.embedder = embedder_.get();
    auto index = search::SearchIndex::Open(data_dir + "/search.db", source_.get(), io);
    if (!index.ok())
      return Status::Error(index.code(),
                           "search index " + data_dir + "/search.db: " + index.status().message());
    index_ = std::move(index).value();
    indexer_ = std::make_unique<search::Indexer>(index_.get());
    feed_->indexer = indexer_.get();
    bus->Subscribe([feed = feed_](const ChangeEvent& e) { Deliver(*feed, e); });

    // Vectors of another model were dropped when the index opened: this
    // start re-reads every file to embed it again.
    const std::string model = embedder_ ? embedder_->ModelId() : "";
    const std::string model_file = data_dir + "/search.model";
    const bool reembed = !model.empty() && ReadModelFile(model_file) != model;
    catching_up_ = true;
    catch_up_ = std::thread([this, reembed, model, model_file]() {
      LowerThreadPriority();
      auto t0 = std::chrono::steady_clock::now();
      if (reembed) spdlog::info("search: new embedding model {}: re-reading every file", model);
      Status st = reembed ? indexer_->Reindex() : indexer_->IndexPath("/");
      if (st.ok()) WriteModelFile(model_file, model);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      auto counts = index_->Counts();
      if (!st.ok())
        spdlog::error("search: catching up with the tree failed after {:.1f} s: {}", s, st.ToString());
      else
        spdlog::info("search: index caught up in {:.1f} s: {} files, {} chunks", s,
                     counts.ok() ? counts->files : 0, counts.ok() ? counts->chunks : 0);
      catching_up_ = false;
    });
    spdlog::info("search: index {}/search.db, semantic lane {}", data_dir,
                 embedder_ ? embedder_->ModelId() : "off (keyword only)");
    return Status::Ok();
  }

 private:
  std::shared_ptr<Feed> feed_ = std::make_shared<Feed>();
  std::unique_ptr<search::EmbeddingProvider> embedder_;
  std::unique_ptr<search::NamespaceContentSource> source_;
  std::unique_ptr<search::SearchIndex> index_;
  std::unique_ptr<search::Indexer> indexer_;
  std::atomic<bool> catching_up_{false};
  std::thread catch_up_;
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
