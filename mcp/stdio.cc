#include "mcp/stdio.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <utility>

#include <kj/debug.h>

namespace nexus::mcp {
namespace {

constexpr size_t kReadChunk = 64 * 1024;

// Whether `fd` can be watched by the event loop (a pipe, socket or
// terminal); a regular file or /dev/null cannot, and never blocks.
bool Pollable(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(fd);
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n"; }

// Lines to the output descriptor, one whole line at a time, in the order
// given. A failed write (the client went away) drops what follows.
class LineWriter {
 public:
  LineWriter(kj::AsyncIoContext& io, int fd) : fd_(fd) {
    if (Pollable(fd)) stream_ = io.lowLevelProvider->wrapOutputFd(fd);
  }

  void Write(std::string line) {
    if (broken_) return;
    tail_ = tail_
                .then([this, line = std::move(line)]() mutable -> kj::Promise<void> {
                  if (broken_) return kj::READY_NOW;
                  if (stream_) {
                    auto text = kj::heapString(line.data(), line.size());
                    auto p = stream_->write(text.begin(), text.size());
                    return p.attach(kj::mv(text));
                  }
                  WriteBlocking(line);
                  return kj::READY_NOW;
                })
                .catch_([this](kj::Exception&& e) {
                  if (!broken_) std::fprintf(stderr, "nexus mcp: stdout: %s\n", e.getDescription().cStr());
                  broken_ = true;
                })
                .eagerlyEvaluate(nullptr);
  }

  // Resolves when everything written so far is out.
  kj::Promise<void> Flush() {
    auto p = kj::mv(tail_);
    tail_ = kj::READY_NOW;
    return p;
  }

 private:
  void WriteBlocking(const std::string& line) {
    size_t done = 0;
    while (done < line.size()) {
      ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        broken_ = true;
        return;
      }
      done += static_cast<size_t>(n);
    }
  }

  int fd_;
  kj::Own<kj::AsyncOutputStream> stream_;
  bool broken_ = false;
  kj::Promise<void> tail_ = kj::READY_NOW;
};

class StdioServer final : private kj::TaskSet::ErrorHandler {
 public:
  StdioServer(kj::AsyncIoContext& io, StdioOptions options, Caller caller)
      : options_(std::move(options)),
        caller_(std::move(caller)),
        out_(io, options_.out_fd),
        session_(options_.session, io.provider->getTimer(), [this](Json m) { out_.Write(Dump(m)); }),
        tasks_(*this) {
    if (Pollable(options_.in_fd)) in_ = io.lowLevelProvider->wrapInputFd(options_.in_fd);
  }

  kj::Promise<void> Run() {
    return ReadLoop().then([this]() { return Drained(); }).then([this]() {
      session_.Close();
      return out_.Flush();
    });
  }

 private:
  void taskFailed(kj::Exception&& e) override {
    std::fprintf(stderr, "nexus mcp: %s\n", e.getDescription().cStr());
  }

  kj::Promise<size_t> ReadChunk() {
    if (in_) return in_->tryRead(buffer_, 1, sizeof buffer_);
    // A regular file (or /dev/null) never blocks; yield between chunks so
    // the calls in flight make progress.
    return kj::evalLater([this]() -> size_t {
      for (;;) {
        ssize_t n = ::read(options_.in_fd, buffer_, sizeof buffer_);
        if (n >= 0) return static_cast<size_t>(n);
        if (errno != EINTR) return 0;
      }
    });
  }

  kj::Promise<void> ReadLoop() {
    return ReadChunk().then([this](size_t n) -> kj::Promise<void> {
      if (n == 0) {
        if (!skipping_ && !line_.empty()) Line(std::move(line_));
        return kj::READY_NOW;
      }
      Feed(std::string_view(reinterpret_cast<const char*>(buffer_), n));
      return ReadLoop();
    });
  }

  void Feed(std::string_view data) {
    while (!data.empty()) {
      const size_t nl = data.find('\n');
      const std::string_view piece = data.substr(0, nl);
      if (!skipping_) {
        if (line_.size() + piece.size() > options_.max_line_bytes) {
          out_.Write(Dump({{"jsonrpc", "2.0"},
                           {"id", nullptr},
                           {"error",
                            {{"code", kInvalidRequest},
                             {"message", "message too large: a line may hold at most " +
                                             std::to_string(options_.max_line_bytes) + " bytes"}}}}));
          line_.clear();
          skipping_ = true;
        } else {
          line_.append(piece);
        }
      }
      if (nl == std::string_view::npos) return;
      if (!skipping_) Line(std::move(line_));
      line_.clear();
      skipping_ = false;
      data.remove_prefix(nl + 1);
    }
  }

  void Line(std::string line) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) return;
    Json message = Json::parse(line, nullptr, false);
    if (message.is_discarded()) {
      out_.Write(Dump(Session::ParseErrorResponse("the line is not JSON")));
      return;
    }
    ++in_flight_;
    tasks_.add(session_.Handle(std::move(message), caller_)
                   .then([this](Json response) {
                     if (!response.is_null()) out_.Write(Dump(response));
                   })
                   .attach(kj::defer([this]() { Finished(); })));
  }

  void Finished() {
    if (--in_flight_ == 0 && drained_ != nullptr) {
      drained_->fulfill();
      drained_ = nullptr;
    }
  }

  kj::Promise<void> Drained() {
    if (in_flight_ == 0) return kj::READY_NOW;
    auto paf = kj::newPromiseAndFulfiller<void>();
    drained_owner_ = kj::mv(paf.fulfiller);
    drained_ = drained_owner_.get();
    return kj::mv(paf.promise);
  }

  StdioOptions options_;
  Caller caller_;
  LineWriter out_;
  Session session_;
  kj::Own<kj::AsyncInputStream> in_;
  kj::byte buffer_[kReadChunk];
  std::string line_;
  bool skipping_ = false;
  size_t in_flight_ = 0;
  kj::Own<kj::PromiseFulfiller<void>> drained_owner_;
  kj::PromiseFulfiller<void>* drained_ = nullptr;
  kj::TaskSet tasks_;
};

}  // namespace

kj::Promise<void> ServeStdio(kj::AsyncIoContext& io, StdioOptions options, Caller caller) {
  auto server = kj::heap<StdioServer>(io, std::move(options), std::move(caller));
  auto done = server->Run();
  return done.attach(kj::mv(server));
}

}  // namespace nexus::mcp
