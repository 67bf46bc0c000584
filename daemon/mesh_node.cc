#include "daemon/mesh_node.h"

#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <sstream>

#include "base/file_util.h"
#include "rpc/bytes.h"
#include "rpc/errors.h"

namespace nexus {
namespace {

// Puts this node's zones on a registration or heartbeat.
template <typename Request>
void SetZones(Request& req, const std::vector<std::string>& zones) {
  auto list = req.initZones(zones.size());
  for (size_t i = 0; i < zones.size(); ++i) list.set(i, zones[i]);
  req.setReportsZones(true);
}

// A finished task's result is offered for this many lease TTLs past the
// lease as the node knows it: a director without quorum cannot extend
// leases, and the one that leads once quorum is back extends every running
// lease before it expires any, so the result is still taken then. A lease
// that really lapsed (the task placed again) is refused as final (ESTALE).
constexpr int kCompleteGrace = 10;

// The director's answer is final for this lease: it is someone else's now
// (ESTALE), the node is revoked (EACCES) or unknown (ENOKEY), the task is
// gone or in another state. Anything else (a lost connection, a timeout, a
// director restarting) is the transport's and worth another try.
bool Final(const Status& st) {
  switch (st.code()) {
    case ESTALE:
    case EACCES:
    case ENOKEY:
    case ENOENT:
    case EINVAL:
      return true;
    default:
      return false;
  }
}

}  // namespace

// A task's connection to the director as its node, dialled again after a
// transport failure.
class MeshNodeAgent::Link {
 public:
  Link(const MeshNodeAgent* agent, Membership m) : agent_(agent), m_(std::move(m)) {}
  ~Link() { Drop(); }

  // Runs `call` on the node capability (connecting first if need be); a
  // transport failure drops the connection so the next call dials again.
  Status Call(const std::function<Status(NexusClient&, rpc::MeshNode::Client&)>& call) {
    if (!node_) {
      Status st = Open();
      if (!st.ok()) return st;
    }
    Status st = call(*client_, *node_);
    if (!st.ok() && !Final(st)) Drop();
    return st;
  }

 private:
  Status Open() {
    auto c = agent_->Dial(m_.director, m_.ca_file);
    if (!c.ok()) return c.status();
    auto open = (*c)->bootstrap().meshNodeRequest();
    open.setNodeId(m_.node_id);
    open.setCredential(m_.credential);
    auto r = (*c)->Wait(open.send());
    NEXUS_RETURN_IF_ERROR(ReplyStatus(r));
    client_ = std::move(c).value();
    node_ = std::make_unique<rpc::MeshNode::Client>(r->getNode());
    return Status::Ok();
  }
  void Drop() {
    node_.reset();  // the capability before its connection
    client_.reset();
  }

