#include "fs/search/embedding.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "fs/search/search_index.h"
#include "tests/fs/search/search_test_util.h"

namespace nexus::search {
namespace {

using testing::Shell;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFile;

constexpr size_t kDim = 16;

// Deterministic embedding: a bag of lower-cased words hashed into kDim slots.
std::vector<float> BagOfWords(const std::string& text) {
  std::vector<float> v(kDim, 0);
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    v[std::hash<std::string>{}(word) % kDim] += 1;
    word.clear();
  };
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else {
      flush();
    }
  }
  flush();
  return v;
}

// A one-thread HTTP/1.1 server on 127.0.0.1 answering OpenAI-style
// embedding requests, or misbehaving on purpose.
class EmbeddingServer {
 public:
  enum class Mode { kOk, kChunked, kSilent, kError, kBadRequest, kUnauthorized };
  // `failures`: in kOk mode, answer 503 to that many requests first.
  explicit EmbeddingServer(Mode mode, int failures = 0) : mode_(mode), failures_(failures) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~EmbeddingServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }
  void set_retry_after(int s) { retry_after_ = s; }
  std::string last_request() const { return last_request_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      Handle(c);
      ::close(c);
    }
  }
  void Handle(int c) {
    std::string req;
    char buf[4096];
    size_t need = std::string::npos;
    while (need == std::string::npos || req.size() < need) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      req.append(buf, static_cast<size_t>(n));
      size_t head = req.find("\r\n\r\n");
      if (need == std::string::npos && head != std::string::npos) {
        size_t cl = req.find("Content-Length: ");
        need = head + 4 + (cl < head ? std::stoul(req.substr(cl + 16)) : 0);
      }
    }
    ++requests_;
    last_request_ = req;
    if (mode_ == Mode::kSilent) {
      while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return;
    }
    std::string body, head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";
    if (mode_ == Mode::kError || failures_ > 0) {
      --failures_;
      head = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: " + std::to_string(retry_after_) + "\r\n";
      body = "overloaded";
    } else if (mode_ == Mode::kBadRequest) {
      head = "HTTP/1.1 400 Bad Request\r\n";
      body = "no such model";
    } else if (mode_ == Mode::kUnauthorized) {
      head = "HTTP/1.1 401 Unauthorized\r\n";
      body = "bad key";
    } else {
      auto in = nlohmann::json::parse(req.substr(req.find("\r\n\r\n") + 4));
      nlohmann::json data = nlohmann::json::array();
      // Answer in reverse order: the client must honour "index".
      for (size_t i = in["input"].size(); i-- > 0;) {
        data.push_back({{"index", i}, {"embedding", BagOfWords(in["input"][i].get<std::string>())}});
      }
      body = nlohmann::json{{"data", data}, {"model", in["model"]}}.dump();
    }
    std::string resp;
    if (mode_ == Mode::kChunked) {
      resp = head + "Transfer-Encoding: chunked\r\n\r\n";
      for (size_t i = 0; i < body.size(); i += 7) {
        std::string part = body.substr(i, 7);
        char len[16];
        std::snprintf(len, sizeof len, "%zx\r\n", part.size());
        resp += len + part + "\r\n";
      }
      resp += "0\r\n\r\n";
    } else {
      resp = head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    }
    ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
  }

  Mode mode_;
  int failures_ = 0;
  int retry_after_ = 0;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::string last_request_;  // written by the server thread before requests_ grows
  std::thread thread_;
};

std::unique_ptr<HttpEmbeddingProvider> Provider(const std::string& url, int timeout_ms = 5000,
                                                size_t batch = 64, int attempts = 1,
                                                const std::string& ca = "") {
  HttpEmbeddingProvider::Options o;
  o.base_url = url;
  o.model = "test-embed";
  o.api_key = "sk-test";
  o.timeout_ms = timeout_ms;
  o.max_batch = batch;
  o.attempts = attempts;
  o.backoff_ms = 50;
  o.ca_file = ca;
  auto p = HttpEmbeddingProvider::Create(o);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? std::move(*p) : nullptr;
}

TEST(HttpEmbeddingTest, EmbedsInOrderAcrossBatches) {
  for (auto mode : {EmbeddingServer::Mode::kOk, EmbeddingServer::Mode::kChunked}) {
    EmbeddingServer server(mode);
    auto p = Provider(server.url() + "/", 5000, 2);
    std::vector<std::string> texts = {"apple banana", "car engine", "apple", "zebra stripes"};
    auto v = p->Embed(texts);
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    ASSERT_EQ(v->size(), 4u);
    for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ((*v)[i], BagOfWords(texts[i])) << i;
    EXPECT_EQ(server.requests(), 2);
    EXPECT_EQ(server.last_request().rfind("POST /v1/embeddings HTTP/1.1\r\n", 0), 0u);
    EXPECT_NE(server.last_request().find("Authorization: Bearer sk-test\r\n"), std::string::npos);
  }
}

