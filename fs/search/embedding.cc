#include "fs/search/embedding.h"

#include <curl/curl.h>
#include <fasttext/fasttext.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "base/curl_util.h"

namespace nexus::search {
namespace {

// Retry-After in seconds from the response headers, 0 when absent.
size_t CollectHeader(char* data, size_t size, size_t n, void* out) {
  std::string_view line(data, size * n);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    std::string lower(line.substr(0, kName.size()));
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == kName)
      *static_cast<long*>(out) = std::strtol(std::string(line.substr(kName.size())).c_str(), nullptr, 10);
  }
  return size * n;
}

}  // namespace

struct HttpEmbeddingProvider::Handle {
  CURL* curl = nullptr;
  Handle() : curl(curl_easy_init()) {}
  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

Result<std::unique_ptr<HttpEmbeddingProvider>> HttpEmbeddingProvider::Create(Options options) {
  std::string_view url = options.base_url;
  std::string_view scheme;
  for (std::string_view s : {"http://", "https://"})
    if (url.starts_with(s)) scheme = s;
  if (scheme.empty())
    return Status::Error(EINVAL, "embedding URL must be http:// or https://: " + options.base_url);
  url.remove_prefix(scheme.size());
  std::string_view authority = url.substr(0, url.find('/'));
  std::string_view host = authority.substr(0, authority.rfind(':'));
  std::string path(url.substr(authority.size()));
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (host.empty() || authority.ends_with(':') || options.model.empty() || options.max_batch == 0 ||
      options.attempts < 1 || options.timeout_ms <= 0 || options.backoff_ms < 0)
    return Status::Error(EINVAL, "bad embedding endpoint settings: " + options.base_url);
  InitCurlOnce();
  std::unique_ptr<HttpEmbeddingProvider> p(new HttpEmbeddingProvider(std::move(options)));
  p->url_ = std::string(scheme) + std::string(authority) + path + "/v1/embeddings";
  p->host_ = std::string(host);
  return p;
}

HttpEmbeddingProvider::HttpEmbeddingProvider(Options options) : options_(std::move(options)) {}
HttpEmbeddingProvider::~HttpEmbeddingProvider() = default;

std::unique_ptr<HttpEmbeddingProvider::Handle> HttpEmbeddingProvider::TakeHandle() {
  {
    MutexLock lk(pool_mu_);
    if (!pool_.empty()) {
      auto h = std::move(pool_.back());
      pool_.pop_back();
      return h;
    }
  }
  return std::make_unique<Handle>();
}

void HttpEmbeddingProvider::ReturnHandle(std::unique_ptr<Handle> h) {
  MutexLock lk(pool_mu_);
  if (pool_.size() < 4) pool_.push_back(std::move(h));
}

Result<std::vector<Vector>> HttpEmbeddingProvider::Embed(const std::vector<std::string>& texts) {
  return EmbedAll(texts, options_.attempts);
}

Result<std::vector<Vector>> HttpEmbeddingProvider::EmbedQuery(const std::vector<std::string>& texts) {
  return EmbedAll(texts, 1);
}

Result<std::vector<Vector>> HttpEmbeddingProvider::EmbedAll(const std::vector<std::string>& texts,
                                                            int attempts) {
  std::vector<Vector> out;
  out.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); i += options_.max_batch) {
    std::vector<std::string> batch(texts.begin() + i,
                                   texts.begin() + std::min(texts.size(), i + options_.max_batch));
    auto vecs = EmbedBatch(batch, attempts);
    if (!vecs.ok()) return vecs.status();
    for (auto& v : *vecs) out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<Vector>> HttpEmbeddingProvider::EmbedBatch(const std::vector<std::string>& texts,
                                                              int attempts) {
  // Texts are sanitized UTF-8; dump() replaces anything else rather than throw.
  const std::string body = nlohmann::json{{"model", options_.model}, {"input", texts}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(nullptr, curl_slist_free_all);
  for (std::string h :
       {std::string("Content-Type: application/json"), std::string("Accept: application/json"),
        options_.api_key.empty() ? std::string() : "Authorization: Bearer " + options_.api_key}) {
    if (!h.empty()) headers.reset(curl_slist_append(headers.release(), h.c_str()));
  }

  // One attempt: the payload, or why it failed (EAGAIN and ETIMEDOUT are
  // worth another; a 429 or 5xx may say when in Retry-After).
  long retry_after_s = 0;
  auto attempt = [&](Handle& h) -> Result<std::string> {
    CURL* c = h.curl;
    if (c == nullptr) return Status::Error(ENOMEM, "embedding endpoint: no HTTP client handle");
    std::string response;
    long retry_after = 0;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout_ms));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendToString);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, CollectHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &retry_after);
    if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
    char error[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    const CURLcode rc = curl_easy_perform(c);
    const std::string why = error[0] != '\0' ? error : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT)
      return Status::Error(ETIMEDOUT, "embedding endpoint timed out: " + why);
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
      return Status::Error(EACCES, "embedding endpoint " + url_ + ": TLS certificate not trusted: " + why);
    if (rc != CURLE_OK) return Status::Error(EAGAIN, "embedding endpoint " + url_ + ": " + why);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code > 299) {
      Status st = Status::Error(
          EAGAIN, "embedding endpoint answered " + std::to_string(code) + ": " + response.substr(0, 200));
      if (code == 429 || code >= 500) {
        retry_after_s = std::min(retry_after, 5L);
        return st;
      }
      return Status::Error(code == 401 || code == 403 ? EACCES : EINVAL, st.message());
    }
    return response;
  };

  auto handle = TakeHandle();
  Result<std::string> payload = Status::Error(EAGAIN, "embedding endpoint: not tried");
  std::minstd_rand jitter(std::random_device{}());
  int backoff = options_.backoff_ms;
  for (int n = 1;; ++n) {
    retry_after_s = 0;
    payload = attempt(*handle);
    const int code = payload.ok() ? 0 : payload.code();
    const bool retry = code == EAGAIN || code == ETIMEDOUT;
    if (!retry || n >= attempts) break;
    int wait = std::max<int>(backoff + static_cast<int>(jitter() % (backoff / 2 + 1)),
                             static_cast<int>(retry_after_s) * 1000);
    std::this_thread::sleep_for(std::chrono::milliseconds(wait));
    backoff = std::min(backoff * 2, 5000);
  }
  ReturnHandle(std::move(handle));
  if (!payload.ok()) return payload.status();

  auto doc = nlohmann::json::parse(*payload, nullptr, /*allow_exceptions=*/false);
  const auto bad = Status::Error(EINVAL, "embedding endpoint: unexpected JSON answer");
  if (!doc.is_object() || !doc.contains("data") || !doc["data"].is_array() ||
      doc["data"].size() != texts.size()) {
    return bad;
  }
  std::vector<Vector> out(texts.size());
  size_t pos = 0;
  for (const auto& item : doc["data"]) {
    size_t index = pos++;
    if (item.contains("index") && item["index"].is_number_unsigned()) index = item["index"].get<size_t>();
    if (index >= out.size() || !item.contains("embedding") || !item["embedding"].is_array()) return bad;
    for (const auto& x : item["embedding"]) {
      if (!x.is_number()) return bad;
      out[index].push_back(x.get<float>());
    }
  }
  for (const auto& v : out) {
    if (v.empty() || v.size() != out[0].size()) return bad;
  }
  return out;
}