  const MeshNodeAgent* agent_;
  const Membership m_;
  std::unique_ptr<NexusClient> client_;
  std::unique_ptr<rpc::MeshNode::Client> node_;
};

Result<std::unique_ptr<MeshNodeAgent>> MeshNodeAgent::Start(MeshNodeConfig config) {
  std::unique_ptr<MeshNodeAgent> a(new MeshNodeAgent(std::move(config)));
  NEXUS_RETURN_IF_ERROR(a->Load());
  a->loop_ = std::thread([p = a.get()] { p->Loop(); });
  return a;
}

MeshNodeAgent::~MeshNodeAgent() { Stop(); }

void MeshNodeAgent::Stop() {
  std::call_once(stopped_, [this] { StopOnce(); });
}

void MeshNodeAgent::StopOnce() {
  std::vector<Worker> workers;
  Membership m;
  bool joined;
  {
    MutexLock lk(mu_);
    stop_ = true;  // no more heartbeats or claims
    m = m_;
    joined = joined_;
  }
  cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  // Tell the director first, so the attempts failed below are not placed
  // straight back on this node.
  if (joined) {
    Link link(this, m);
    Status st = link.Call([](NexusClient& c, rpc::MeshNode::Client& node) {
      return ReplyStatus(c.Wait(node.leaveRequest().send()));
    });
    if (!st.ok())
      spdlog::warn("mesh: could not tell the director {} this node leaves: {}", m.director, st.ToString());
  }
  {
    MutexLock lk(mu_);
    for (mesh::TaskRunner* r : runners_) r->Cancel();
  }
  {
    MutexLock lk(mu_);
    workers.swap(workers_);
  }
  for (auto& w : workers) w.thread.join();
}

Status MeshNodeAgent::Save(const Membership& m) {
  std::ostringstream out;
  out << "director=" << m.director << "\nca_file=" << m.ca_file << "\nnode_id=" << m.node_id
      << "\ncredential=" << m.credential << "\nfingerprint=" << m.fingerprint << "\nname=" << m.name << "\n";
  return WriteFileAtomic(StatePath(), out.str(), 0600);
}

Status MeshNodeAgent::Load() {
  struct stat st;
  if (::stat(StatePath().c_str(), &st) != 0) return Status::Ok();  // not a member yet
  auto text = ReadTextFile(StatePath(), "mesh node state");
  if (!text.ok()) return text.status();
  Membership m;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "director") m.director = v;
    if (k == "ca_file") m.ca_file = v;
    if (k == "node_id") m.node_id = v;
    if (k == "credential") m.credential = v;
    if (k == "fingerprint") m.fingerprint = v;
    if (k == "name") m.name = v;
  }
  if (m.director.empty() || m.node_id.empty() || m.credential.empty())
    return Status::Error(EINVAL, StatePath() + " is incomplete; remove it to join again");
  MutexLock lk(mu_);
  m_ = m;
  joined_ = true;
  spdlog::info("mesh: node {} of {} ({})", m.node_id, m.director, m.fingerprint);
  return Status::Ok();
}

Result<std::unique_ptr<NexusClient>> MeshNodeAgent::Dial(const std::string& director,
                                                         const std::string& ca_file) const {
  // "A,B,C": several directors, one leading. Each dial starts one address
  // further (a dial is only needed after a failure, and a standby answers
  // "unavailable" naming the leader), and moves on past unreachable ones.
  std::vector<std::string> addresses;
  for (size_t from = 0;;) {
    size_t comma = director.find(',', from);
    std::string a = director.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    if (!a.empty()) addresses.push_back(std::move(a));
    if (comma == std::string::npos) break;
    from = comma + 1;
  }
  if (addresses.empty()) return Status::Error(EINVAL, "no director address");
  const size_t first = dial_next_.fetch_add(1) % addresses.size();
  Status last = Status::Error(EAGAIN, "no director answered");
  for (size_t i = 0; i < addresses.size(); ++i) {
    const std::string& address = addresses[(first + i) % addresses.size()];
    ConnectOptions o;
    o.authenticate = false;
    o.client_name = "nexusd-node";
    o.timeout_s = 5;
    o.call_timeout_s = config_.call_timeout_s;
    if (address.rfind("unix:", 0) == 0) {
      o.socket_path = address.substr(5);
    } else {
      o.remote = address;
      o.tls_ca = ca_file;
    }
    auto c = NexusClient::Connect(o);
    if (c.ok()) return c;
    last = c.status();
  }
  return last;
}

MeshMemberInfo MeshNodeAgent::InfoLocked() const {
  MeshMemberInfo i;
  i.joined = joined_;
  i.worker = config_.worker;
  i.director = m_.director;
  i.node_id = m_.node_id;
  i.fingerprint = m_.fingerprint;
  i.name = m_.name;
  i.running = running_.load();
  return i;
}

MeshMemberInfo MeshNodeAgent::Current() {
  MutexLock lk(mu_);
  return InfoLocked();
}