TEST(HttpEmbeddingTest, FailuresAreTyped) {
  {
    EmbeddingServer silent(EmbeddingServer::Mode::kSilent);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(Provider(silent.url(), 200)->Embed({"x"}).code(), ETIMEDOUT);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  }
  {
    EmbeddingServer failing(EmbeddingServer::Mode::kError);
    auto r = Provider(failing.url())->Embed({"x"});
    EXPECT_EQ(r.code(), EAGAIN);
    EXPECT_NE(r.status().message().find("503"), std::string::npos);
  }
  std::string closed_url;
  {
    EmbeddingServer gone(EmbeddingServer::Mode::kOk);
    closed_url = gone.url();
  }
  EXPECT_EQ(Provider(closed_url)->Embed({"x"}).code(), EAGAIN);  // connection refused
  {
    EmbeddingServer bad(EmbeddingServer::Mode::kBadRequest);
    auto r = Provider(bad.url(), 5000, 64, /*attempts=*/3)->Embed({"x"});
    EXPECT_EQ(r.code(), EINVAL);
    EXPECT_NE(r.status().message().find("no such model"), std::string::npos);
    EXPECT_EQ(bad.requests(), 1) << "a 400 is not retried";
  }
  {
    EmbeddingServer denied(EmbeddingServer::Mode::kUnauthorized);
    EXPECT_EQ(Provider(denied.url(), 5000, 64, 3)->Embed({"x"}).code(), EACCES);
    EXPECT_EQ(denied.requests(), 1);
  }
  for (const char* bad : {"http://", "https://:80", "ftp://x", "http://host:"}) {
    HttpEmbeddingProvider::Options o;
    o.base_url = bad;
    o.model = "m";
    EXPECT_EQ(HttpEmbeddingProvider::Create(o).code(), EINVAL) << bad;
  }
}

TEST(HttpEmbeddingTest, RetriesWithBackOffThenGivesUp) {
  {
    EmbeddingServer flaky(EmbeddingServer::Mode::kOk, /*failures=*/2);
    auto v = Provider(flaky.url(), 5000, 64, /*attempts=*/3)->Embed({"apple"});
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ((*v)[0], BagOfWords("apple"));
    EXPECT_EQ(flaky.requests(), 3);
  }
  {
    EmbeddingServer down(EmbeddingServer::Mode::kError);
    down.set_retry_after(1);
    const auto start = std::chrono::steady_clock::now();
    auto r = Provider(down.url(), 5000, 64, 2)->Embed({"x"});
    EXPECT_EQ(r.code(), EAGAIN);
    EXPECT_EQ(down.requests(), 2);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900)) << "Retry-After: 1";
  }
  {
    // A query tries once: it degrades at once rather than wait.
    EmbeddingServer down(EmbeddingServer::Mode::kError);
    EXPECT_EQ(Provider(down.url(), 5000, 64, 4)->EmbedQuery({"x"}).code(), EAGAIN);
    EXPECT_EQ(down.requests(), 1);
  }
}

// A real TLS endpoint (Python's http.server behind ssl, a self-signed
// certificate made with openssl): trusted through ca_file, refused without.
TEST(HttpEmbeddingTest, HttpsWithATrustedCertificate) {
  TempDir dir;
  const std::string cert = dir.path() + "/cert.pem", key = dir.path() + "/key.pem";
  Shell(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext "
      "subjectAltName=IP:127.0.0.1 -keyout " +
      ShellQuote(key) + " -out " + ShellQuote(cert) + " 2>/dev/null");
  ASSERT_TRUE(std::filesystem::exists(cert));
  const std::string server = dir.path() + "/server.py";
  WriteFile(dir.path(), "/server.py", R"py(
import http.server, json, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        ok = self.path == '/v1/embeddings' and self.headers.get('Authorization') == 'Bearer sk-test'
        out = json.dumps({'data': [{'index': i, 'embedding': [float(len(t)), 1.0]}
                                   for i, t in enumerate(body['input'])]}).encode()
        self.send_response(200 if ok else 403)
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
)py");
  FILE* p = ::popen(
      ("exec python3 " + ShellQuote(server) + " " + ShellQuote(cert) + " " + ShellQuote(key)).c_str(), "r");
  ASSERT_NE(p, nullptr);
  int port = 0;
  ASSERT_EQ(std::fscanf(p, "%d", &port), 1);
  const std::string url = "https://127.0.0.1:" + std::to_string(port);
  auto trusted = Provider(url, 5000, 64, 1, cert)->Embed({"abc", "de"});
  ASSERT_TRUE(trusted.ok()) << trusted.status().ToString();
  EXPECT_EQ((*trusted)[0], (Vector{3.0F, 1.0F}));
  EXPECT_EQ((*trusted)[1], (Vector{2.0F, 1.0F}));
  auto untrusted = Provider(url, 5000, 64, 3)->Embed({"abc"});
  EXPECT_EQ(untrusted.code(), EACCES) << untrusted.status().ToString();
  Shell("pkill -f " + ShellQuote(server));
  ::pclose(p);
}

