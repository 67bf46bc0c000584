// nexus_bench_rpc: round-trip latency of the control socket against a
// running nexusd, the way the `nexus` CLI and agents use it (one
// connection, capabilities obtained once and reused).
//
//   nexus_bench_rpc --socket PATH [--iterations N] [--runs R] [--seconds S]
//
// null_call (session.identity) measures the transport alone, and
// raw_socket_round_trip the machine's floor for any socket round trip.
// Needs /bench/read-1k (1 KiB) and /bench/stat/f0../f99 in the tree (the
// script creates them). Prints one JSON object: for each workload the p50
// and p99 in microseconds of every run and their medians; and calls/s
// with 8 concurrent clients. When the agent `bench` is registered (the
// script does it), also the mailboxes: `ipc send` then `inbox` returning
// it (each message acked afterwards, outside the timing, so the inbox
// stays at one), and messages/s sent by one client and by 8. With the
// agent registry, heartbeat and list latency with 1,000 agents registered.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "rpc/client.h"
#include "rpc/errors.h"

namespace {

using nexus::NexusClient;
using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::unique_ptr<NexusClient> Connect(const std::string& socket) {
  nexus::ConnectOptions o;
  o.socket_path = socket;
  auto c = NexusClient::Connect(o);
  if (!c.ok()) {
    std::fprintf(stderr, "nexus_bench_rpc: %s\n", c.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(c).value();
}

template <typename Fn>
std::vector<double> Time(int iterations, Fn fn) {
  std::vector<double> us;
  us.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    auto t0 = Clock::now();
    fn();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return us;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "nexus_bench_rpc: %s failed\n", what);
    std::exit(1);
  }
}

// The machine's floor for any request/response over a Unix socket: 64
// bytes to an echo thread that waits in epoll, as an event-loop server does,
// and back. Measured in the same run as the RPCs.
std::vector<double> RawRoundTrips(int iterations) {
  int sv[2];
  Check(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
  std::thread echo([fd = sv[1]]() {
    int ep = ::epoll_create1(0);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    char buf[256];
    while (true) {
      ::epoll_wait(ep, &e, 1, -1);
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      if (::write(fd, buf, static_cast<size_t>(n)) != n) break;
    }
    ::close(ep);
  });
  char msg[64] = {};
  auto us = Time(iterations, [&]() {
    Check(::write(sv[0], msg, sizeof msg) == sizeof msg, "raw write");
    size_t got = 0;
    while (got < sizeof msg) {
      ssize_t n = ::read(sv[0], msg + got, sizeof msg - got);
      Check(n > 0, "raw read");
      got += static_cast<size_t>(n);
    }
  });
  ::close(sv[0]);
  echo.join();
  ::close(sv[1]);
  return us;
}

// Median of per-run rates of `send` calls made by `clients` clients, each on
// its own connection, for `seconds`.
double SendRate(const std::string& socket, int clients, double seconds) {
  std::atomic<uint64_t> sent{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t)
    threads.emplace_back([&]() {
      auto client = Connect(socket);
      auto ipc = client->session().ipcRequest().send().getIpc();
      while (!stop.load(std::memory_order_relaxed)) {
        auto req = ipc.sendRequest();
        req.setTo("bench");
        req.setBody(kj::StringPtr("a message of the throughput run").asBytes());
        auto res = req.send().wait(client->wait_scope());
        Check(!res.hasError(), "ipc send");
        sent.fetch_add(1, std::memory_order_relaxed);
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  uint64_t start = sent.load();
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  uint64_t done = sent.load() - start;
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  stop = true;
  for (auto& th : threads) th.join();
  return done / elapsed;
}

// The mailbox workloads, when the agent `bench` exists.
void BenchIpc(const std::string& socket, NexusClient& c, int iterations, int runs, double seconds,
              nlohmann::json& out) {
  auto& ws = c.wait_scope();
  auto ipc = c.session().ipcRequest().send().wait(ws).getIpc();
  {
    auto req = ipc.countRequest();
    req.setId("bench");
    if (req.send().wait(ws).hasError()) return;  // no agent `bench`, or no mailboxes
  }
  auto round_trip = [&]() {
    auto t0 = Clock::now();
    auto send = ipc.sendRequest();
    send.setTo("bench");
    send.setBody(kj::StringPtr("ping").asBytes());
    auto sent = send.send().wait(ws);
    Check(!sent.hasError(), "ipc send");
    auto inbox = ipc.inboxRequest();
    inbox.setId("bench");
    auto listed = inbox.send().wait(ws);
    Check(!listed.hasError() && listed.getMessages().size() == 1, "ipc inbox");
    double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    auto ack = ipc.ackRequest();
    ack.setId("bench");
    ack.setMessageId(sent.getMessage().getId());
    Check(!ack.send().wait(ws).hasError(), "ipc ack");
    return us;
  };
  for (int i = 0; i < 50; ++i) round_trip();  // warm up
  std::vector<double> p50s, p99s;
  for (int r = 0; r < runs; ++r) {
    std::vector<double> us;
    for (int i = 0; i < iterations; ++i) us.push_back(round_trip());
    p50s.push_back(Percentile(us, 0.50));
    p99s.push_back(Percentile(us, 0.99));
  }
  out["ipc_send_inbox"] = {
      {"p50_us_runs", p50s}, {"p99_us_runs", p99s}, {"p50_us", Median(p50s)}, {"p99_us", Median(p99s)}};
  for (int clients : {1, 8}) {
    std::vector<double> rates;
    for (int r = 0; r < runs; ++r) rates.push_back(SendRate(socket, clients, seconds));
    out["ipc_send_" + std::to_string(clients) + "_clients"] = {{"messages_per_s_runs", rates},
                                                               {"messages_per_s", Median(rates)}};
  }
}

// The registry's hot paths with 1,000 agents registered (kAgents, made here
// outside the timing, named bench-a0000..): a heartbeat of one of them
// (round robin) and the list of all, when the daemon has the registry.
constexpr int kAgents = 1000;

void BenchAgents(NexusClient& c, int iterations, int runs, nlohmann::json& out) {
  auto& ws = c.wait_scope();
  auto agents = c.session().agentsRequest().send().wait(ws).getAgents();
  if (agents.listRequest().send().wait(ws).hasError()) return;  // no registry
  char id[32];
  for (int i = 0; i < kAgents; ++i) {
    std::snprintf(id, sizeof id, "bench-a%04d", i);
    auto req = agents.registerRequest();
    req.setId(id);
    req.setName(id);
    auto res = req.send().wait(ws);
    Check(!res.hasError() || res.getError().getCode() == nexus::rpc::Error::Code::ALREADY_EXISTS,
          "agent register");
  }
  int next = 0;
  auto heartbeat = [&]() {
    std::snprintf(id, sizeof id, "bench-a%04d", next++ % kAgents);
    auto req = agents.heartbeatRequest();
    req.setId(id);
    Check(!req.send().wait(ws).hasError(), "agent heartbeat");
  };
  auto list = [&]() {
    auto res = agents.listRequest().send().wait(ws);
    Check(!res.hasError() && res.getAgents().size() >= kAgents, "agent list");
  };
  struct W {
    const char* name;
    std::function<void()> fn;
    int iterations;
  };
  for (const W& w :
       {W{"agent_heartbeat", heartbeat, iterations}, W{"agent_list_1000", list, iterations / 10}}) {
    Time(50, w.fn);
    std::vector<double> p50s, p99s;
    for (int r = 0; r < runs; ++r) {
      auto us = Time(std::max(w.iterations, 50), w.fn);
      p50s.push_back(Percentile(us, 0.50));
      p99s.push_back(Percentile(us, 0.99));
    }
    out[w.name] = {
        {"p50_us_runs", p50s}, {"p99_us_runs", p99s}, {"p50_us", Median(p50s)}, {"p99_us", Median(p99s)}};
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket;
  int iterations = 2000, runs = 5;
  double seconds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--socket")) socket = argv[i + 1];
    if (!std::strcmp(argv[i], "--iterations")) iterations = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--runs")) runs = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
  }
  if (socket.empty()) {
    std::fprintf(stderr, "usage: nexus_bench_rpc --socket PATH [--iterations N] [--runs R] [--seconds S]\n");
    return 64;
  }
  auto c = Connect(socket);
  auto& ws = c->wait_scope();
  // Capabilities fetched once and resolved (not left as pipelined promises).
  auto files = c->session().filesRequest().send().wait(ws).getFiles();
  auto locks = c->session().locksRequest().send().wait(ws).getLocks();

  auto read_1k = [&]() {
    auto req = files.readRequest();
    req.setPath("/bench/read-1k");
    auto r = req.send().wait(ws);
    Check(!r.hasError() && r.getData().size() == 1024, "read");
  };
  auto stat_100 = [&]() {
    auto req = files.statRequest();
    auto paths = req.initPaths(100);
    for (int i = 0; i < 100; ++i) paths.set(i, "/bench/stat/f" + std::to_string(i));
    auto r = req.send().wait(ws);
    Check(r.getResults().size() == 100 && !r.getResults()[99].hasError(), "stat");
  };
  auto lock_cycle = [&]() {
    auto a = locks.acquireRequest();
    a.setPath("/bench/lock");
    a.setTtlSeconds(30);
    Check(!a.send().wait(ws).hasError(), "lock acquire");
    auto r = locks.releaseRequest();
    r.setPath("/bench/lock");
    Check(!r.send().wait(ws).hasError(), "lock release");
  };
  // The floor: a call that does no work (the transport and the two event
  // loops alone).
  auto null_call = [&]() { c->session().identityRequest().send().wait(ws); };
  auto stat_1 = [&]() {
    auto req = files.statRequest();
    req.initPaths(1).set(0, "/bench/read-1k");
    auto r = req.send().wait(ws);
    Check(!r.getResults()[0].hasError(), "stat");
  };
  // History of a file with many versions (/bench/history.txt, made by
  // run_rpc_bench.sh): the whole history, one version's content, and the
  // diff of two consecutive versions.
  auto versions = c->session().versionsRequest().send().wait(ws).getVersions();
  uint32_t history_len = 0;
  {
    auto req = versions.historyRequest();
    req.setPath("/bench/history.txt");
    auto r = req.send().wait(ws);
    if (!r.hasError()) history_len = r.getVersions().size();
  }
  uint32_t pick = 0;
  auto next_version = [&]() { return history_len ? 1 + (pick++ * 7919u) % (history_len - 1) : 1; };
  auto history = [&]() {
    auto req = versions.historyRequest();
    req.setPath("/bench/history.txt");
    auto r = req.send().wait(ws);
    Check(!r.hasError() && r.getVersions().size() == history_len, "history");
  };
  auto get_version = [&]() {
    auto req = versions.getRequest();
    req.setPath("/bench/history.txt");
    req.setVersion(next_version());
    auto r = req.send().wait(ws);
    Check(!r.hasError() && r.getData().size() > 0, "get version");
  };
  auto diff_versions = [&]() {
    auto req = versions.diffRequest();
    req.setPath("/bench/history.txt");
    uint32_t v = next_version();
    req.setV1(v);
    req.setV2(v + 1);
    auto r = req.send().wait(ws);
    Check(!r.hasError() && r.getDiff().size() > 0, "diff");
  };
  struct Workload {
    const char* name;
    std::function<void()> fn;
  };
  std::vector<Workload> workloads = {{"null_call", null_call},
                                     {"stat_1", stat_1},
                                     {"read_1k", read_1k},
                                     {"stat_100", stat_100},
                                     {"lock_unlock", lock_cycle}};
  if (history_len >= 2) {
    workloads.push_back({"versions_history", history});
    workloads.push_back({"versions_get", get_version});
    workloads.push_back({"versions_diff", diff_versions});
  }

  nlohmann::json out;
  out["history_versions"] = history_len;
  {
    std::vector<double> p50s, p99s;
    for (int r = 0; r < runs; ++r) {
      auto us = RawRoundTrips(iterations);
      p50s.push_back(Percentile(us, 0.50));
      p99s.push_back(Percentile(us, 0.99));
    }
    out["raw_socket_round_trip"] = {
        {"p50_us_runs", p50s}, {"p99_us_runs", p99s}, {"p50_us", Median(p50s)}, {"p99_us", Median(p99s)}};
  }
  for (auto& w : workloads) {
    Time(200, w.fn);  // warm up
    std::vector<double> p50s, p99s;
    for (int r = 0; r < runs; ++r) {
      auto us = Time(iterations, w.fn);
      p50s.push_back(Percentile(us, 0.50));
      p99s.push_back(Percentile(us, 0.99));
    }
    out[w.name] = {
        {"p50_us_runs", p50s}, {"p99_us_runs", p99s}, {"p50_us", Median(p50s)}, {"p99_us", Median(p99s)}};
  }

  // 8 clients, each on its own thread and connection, reading 1 KiB.
  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) {
    std::atomic<uint64_t> calls{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&]() {
        auto client = Connect(socket);
        auto f = client->session().filesRequest().send().getFiles();
        while (!stop.load(std::memory_order_relaxed)) {
          auto req = f.readRequest();
          req.setPath("/bench/read-1k");
          auto res = req.send().wait(client->wait_scope());
          Check(!res.hasError(), "concurrent read");
          calls.fetch_add(1, std::memory_order_relaxed);
        }
      });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // connect and warm up
    uint64_t start = calls.load();
    auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    uint64_t done = calls.load() - start;
    double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    stop = true;
    for (auto& th : threads) th.join();
    rates.push_back(done / elapsed);
  }
  out["concurrent_8_read_1k"] = {{"calls_per_s_runs", rates}, {"calls_per_s", Median(rates)}};
  BenchIpc(socket, *c, iterations, runs, seconds, out);
  BenchAgents(*c, iterations, runs, out);
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