Result<MeshMemberInfo> MeshNodeAgent::Join(const std::string& director, const std::string& key,
                                           const std::string& ca_file, const std::string& name,
                                           int64_t capacity) {
  {
    MutexLock lk(mu_);
    if (joined_)
      return Status::Error(EEXIST, "already node " + m_.node_id + " of " + m_.director + " (remove " +
                                       StatePath() + " to join elsewhere)");
  }
  if (director.empty() || key.empty())
    return Status::Error(EINVAL, "joining needs the director's address and the registration key");
  // With several directors, the standbys refuse ("unavailable") until the
  // leader is reached: try each once.
  const size_t tries = static_cast<size_t>(std::count(director.begin(), director.end(), ',')) + 1;
  std::unique_ptr<NexusClient> client;
  Status st;
  std::optional<capnp::Response<rpc::Nexus::MeshRegisterResults>> r;
  for (size_t i = 0; i < tries; ++i) {
    auto c = Dial(director, ca_file);
    if (!c.ok()) {
      st = c.status();
      continue;
    }
    client = std::move(c).value();
    auto req = client->bootstrap().meshRegisterRequest();
    req.setRegistrationKey(key);
    req.setName(name);
    req.setAddress(config_.address.empty() ? name : config_.address);
    req.setCapacity(capacity > 0 ? capacity : config_.capacity);
    req.setNodeKey(AsBytes(config_.node_key));
    SetZones(req, Zones());
    auto res = client->Wait(req.send());
    st = ReplyStatus(res);
    if (st.ok()) {
      r.emplace(std::move(res).value());
      break;
    }
    if (Final(st) || st.code() == ENOKEY || st.code() == EEXIST) return st;
  }
  if (!r) return st;
  Membership m{director,
               ca_file,
               r->getCredential().getNodeId(),
               r->getCredential().getCredential(),
               r->getCredential().getFingerprint(),
               name};
  NEXUS_RETURN_IF_ERROR(Save(m));
  MutexLock lk(mu_);
  m_ = m;
  joined_ = true;
  ++generation_;
  cv_.notify_all();
  spdlog::info("mesh: joined {} as node {} ({})", director, m.node_id, m.fingerprint);
  return InfoLocked();
}

Result<MeshMemberInfo> MeshNodeAgent::RotateCredential() {
  Membership m;
  {
    MutexLock lk(mu_);
    if (!joined_) return Status::Error(ENOSYS, "this daemon has not joined a mesh");
    m = m_;
  }
  // With several directors, a standby answers EAGAIN having done nothing:
  // the next one is asked (each dial starts one address further). Any other
  // failure may have rotated the credential, so it is not retried.
  const size_t tries = 1 + static_cast<size_t>(std::count(m.director.begin(), m.director.end(), ','));
  Link link(this, m);
  Membership rotated = m;
  Status st;
  for (size_t i = 0; i < tries; ++i) {
    st = link.Call([&](NexusClient& c, rpc::MeshNode::Client& node) {
      auto r = c.Wait(node.rotateCredentialRequest().send());
      NEXUS_RETURN_IF_ERROR(ReplyStatus(r));
      rotated.credential = r->getCredential().getCredential();
      rotated.fingerprint = r->getCredential().getFingerprint();
      return Status::Ok();
    });
    if (st.code() != EAGAIN) break;
  }
  NEXUS_RETURN_IF_ERROR(st);
  m = rotated;
  NEXUS_RETURN_IF_ERROR(Save(m));
  MutexLock lk(mu_);
  m_ = m;
  ++generation_;
  cv_.notify_all();
  spdlog::info("mesh: node {} has a new credential ({})", m.node_id, m.fingerprint);
  return InfoLocked();
}

Result<RemoteTrust> MeshNodeAgent::FetchTrust() {
  Membership m;
  {
    MutexLock lk(mu_);
    if (!joined_) return Status::Error(ENOSYS, "this daemon has not joined a mesh");
    m = m_;
  }
  RemoteTrust out;
  Link link(this, m);
  NEXUS_RETURN_IF_ERROR(link.Call([&](NexusClient& c, rpc::MeshNode::Client& node) {
    auto r = c.Wait(node.trustSetRequest().send());
    NEXUS_RETURN_IF_ERROR(ReplyStatus(r));
    for (auto k : r->getKeys())
      out.keys.push_back({std::string(k.getNode()), std::string(AsView(k.getPublicKey()))});
    for (auto v : r->getRevocations())
      out.revocations.push_back(
          {std::string(v.getAgentId()), std::string(v.getNode()), v.getRevokedBeforeNs()});
    return Status::Ok();
  }));
  return out;
}

