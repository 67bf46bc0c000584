#include "fs/search/embedding.h"

#include <fasttext/fasttext.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

namespace nexus::search {
namespace {

using Clock = std::chrono::steady_clock;

int MsLeft(Clock::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return ms > 0 ? static_cast<int>(ms) : 0;
}

// Waits for `events` on fd until the deadline: OK, ETIMEDOUT or an errno.
Status WaitFd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    struct pollfd p {
      fd, events, 0
    };
    int left = MsLeft(deadline);
    if (left == 0) return Status::Error(ETIMEDOUT, "embedding endpoint timed out");
    int r = ::poll(&p, 1, left);
    if (r > 0) return Status::Ok();
    if (r == 0) return Status::Error(ETIMEDOUT, "embedding endpoint timed out");
    if (errno != EINTR) return Status::FromErrno("poll");
  }
}

class Socket {
 public:
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

  Status Connect(const std::string& host, const std::string& port, Clock::time_point deadline) {
    struct addrinfo hints {};
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo* res = nullptr;
    int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) return Status::Error(EAGAIN, "resolve " + host + ": " + ::gai_strerror(rc));
    Status last = Status::Error(EAGAIN, "no address for " + host);
    for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd_ < 0) continue;
      if (::connect(fd_, ai->ai_addr, ai->ai_addrlen) == 0) {
        last = Status::Ok();
        break;
      }
      if (errno != EINPROGRESS) {
        last = Status::Error(EAGAIN, "connect " + host + ":" + port + ": " + std::strerror(errno));
        continue;
      }
      last = WaitFd(fd_, POLLOUT, deadline);
      if (!last.ok()) break;
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) break;
      last = Status::Error(EAGAIN, "connect " + host + ":" + port + ": " + std::strerror(err));
    }
    ::freeaddrinfo(res);
    return last;
  }

  Status SendAll(std::string_view data, Clock::time_point deadline) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        NEXUS_RETURN_IF_ERROR(WaitFd(fd_, POLLOUT, deadline));
      } else {
        return Status::Error(EAGAIN, std::string("send: ") + std::strerror(errno));
      }
    }
    return Status::Ok();
  }

  // Reads until the peer closes (we always send "Connection: close").
  Result<std::string> ReadAll(Clock::time_point deadline) {
    std::string out;
    char buf[16384];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        return out;
      } else if (errno == EAGAIN || errno == EINTR) {
        NEXUS_RETURN_IF_ERROR(WaitFd(fd_, POLLIN, deadline));
      } else {
        return Status::Error(EAGAIN, std::string("recv: ") + std::strerror(errno));
      }
    }
  }

 private:
  int fd_ = -1;
};

// Body of an HTTP/1.1 response, de-chunked; EAGAIN for a non-2xx status.
Result<std::string> ResponseBody(const std::string& raw) {
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.compare(0, 5, "HTTP/") != 0) {
    return Status::Error(EINVAL, "malformed HTTP response from embedding endpoint");
  }
  size_t sp = raw.find(' ');
  int code = sp < head_end ? std::atoi(raw.c_str() + sp + 1) : 0;
  std::string body = raw.substr(head_end + 4);
  if (code < 200 || code > 299) {
    return Status::Error(EAGAIN,
                         "embedding endpoint answered " + std::to_string(code) + ": " + body.substr(0, 200));
  }
  std::string head = raw.substr(0, head_end);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (head.find("transfer-encoding: chunked") == std::string::npos) return body;
  std::string out;
  size_t pos = 0;
  for (;;) {
    size_t eol = body.find("\r\n", pos);
    if (eol == std::string::npos) return Status::Error(EINVAL, "truncated chunked response");
    size_t len = std::strtoul(body.c_str() + pos, nullptr, 16);
    if (len == 0) return out;
    if (eol + 2 + len > body.size()) return Status::Error(EINVAL, "truncated chunked response");
    out.append(body, eol + 2, len);
    pos = eol + 2 + len + 2;
  }
}

}  // namespace

Result<std::unique_ptr<HttpEmbeddingProvider>> HttpEmbeddingProvider::Create(Options options) {
  const std::string_view kScheme = "http://";
  std::string_view url = options.base_url;
  if (!url.starts_with(kScheme))
    return Status::Error(EINVAL, "embedding URL must be http://: " + options.base_url);
  url.remove_prefix(kScheme.size());
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string path(slash == std::string_view::npos ? "" : url.substr(slash));
  while (!path.empty() && path.back() == '/') path.pop_back();
  size_t colon = authority.rfind(':');
  std::string host(authority.substr(0, colon)), port = "80";
  if (colon != std::string_view::npos) port = std::string(authority.substr(colon + 1));
  if (host.empty() || port.empty() || options.model.empty() || options.max_batch == 0) {
    return Status::Error(EINVAL, "bad embedding endpoint settings: " + options.base_url);
  }
  std::unique_ptr<HttpEmbeddingProvider> p(new HttpEmbeddingProvider(std::move(options)));
  p->host_ = std::move(host);
  p->port_ = std::move(port);
  p->path_ = std::move(path);
  return p;
}

Result<std::vector<Vector>> HttpEmbeddingProvider::Embed(const std::vector<std::string>& texts) {
  std::vector<Vector> out;
  out.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); i += options_.max_batch) {
    std::vector<std::string> batch(texts.begin() + i,
                                   texts.begin() + std::min(texts.size(), i + options_.max_batch));
    auto vecs = EmbedBatch(batch);
    if (!vecs.ok()) return vecs.status();
    for (auto& v : *vecs) out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<Vector>> HttpEmbeddingProvider::EmbedBatch(const std::vector<std::string>& texts) {
  // Texts are sanitized UTF-8; dump() replaces anything else rather than throw.
  std::string body = nlohmann::json{{"model", options_.model}, {"input", texts}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string req = "POST " + path_ + "/v1/embeddings HTTP/1.1\r\nHost: " + host_ + ":" + port_ +
                    "\r\nContent-Type: application/json\r\nAccept: application/json\r\n"
                    "Connection: close\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n";
  if (!options_.api_key.empty()) req += "Authorization: Bearer " + options_.api_key + "\r\n";
  req += "\r\n" + body;

  auto deadline = Clock::now() + std::chrono::milliseconds(options_.timeout_ms);
  Socket sock;
  NEXUS_RETURN_IF_ERROR(sock.Connect(host_, port_, deadline));
  NEXUS_RETURN_IF_ERROR(sock.SendAll(req, deadline));
  auto raw = sock.ReadAll(deadline);
  if (!raw.ok()) return raw.status();
  auto payload = ResponseBody(*raw);
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
