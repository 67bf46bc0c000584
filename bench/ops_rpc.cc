// nexus_bench_ops_rpc: latency of the Ops.log call alone (no CLI process,
// no JSON printing) against a running nexusd, on one connection with the
// Ops capability obtained once, the way a client that polls the log works.
//
//   nexus_bench_ops_rpc --socket PATH [--agent A] [--limit N] [--runs R]
//
// Each run asks for A's newest N operations (N 0: the server's default of
// 1,000). Prints one JSON object: p50 and p95 in milliseconds, and how many
// operations a call returned.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "rpc/client.h"

namespace {

[[noreturn]] void Die(const std::string& why, int code = 1) {
  std::fprintf(stderr, "nexus_bench_ops_rpc: %s\n", why.c_str());
  std::exit(code);
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string socket, agent = "bench";
  int runs = 50;
  unsigned limit = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) Die("missing value for " + a, 64);
    std::string v = argv[++i];
    if (a == "--socket")
      socket = v;
    else if (a == "--agent")
      agent = v;
    else if (a == "--runs")
      runs = std::max(1, std::atoi(v.c_str()));
    else if (a == "--limit")
      limit = static_cast<unsigned>(std::atoi(v.c_str()));
    else
      Die("unknown option " + a, 64);
  }
  if (socket.empty()) Die("--socket is required", 64);

  nexus::ConnectOptions o;
  o.socket_path = socket;
  auto client = nexus::NexusClient::Connect(o);
  if (!client.ok()) Die(client.status().ToString());
  auto& c = **client;
  auto& ws = c.wait_scope();
  auto ops = c.session().opsRequest().send().wait(ws).getOps();
  size_t returned = 0;
  auto call = [&]() {
    auto req = ops.logRequest();
    req.initFilter().setAgentId(agent);
    req.setLimit(limit);
    auto r = req.send().wait(ws);
    if (r.hasError()) Die("ops.log: " + std::string(r.getError().getMessage().cStr()));
    returned = r.getOps().size();
  };
  call();  // warm: connection, capability, the server's caches
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    call();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("{\"runs\": %d, \"returned\": %zu, \"p50_ms\": %.3f, \"p95_ms\": %.3f}\n", runs, returned,
              Percentile(ms, 0.5), Percentile(ms, 0.95));
  return 0;
}