Status MeshNodeAgent::ReportRevocations(const std::vector<PassportRevocation>& revocations) {
  Membership m;
  {
    MutexLock lk(mu_);
    if (!joined_) return Status::Error(ENOSYS, "this daemon has not joined a mesh");
    m = m_;
  }
  Link link(this, m);
  return link.Call([&](NexusClient& c, rpc::MeshNode::Client& node) {
    auto req = node.reportRevocationsRequest();
    auto list = req.initRevocations(revocations.size());
    for (size_t i = 0; i < revocations.size(); ++i) {
      list[i].setAgentId(revocations[i].agent_id);
      list[i].setNode(revocations[i].node);
      list[i].setRevokedBeforeNs(revocations[i].revoked_before);
    }
    return ReplyStatus(c.Wait(req.send()));
  });
}

std::vector<std::string> MeshNodeAgent::Zones() const {
  std::vector<std::string> zones;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(config_.mountpoint + "/zone", ec)) {
    std::error_code type_ec;
    if (e.is_directory(type_ec)) zones.push_back(e.path().filename().string());
  }
  return zones;
}

Result<std::string> MeshNodeAgent::SubmitTask(const std::string& name, const std::string& command,
                                              const std::string& zone, const std::string& on_behalf) {
  Membership m;
  {
    MutexLock lk(mu_);
    if (!joined_) return Status::Error(ENOSYS, "this daemon has not joined a mesh");
    m = m_;
  }
  std::string id;
  Link link(this, m);
  NEXUS_RETURN_IF_ERROR(link.Call([&](NexusClient& c, rpc::MeshNode::Client& node) {
    auto req = node.submitTaskRequest();
    auto spec = req.initSpec();
    spec.setName(name);
    spec.setCommand(command);
    spec.setZone(zone);
    req.setOnBehalfOf(on_behalf);
    auto r = c.Wait(req.send());
    NEXUS_RETURN_IF_ERROR(ReplyStatus(r));
    id = r->getTask().getId();
    return Status::Ok();
  }));
  return id;
}

void MeshNodeAgent::Loop() {
  std::unique_ptr<NexusClient> client;
  std::unique_ptr<rpc::MeshNode::Client> node;
  uint64_t connected_generation = UINT64_MAX;
  std::string last_state, last_error;
  auto disconnect = [&] {
    node.reset();  // the capability before its connection
    client.reset();
  };
  MutexLock lk(mu_);
  while (!stop_) {
    if (!joined_) {
      lk.Wait(cv_, [&]() REQUIRES(mu_) { return stop_ || joined_; });
      continue;
    }
    Membership m = m_;
    const uint64_t generation = generation_;
    lk.Unlock();
    if (generation != connected_generation) disconnect();
    Status st;
    if (!node) {
      auto c = Dial(m.director, m.ca_file);
      if (c.ok()) {
        client = std::move(c).value();
        auto open = client->bootstrap().meshNodeRequest();
        open.setNodeId(m.node_id);
        open.setCredential(m.credential);
        auto r = client->Wait(open.send());
        st = ReplyStatus(r);
        if (st.ok()) {
          node = std::make_unique<rpc::MeshNode::Client>(r->getNode());
          connected_generation = generation;
        }
      } else {
        st = c.status();
      }
    }
    if (node) {
      auto hb = node->heartbeatRequest();
      const int running = running_.load();
      hb.setQueueDepth(running);
      hb.setFreeCapacity(std::max<int64_t>(0, config_.capacity - running));
      hb.setNodeKey(AsBytes(config_.node_key));
      SetZones(hb, Zones());
      auto r = client->Wait(hb.send());
      st = ReplyStatus(r);
      if (st.ok()) {
        std::string state = std::string(r->getState()) + "/" + std::string(r->getTrust());
        if (state != last_state) spdlog::info("mesh: node {} is {}", m.node_id, state);
        last_state = state;
      }
      if (st.ok() && config_.worker) {
        auto c = client->Wait(node->claimRequest().send());
        st = ReplyStatus(c);
        if (st.ok()) {
          MutexLock wl(mu_);
          for (auto it = workers_.begin(); it != workers_.end();) {  // reap finished ones
            if (it->done->load()) {
              it->thread.join();
              it = workers_.erase(it);
            } else {
              ++it;
            }
          }
          for (auto t : c->getTasks()) {
            if (stop_) break;
            auto done = std::make_shared<std::atomic<bool>>(false);
            mesh::TaskSpec spec;
            spec.command = t.getSpec().getCommand();
            spec.zone = t.getSpec().getZone();
            spec.allow_network = t.getSpec().getAllowNetwork();
            for (auto o : t.getSpec().getOutputs()) spec.outputs.emplace_back(o);
            workers_.push_back({std::thread(&MeshNodeAgent::RunTask, this, m, std::string(t.getId()),
                                            std::string(t.getLeaseToken()), std::move(spec), done),
                                done});
          }
        }
      }
      if (!st.ok()) disconnect();
    }
    if (!st.ok() && st.ToString() != last_error)
      spdlog::warn("mesh: node {} cannot reach its director {}: {}", m.node_id, m.director, st.ToString());
    last_error = st.ok() ? "" : st.ToString();
    lk.Lock();
    lk.WaitFor(cv_, config_.heartbeat, [&]() REQUIRES(mu_) { return stop_ || generation_ != generation; });
  }
  lk.Unlock();
  disconnect();
}