// Loads the model before any other thread can see the provider, so without mu_.
Result<std::unique_ptr<FastTextEmbeddingProvider>> FastTextEmbeddingProvider::Open(
    const std::string& model_path) NO_THREAD_SAFETY_ANALYSIS {
  std::unique_ptr<FastTextEmbeddingProvider> p(new FastTextEmbeddingProvider());
  p->model_path_ = model_path;
  p->model_ = std::make_unique<fasttext::FastText>();
  try {
    p->model_->loadModel(model_path);
  } catch (const std::exception& e) {
    return Status::Error(EINVAL, "load fastText model " + model_path + ": " + e.what());
  }
  return p;
}

FastTextEmbeddingProvider::~FastTextEmbeddingProvider() = default;

Result<std::vector<Vector>> FastTextEmbeddingProvider::Embed(const std::vector<std::string>& texts) {
  MutexLock lk(mu_);
  const int dim = model_->getDimension();
  std::vector<Vector> out;
  out.reserve(texts.size());
  fasttext::Vector vec(dim);
  for (const auto& text : texts) {
    // getSentenceVector reads one line: make the text one line.
    std::string line = text;
    for (char& c : line) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    line.push_back('\n');
    std::istringstream in(line);
    try {
      model_->getSentenceVector(in, vec);
    } catch (const std::exception& e) {
      return Status::Error(EINVAL, std::string("fastText: ") + e.what());
    }
    out.emplace_back(vec.data(), vec.data() + dim);
  }
  return out;
}

float Cosine(const float* a, const float* b, size_t n) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < n; ++i) {
    dot += double{a[i]} * b[i];
    na += double{a[i]} * a[i];
    nb += double{b[i]} * b[i];
  }
  if (na == 0 || nb == 0) return 0;
  return static_cast<float>(dot / std::sqrt(na * nb));
}

}  // namespace nexus::search