class SemanticSearchTest : public ::testing::Test {
 protected:
  SemanticSearchTest() : source_(tree_.path()) {
    WriteFile(tree_.path(), "/fruit.txt", "apple banana cherry\n");
    WriteFile(tree_.path(), "/cars.txt", "engine wheel brake\n");
    WriteFile(tree_.path(), "/mixed.txt", "banana engine\n");
  }
  std::unique_ptr<SearchIndex> OpenIndex(EmbeddingProvider* p, size_t hnsw_min_vectors = 0,
                                         const std::string& name = "s.db") {
    SearchIndex::Options o;
    o.embedder = p;
    o.hnsw_min_vectors = hnsw_min_vectors;
    auto idx = SearchIndex::Open(db_.path() + "/" + name, &source_, o);
    EXPECT_TRUE(idx.ok()) << idx.status().ToString();
    EXPECT_TRUE((*idx)->Sync("/", true).ok());
    return std::move(*idx);
  }
  std::vector<QueryHit> Query(SearchIndex& idx, const std::string& text, QueryMode mode) {
    QueryOptions o;
    o.mode = mode;
    auto r = idx.Query(text, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<QueryHit>{};
  }
  TempDir tree_, db_;
  DirectoryContentSource source_;
};

TEST_F(SemanticSearchTest, SemanticAndHybridWithHttpProvider) {
  EmbeddingServer server(EmbeddingServer::Mode::kOk);
  auto provider = Provider(server.url());
  auto idx = OpenIndex(provider.get());

  // "cherry apple" shares no word with cars.txt; the vector lane still ranks
  // every chunk, the best being fruit.txt.
  auto sem = Query(*idx, "cherry apple", QueryMode::kSemantic);
  ASSERT_EQ(sem.size(), 3u);
  EXPECT_EQ(sem[0].path, "/fruit.txt");
  EXPECT_FALSE(sem[0].semantic_degraded);
  EXPECT_GT(sem[0].vector_score, 0.5);
  EXPECT_EQ(sem[0].keyword_score, 0);
  EXPECT_FALSE(sem[0].snippet.empty());

  // Hybrid: RRF (k = 60) over both lanes. mixed.txt holds both words, so it
  // leads both lanes and scores 1/61 + 1/61.
  auto hyb = Query(*idx, "banana engine", QueryMode::kHybrid);
  ASSERT_EQ(hyb.size(), 3u);
  EXPECT_EQ(hyb[0].path, "/mixed.txt");
  EXPECT_FALSE(hyb[0].semantic_degraded);
  EXPECT_GT(hyb[0].keyword_score, 0);
  EXPECT_GT(hyb[0].vector_score, 0.9);
  EXPECT_DOUBLE_EQ(hyb[0].score, 2.0 / 61);
  for (size_t i = 1; i < hyb.size(); ++i) EXPECT_LE(hyb[i].score, hyb[i - 1].score);

  // Keyword mode ignores the provider.
  auto kw = Query(*idx, "banana", QueryMode::kKeyword);
  ASSERT_EQ(kw.size(), 2u);
  EXPECT_EQ(kw[0].vector_score, 0);
}

TEST_F(SemanticSearchTest, HnswLaneAgreesWithExactScan) {
  for (int i = 0; i < 40; ++i) {
    WriteFile(tree_.path(), "/many/" + std::to_string(i) + ".txt",
              "w" + std::to_string(i % 7) + " w" + std::to_string(i % 5) + " banana\n");
  }
  EmbeddingServer server(EmbeddingServer::Mode::kOk);
  auto provider = Provider(server.url());
  auto exact = OpenIndex(provider.get(), 0, "exact.db");
  auto approx = OpenIndex(provider.get(), 1, "hnsw.db");
  auto lane = [&](SearchIndex& idx, const std::string& text, const std::string& prefix) {
    QueryOptions o;
    o.mode = QueryMode::kSemantic;
    o.limit = 5;
    o.path_prefix = prefix;
    auto r = idx.Query(text, o);
    EXPECT_TRUE(r.ok());
    std::vector<std::pair<std::string, double>> out;
    for (const auto& h : *r) out.emplace_back(h.path, h.vector_score);
    return out;
  };
  // Same scores rank by rank (ties may list their paths in another order).
  auto same = [](const std::vector<std::pair<std::string, double>>& a,
                 const std::vector<std::pair<std::string, double>>& b, const std::string& what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i].second, b[i].second, 1e-5) << what << " #" << i;
  };
  for (const char* q : {"w3 w1", "apple cherry", "engine brake", "w6 banana"}) {
    same(lane(*exact, q, "/"), lane(*approx, q, "/"), q);
    // A narrow prefix: still the exact answer (by the scan if the graph's
    // neighbours miss it).
    auto narrow = lane(*approx, q, "/cars.txt");
    ASSERT_EQ(narrow.size(), 1u) << q;
    EXPECT_EQ(narrow[0].first, "/cars.txt");
    same(lane(*exact, q, "/cars.txt"), narrow, q);
  }
  // Removed files never come back; reopening reloads the graph from SQLite.
  std::filesystem::remove(tree_.path() + "/fruit.txt");
  ASSERT_TRUE(approx->Sync("/", false).ok());
  for (const auto& [path, score] : lane(*approx, "apple cherry", "/")) EXPECT_NE(path, "/fruit.txt");
  approx.reset();
  SearchIndex::Options o;
  o.embedder = provider.get();
  o.hnsw_min_vectors = 1;
  auto reopened = SearchIndex::Open(db_.path() + "/hnsw.db", &source_, o);
  ASSERT_TRUE(reopened.ok());
  ASSERT_TRUE(exact->Sync("/", false).ok());
  same(lane(**reopened, "w3 w1", "/"), lane(*exact, "w3 w1", "/"), "reopened");
}