void MeshNodeAgent::RunTask(Membership m, std::string id, std::string token, mesh::TaskSpec spec,
                            std::shared_ptr<std::atomic<bool>> done) {
  const std::string& command = spec.command;
  const std::string& zone = spec.zone;
  running_.fetch_add(1);
  struct Finish {
    std::atomic<int>& running;
    std::atomic<bool>& done;
    ~Finish() {
      running.fetch_sub(1);
      done.store(true);
    }
  } finish{running_, *done};
  using Clock = std::chrono::steady_clock;
  const auto ttl = std::chrono::milliseconds(static_cast<int64_t>(config_.lease_ttl_s * 1000));
  // The lease is ours until this, as far as we know: the director granted
  // it (or last extended it) no earlier than now.
  auto lease_until = Clock::now() + ttl;
  Link link(this, m);
  auto stopping = [&] {
    MutexLock lk(mu_);
    return stop_;
  };
  // Retries `call` on fresh connections until the director answers it,
  // the answer is final, the lease has run out (plus `grace`) or the node
  // stops.
  auto persist = [&](const char* what,
                     const std::function<Status(NexusClient&, rpc::MeshNode::Client&)>& call,
                     std::chrono::milliseconds grace = {}) {
    for (;;) {
      Status st = link.Call(call);
      if (st.ok()) return st;
      if (Final(st) || Clock::now() >= lease_until + grace || stopping()) {
        spdlog::warn("mesh: task {}: {}: {}", id, what, st.ToString());
        return st;
      }
      spdlog::info("mesh: task {}: {} failed, retrying: {}", id, what, st.ToString());
      MutexLock lk(mu_);
      lk.WaitFor(cv_, std::chrono::milliseconds(500), [&]() REQUIRES(mu_) { return stop_; });
    }
  };
  auto fail = [&](const std::string& reason) {
    // persist logs a failure; the lease then expires and the task is placed again.
    (void)persist("fail", [&](NexusClient& c, rpc::MeshNode::Client& node) {
      auto req = node.failRequest();
      req.setId(id);
      req.setToken(token);
      req.setReason(reason);
      return ReplyStatus(c.Wait(req.send()));
    });
  };
  Status started = persist("start", [&](NexusClient& c, rpc::MeshNode::Client& node) {
    auto req = node.startRequest();
    req.setId(id);
    req.setToken(token);
    return ReplyStatus(c.Wait(req.send()));
  });
  if (!started.ok()) return;  // the lease expires and the task is placed again
  const std::string zone_dir = config_.mountpoint + "/zone/" + (zone.empty() ? "local" : zone);
  struct stat st;
  if (::stat(zone_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    fail("zone '" + zone + "' does not exist on node " + m.node_id);
    return;
  }
  spdlog::info("mesh: task {} running: {}", id, command);
  mesh::TaskRunner::Options ro;
  ro.interval = config_.lease_interval;
  mesh::TaskRunner runner(ro, {command, zone_dir, spec.allow_network, {}});
  {
    MutexLock lk(mu_);
    if (stop_) return fail("cancelled on node " + m.node_id + " (shutting down)");
    runners_.push_back(&runner);
  }
  bool lease_lost = false;
  Result<mesh::RunOutput> out = runner.Run([&] {
    // A director that is briefly away (restarting, a blip in the network)
    // is tried again, and the task goes on while the lease may still be ours.
    // A transport failure (a connection the director's restart closed, a
    // call it did not answer) is retried on a new connection until the
    // director answers or the lease has run out: the extension is due now,
    // and waiting for the next interval could let the lease lapse.
    Status es;
    for (;;) {
      const auto asked = Clock::now();
      es = link.Call([&](NexusClient& c, rpc::MeshNode::Client& node) {
        auto req = node.extendRequest();
        req.setId(id);
        req.setToken(token);
        req.setTtlSeconds(config_.lease_ttl_s);
        return ReplyStatus(c.Wait(req.send()));
      });
      if (es.ok()) {
        lease_until = asked + ttl;
        return;
      }
      if (Final(es) || Clock::now() >= lease_until || stopping()) break;
      MutexLock lk(mu_);
      lk.WaitFor(cv_, std::chrono::milliseconds(200), [&]() REQUIRES(mu_) { return stop_; });
    }
    if (Final(es) || Clock::now() >= lease_until) {
      spdlog::warn("mesh: task {}: the lease is lost ({}); stopping it", id, es.ToString());
      lease_lost = true;
      runner.Cancel();  // someone else has the task now
    } else {
      spdlog::info("mesh: task {}: cannot extend the lease yet: {}", id, es.ToString());
    }
  });
  {
    MutexLock lk(mu_);
    std::erase(runners_, &runner);
  }
  if (lease_lost) return;  // a fail with a lost lease would only be refused
  if (!out.ok()) return fail(out.status().message());
  if (out->cancelled) return fail("cancelled on node " + m.node_id + " (shutting down)");
  // Read before `complete`: one message carries them (within the
  // connection's limit: kMaxOutputTotalBytes plus two bounded streams).
  mesh::CollectedOutputs outputs =
      mesh::CollectOutputs(zone_dir, spec.outputs, mesh::kMaxOutputFileBytes, mesh::kMaxOutputTotalBytes);
  for (const auto& [path, why] : outputs.missing) spdlog::warn("mesh: task {}: output {}: {}", id, path, why);
  Status cs = persist(
      "complete",
      [&](NexusClient& c, rpc::MeshNode::Client& node) {
        auto req = node.completeRequest();
        req.setId(id);
        req.setToken(token);
        req.setExitCode(out->exit_code);
        req.setStdout(AsBytes(out->stdout_data));
        req.setStderr(AsBytes(out->stderr_data));
        auto files = req.initFiles(outputs.files.size());
        for (size_t i = 0; i < outputs.files.size(); ++i) {
          files[i].setName(outputs.files[i].first);
          files[i].setContent(AsBytes(outputs.files[i].second));
        }
        auto missing = req.initMissing(outputs.missing.size());
        for (size_t i = 0; i < outputs.missing.size(); ++i) {
          missing[i].setPath(outputs.missing[i].first);
          missing[i].setReason(outputs.missing[i].second);
        }
        return ReplyStatus(c.Wait(req.send()));
      },
      kCompleteGrace * ttl);
  if (cs.ok()) spdlog::info("mesh: task {} done: exit {}", id, out->exit_code);
}

}  // namespace nexus
