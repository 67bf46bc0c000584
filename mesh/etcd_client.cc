#include "mesh/etcd_client.h"

#include <curl/curl.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <memory>
#include <thread>

#include "base/curl_util.h"
#include "base/mutex.h"

namespace nexus::mesh {
namespace {

// One reusable easy handle per thread (keeps its connections open).
struct ThreadHandle {
  CURL* curl = nullptr;
  ThreadHandle() {
    InitCurlOnce();
    curl = curl_easy_init();
  }
  ~ThreadHandle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

CURL* HandleForThisThread() {
  thread_local ThreadHandle h;
  return h.curl;
}

void SetCommon(CURL* c, const EtcdClientOptions& o, const std::string& url, const std::string& body,
               curl_slist* headers) {
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min<long>(1000, static_cast<long>(o.timeout.count())));
  if (!o.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  if (!o.cert_file.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, o.cert_file.c_str());
  if (!o.key_file.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, o.key_file.c_str());
}

// gRPC status codes the gateway puts in "code".
Status FromGatewayError(const nlohmann::json& j) {
  std::string msg = j.value("message", j.value("error", std::string("etcd error")));
  int code = j.value("code", 2);
  switch (code) {
    case 3:  // InvalidArgument
      return Status::Error(EINVAL, msg);
    case 5:  // NotFound
      return Status::Error(ENOENT, msg);
    case 6:  // AlreadyExists
      return Status::Error(EEXIST, msg);
    case 9:  // FailedPrecondition: "lease already exists", "compacted", ...
      if (msg.find("already exists") != std::string::npos) return Status::Error(EEXIST, msg);
      return Status::Error(EINVAL, msg);
    case 4:   // DeadlineExceeded
    case 8:   // ResourceExhausted
    case 10:  // Aborted
    case 14:  // Unavailable
      return Status::Error(EAGAIN, "etcd unavailable: " + msg);
    default:
      // "etcdserver: request timed out" and friends arrive as Unknown.
      if (msg.find("timed out") != std::string::npos || msg.find("no leader") != std::string::npos)
        return Status::Error(EAGAIN, "etcd unavailable: " + msg);
      return Status::Error(EIO, "etcd: " + msg);
  }
}

}  // namespace

Result<std::vector<std::string>> ParseEtcdUrl(std::string_view url) {
  constexpr std::string_view kScheme = "etcd://";
  if (!url.starts_with(kScheme))
    return Status::Error(EINVAL, "an etcd store is etcd://HOST:PORT[,HOST:PORT...]");
  url.remove_prefix(kScheme.size());
  std::vector<std::string> out;
  while (!url.empty()) {
    size_t comma = url.find(',');
    std::string_view ep = url.substr(0, comma);
    size_t colon = ep.rfind(':');
    if (ep.empty() || colon == std::string_view::npos || colon == 0 || colon + 1 == ep.size() ||
        ep.find('/') != std::string_view::npos)
      return Status::Error(EINVAL, "bad etcd endpoint '" + std::string(ep) + "' (want HOST:PORT)");
    for (char c : ep.substr(colon + 1))
      if (c < '0' || c > '9')
        return Status::Error(EINVAL, "bad port in etcd endpoint '" + std::string(ep) + "'");
    out.emplace_back(ep);
    if (comma == std::string_view::npos) break;
    url.remove_prefix(comma + 1);
  }
  if (out.empty()) return Status::Error(EINVAL, "an etcd store needs at least one HOST:PORT");
  return out;
}

std::string Base64Decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = value(c);
    if (v < 0) continue;  // '=' padding
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

EtcdClient::EtcdClient(EtcdClientOptions options) : options_(std::move(options)) {}

std::string EtcdClient::Url(size_t endpoint, std::string_view path) const {
  return (options_.ca_file.empty() ? "http://" : "https://") + options_.endpoints[endpoint] +
         std::string(path);
}

Result<nlohmann::json> EtcdClient::CallOne(const std::string& endpoint, std::string_view path,
                                           const nlohmann::json& body,
                                           std::chrono::milliseconds timeout) const {
  CURL* c = HandleForThisThread();
  if (c == nullptr) return Status::Error(ENOMEM, "curl_easy_init failed");
  const std::string url = (options_.ca_file.empty() ? "http://" : "https://") + endpoint + std::string(path);
  const std::string text = body.dump();
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(nullptr, "Content-Type: application/json"), curl_slist_free_all);
  std::string response;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_reset(c);
  SetCommon(c, options_, url, text, headers.get());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK)
    return Status::Error(EAGAIN, "etcd " + endpoint + " unreachable: " +
                                     (error[0] != 0 ? std::string(error) : curl_easy_strerror(rc)));
  long http = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
  nlohmann::json j = nlohmann::json::parse(response, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Status::Error(EIO,
                         "etcd " + endpoint + " answered HTTP " + std::to_string(http) + " with no JSON");
  if (j.contains("error")) {
    // Streaming endpoints wrap errors in {"error": {...}}.
    const nlohmann::json& e = j["error"].is_object() ? j["error"] : j;
    return FromGatewayError(e);
  }
  if (http != 200) return Status::Error(EIO, "etcd " + endpoint + " answered HTTP " + std::to_string(http));
  return j;
}

// Worker threads for CallAll; each keeps its curl handle (and connection).
class EtcdClient::Pool {
 public:
  explicit Pool(size_t n) {
    for (size_t i = 0; i < n; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~Pool() {
    {
      MutexLock lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void Post(std::function<void()> work) {
    {
      MutexLock lk(mu_);
      queue_.push_back(std::move(work));
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    MutexLock lk(mu_);
    for (;;) {
      lk.Wait(cv_, [this]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      std::function<void()> work = std::move(queue_.front());
      queue_.pop_front();
      lk.Unlock();
      work();
      lk.Lock();
    }
  }

  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

EtcdClient::~EtcdClient() = default;

std::vector<Result<nlohmann::json>> EtcdClient::CallAll(
    const std::vector<std::pair<std::string, nlohmann::json>>& calls) const {
  std::vector<Result<nlohmann::json>> out(calls.size(), Status::Error(EIO, "not sent"));
  if (calls.size() <= 1) {
    for (size_t i = 0; i < calls.size(); ++i) out[i] = Call(calls[i].first, calls[i].second);
    return out;
  }
  std::call_once(pool_once_, [this] { pool_ = std::make_shared<Pool>(kParallelCalls); });
  Mutex mu;
  std::condition_variable cv;
  size_t left = calls.size();
  for (size_t i = 0; i < calls.size(); ++i)
    pool_->Post([&, i] {
      auto r = Call(calls[i].first, calls[i].second);
      MutexLock lk(mu);
      out[i] = std::move(r);
      if (--left == 0) cv.notify_all();
    });
  MutexLock lk(mu);
  lk.Wait(cv, [&]() REQUIRES(mu) { return left == 0; });
  return out;
}

Result<nlohmann::json> EtcdClient::Call(std::string_view path, const nlohmann::json& body) const {
  const size_t n = options_.endpoints.size();
  const size_t first = preferred_.load(std::memory_order_relaxed) % n;
  Status last = Status::Error(EAGAIN, "no etcd endpoint");
  for (size_t i = 0; i < n; ++i) {
    const size_t e = (first + i) % n;
    auto r = CallOne(options_.endpoints[e], path, body, options_.timeout);
    // Only "cannot serve" moves on: any other answer is etcd's verdict.
    if (r.ok() || r.code() != EAGAIN) {
      if (e != first) preferred_.store(e, std::memory_order_relaxed);
      return r;
    }
    last = r.status();
  }
  return last;
}

namespace {

struct StreamState {
  std::string buffer;
  const std::function<bool(const nlohmann::json&)>* on_message = nullptr;
  bool done = false;
  bool bad = false;
};

// Messages arrive newline-delimited.
size_t StreamCollect(char* data, size_t size, size_t n, void* p) {
  auto* st = static_cast<StreamState*>(p);
  st->buffer.append(data, size * n);
  size_t nl;
  while (!st->done && (nl = st->buffer.find('\n')) != std::string::npos) {
    std::string line = st->buffer.substr(0, nl);
    st->buffer.erase(0, nl + 1);
    if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) {
      st->bad = true;
      st->done = true;
      break;
    }
    if (!(*st->on_message)(j)) st->done = true;
  }
  return st->done ? 0 : size * n;  // 0 aborts the transfer
}

}  // namespace

Status EtcdClient::Stream(std::string_view path, const nlohmann::json& body,
                          const std::function<bool(const nlohmann::json&)>& on_message,
                          const std::atomic<bool>& stop) const {
  InitCurlOnce();
  const size_t e = preferred_.load(std::memory_order_relaxed) % options_.endpoints.size();
  const std::string text = body.dump();
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(nullptr, "Content-Type: application/json"), curl_slist_free_all);
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> easy(curl_easy_init(), curl_easy_cleanup);
  std::unique_ptr<CURLM, decltype(&curl_multi_cleanup)> multi(curl_multi_init(), curl_multi_cleanup);
  if (!easy || !multi) return Status::Error(ENOMEM, "curl init failed");
  StreamState st;
  st.on_message = &on_message;
  SetCommon(easy.get(), options_, Url(e, path), text, headers.get());
  curl_easy_setopt(easy.get(), CURLOPT_WRITEFUNCTION, StreamCollect);
  curl_easy_setopt(easy.get(), CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(easy.get(), CURLOPT_TCP_KEEPALIVE, 1L);
  curl_multi_add_handle(multi.get(), easy.get());
  int running = 1;
  while (running > 0 && !stop.load() && !st.done) {
    if (curl_multi_perform(multi.get(), &running) != CURLM_OK) break;
    if (running > 0) curl_multi_poll(multi.get(), nullptr, 0, 200, nullptr);
  }
  CURLcode rc = CURLE_OK;
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi.get(), &left))
    if (m->msg == CURLMSG_DONE) rc = m->data.result;
  curl_multi_remove_handle(multi.get(), easy.get());
  if (stop.load() || (st.done && !st.bad)) return Status::Ok();
  // Next time, start from another endpoint.
  size_t expected = e;
  preferred_.compare_exchange_strong(expected, e + 1);
  if (st.bad) return Status::Error(EIO, "etcd " + options_.endpoints[e] + " sent a message that is not JSON");
  return Status::Error(EAGAIN,
                       "etcd " + options_.endpoints[e] + " watch stream ended: " + curl_easy_strerror(rc));
}

}  // namespace nexus::mesh
