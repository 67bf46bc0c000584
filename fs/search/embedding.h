// EmbeddingProvider: turns texts into vectors for the semantic lane.
//
// Two implementations:
//  - HttpEmbeddingProvider: an OpenAI-compatible endpoint,
//    POST {base}/v1/embeddings {"model": m, "input": [...]} answering
//    {"data": [{"index": i, "embedding": [...]}, ...]}. Plain HTTP/1.1 over
//    a socket (http:// only), one connection per request, a deadline over
//    connect + send + receive.
//  - FastTextEmbeddingProvider: a local fastText model file
//    (getSentenceVector: the mean of the normalised word vectors).
//
// Threading: Embed may be called from several threads at once (the indexer
// embeds chunks while queries embed their text).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"

namespace fasttext {
class FastText;
}

namespace nexus::search {

using Vector = std::vector<float>;

class EmbeddingProvider {
 public:
  virtual ~EmbeddingProvider() = default;
  // One vector per text, in order, all of the same dimension.
  virtual Result<std::vector<Vector>> Embed(const std::vector<std::string>& texts) = 0;
  // Names the model: vectors of different ids are never compared.
  virtual std::string ModelId() const = 0;
};

class HttpEmbeddingProvider final : public EmbeddingProvider {
 public:
  struct Options {
    std::string base_url;  // "http://host:port" or "http://host:port/prefix"
    std::string model;
    std::string api_key;  // sent as "Authorization: Bearer" when not empty
    int timeout_ms = 10'000;
    size_t max_batch = 64;  // texts per request
  };
  // EINVAL for a URL that is not http://host[:port][/path].
  static Result<std::unique_ptr<HttpEmbeddingProvider>> Create(Options options);

  // ETIMEDOUT past the deadline; EAGAIN if the endpoint cannot be reached or
  // answers non-2xx; EINVAL for an answer that is not the expected JSON.
  Result<std::vector<Vector>> Embed(const std::vector<std::string>& texts) override;
  std::string ModelId() const override { return "http:" + options_.model + "@" + host_; }

 private:
  explicit HttpEmbeddingProvider(Options options) : options_(std::move(options)) {}
  Result<std::vector<Vector>> EmbedBatch(const std::vector<std::string>& texts);
  Options options_;
  std::string host_, port_, path_;  // from base_url; path_ ends without '/'
};

class FastTextEmbeddingProvider final : public EmbeddingProvider {
 public:
  // EINVAL if `model_path` is not a loadable fastText .bin model.
  static Result<std::unique_ptr<FastTextEmbeddingProvider>> Open(const std::string& model_path);
  ~FastTextEmbeddingProvider() override;

  Result<std::vector<Vector>> Embed(const std::vector<std::string>& texts) override;
  std::string ModelId() const override { return "fasttext:" + model_path_; }

 private:
  FastTextEmbeddingProvider() = default;
  std::string model_path_;
  Mutex mu_;  // fastText's model is not documented as thread-safe
  std::unique_ptr<fasttext::FastText> model_ GUARDED_BY(mu_);
};

// Cosine similarity of two n-float vectors; 0 when either is all zeros.
float Cosine(const float* a, const float* b, size_t n);

}  // namespace nexus::search