TEST_F(SemanticSearchTest, ProviderFailureAtQueryTimeIsReported) {
  std::unique_ptr<HttpEmbeddingProvider> provider;
  std::unique_ptr<SearchIndex> idx;
  {
    EmbeddingServer server(EmbeddingServer::Mode::kOk);
    provider = Provider(server.url(), 500);
    idx = OpenIndex(provider.get());
  }
  auto hits = Query(*idx, "banana", QueryMode::kHybrid);
  ASSERT_EQ(hits.size(), 2u);
  for (const auto& h : hits) {
    EXPECT_TRUE(h.semantic_degraded);
    EXPECT_EQ(h.vector_score, 0);
  }
}

TEST_F(SemanticSearchTest, FastTextModel) {
  std::string corpus;
  const char* lines[] = {"apple banana cherry fruit sweet", "engine wheel brake car road",
                         "banana fruit yellow sweet", "car engine fuel road wheel"};
  for (int i = 0; i < 200; ++i) corpus += std::string(lines[i % 4]) + "\n";
  WriteFile(db_.path(), "/corpus.txt", corpus);
  std::string model = db_.path() + "/model";
  Shell("fasttext skipgram -input " + ShellQuote(db_.path() + "/corpus.txt") + " -output " +
        ShellQuote(model) +
        " -dim 8 -epoch 2 -minCount 1 -minn 0 -maxn 0 -thread 1 -verbose 0 >/dev/null 2>&1");
  auto ft = FastTextEmbeddingProvider::Open(model + ".bin");
  ASSERT_TRUE(ft.ok()) << ft.status().ToString();
  auto v = (*ft)->Embed({"apple banana", "engine\nwheel"});
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 2u);
  EXPECT_EQ((*v)[0].size(), 8u);
  EXPECT_NEAR(Cosine((*v)[0].data(), (*v)[0].data(), 8), 1.0, 1e-5);
  EXPECT_NE((*v)[0], (*v)[1]);

  auto idx = OpenIndex(ft->get());
  auto hits = Query(*idx, "banana", QueryMode::kSemantic);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_FALSE(hits[0].semantic_degraded);
  EXPECT_NE(hits[0].vector_score, 0);

  EXPECT_EQ(FastTextEmbeddingProvider::Open(db_.path() + "/missing.bin").code(), EINVAL);
  EXPECT_EQ(FastTextEmbeddingProvider::Open(db_.path() + "/corpus.txt").code(), EINVAL);
}

TEST(CosineTest, Values) {
  const float a[] = {1, 0}, b[] = {0, 1}, c[] = {2, 0}, z[] = {0, 0};
  EXPECT_FLOAT_EQ(Cosine(a, b, 2), 0);
  EXPECT_FLOAT_EQ(Cosine(a, c, 2), 1);
  EXPECT_FLOAT_EQ(Cosine(a, z, 2), 0);
}

}  // namespace
}  // namespace nexus::search
