// EmbeddingProvider: turns texts into vectors for the semantic lane.
//
// Two implementations:
//  - HttpEmbeddingProvider: an OpenAI-compatible endpoint,
//    POST {base}/v1/embeddings {"model": m, "input": [...]} answering
//    {"data": [{"index": i, "embedding": [...]}, ...]}, over http:// or
//    https:// (libcurl; the system's CA store or a given bundle, keep-alive
//    connections reused across requests). Texts go in batches; a batch that
//    fails for a reason worth retrying (no connection, timeout, 429, 5xx) is
//    retried with exponential back-off (honouring Retry-After up to 5 s).
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
  // The same for a query being answered: a provider that retries failures
  // tries once here, so a query degrades quickly instead of waiting.
  virtual Result<std::vector<Vector>> EmbedQuery(const std::vector<std::string>& texts) {
    return Embed(texts);
  }
  // Names the model: vectors of different ids are never compared.
  virtual std::string ModelId() const = 0;
};

class HttpEmbeddingProvider final : public EmbeddingProvider {
 public:
  struct Options {
    std::string base_url;  // "http://host:port" or "http://host:port/prefix"
    std::string model;
    std::string api_key;      // sent as "Authorization: Bearer" when not empty
    std::string ca_file;      // PEM bundle to trust for https:// (empty: the system's)
    int timeout_ms = 10'000;  // per attempt: connect + send + receive
    int attempts = 4;         // tries per batch (>= 1)
    int backoff_ms = 200;     // wait before the second try; doubles after each
    size_t max_batch = 64;    // texts per request
  };
  // EINVAL for a URL that is not http(s)://host[:port][/path], or bad settings.
  static Result<std::unique_ptr<HttpEmbeddingProvider>> Create(Options options);
  ~HttpEmbeddingProvider() override;

  // After the last attempt: ETIMEDOUT past the deadline; EAGAIN if the
  // endpoint cannot be reached or answers non-2xx (the message has the
  // status and the start of the body); EACCES for a TLS certificate that is
  // not trusted; EINVAL for an answer that is not the expected JSON (not
  // retried).
  Result<std::vector<Vector>> Embed(const std::vector<std::string>& texts) override;
  Result<std::vector<Vector>> EmbedQuery(const std::vector<std::string>& texts) override;
  std::string ModelId() const override { return "http:" + options_.model + "@" + host_; }

 private:
  struct Handle;  // a libcurl easy handle, reused for keep-alive
  explicit HttpEmbeddingProvider(Options options);
  Result<std::vector<Vector>> EmbedAll(const std::vector<std::string>& texts, int attempts);
  Result<std::vector<Vector>> EmbedBatch(const std::vector<std::string>& texts, int attempts);
  std::unique_ptr<Handle> TakeHandle();
  void ReturnHandle(std::unique_ptr<Handle> h);

  Options options_;
  std::string url_;   // .../v1/embeddings
  std::string host_;  // host[:port], for ModelId
  Mutex pool_mu_;
  std::vector<std::unique_ptr<Handle>> pool_ GUARDED_BY(pool_mu_);
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
