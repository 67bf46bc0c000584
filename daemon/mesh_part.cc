#include "daemon/mesh_part.h"

#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "base/crypto.h"
#include "rpc/client.h"
#include "rpc/errors.h"

namespace nexus {

Result<std::unique_ptr<MeshPart>> MeshPart::Open(const DaemonOptions& options, const std::string& data_dir) {
  const std::string dir = data_dir + "/mesh";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno("mkdir " + dir);
  std::unique_ptr<MeshPart> part(new MeshPart());
  std::string where = dir;
  if (options.mesh_store.starts_with("etcd://")) {
    auto endpoints = mesh::ParseEtcdUrl(options.mesh_store);
    if (!endpoints.ok()) return Status::Error(EINVAL, "--mesh-store: " + endpoints.status().message());
    mesh::EtcdStore::Options eo;
    eo.etcd.endpoints = *endpoints;
    eo.etcd.ca_file = options.etcd_ca;
    eo.etcd.cert_file = options.etcd_cert;
    eo.etcd.key_file = options.etcd_key;
    auto store = mesh::EtcdStore::Open(&DefaultClock(), std::move(eo));
    if (!store.ok()) return Status::Error(store.code(), "mesh store: " + store.status().message());
    part->etcd_ = std::move(store).value();
    part->fenced_ = std::make_unique<mesh::FencedStore>(part->etcd_.get());
    part->store_ = part->fenced_.get();
    const double ttl =
        options.mesh_election_ttl > 0 ? options.mesh_election_ttl : std::min(10.0, options.mesh_lease_ttl);
    part->election_ttl_ = std::chrono::milliseconds(static_cast<int64_t>(ttl * 1000));
    part->forward_secret_ = RandomHex(32);
    // Directors of one mesh share a CA: the nodes' (--join-ca), else the
    // one their own listener's certificate is.
    part->leader_ca_ = options.join_ca.empty() ? options.tls_cert : options.join_ca;
    MutexLock lk(part->mu_);
    part->leading_ = false;  // until elected
    where = options.mesh_store;
  } else {
    auto store = mesh::SqliteStore::Open(dir + "/mesh.db", &DefaultClock());
    if (!store.ok()) return Status::Error(store.code(), "mesh store: " + store.status().message());
    part->sqlite_ = std::move(store).value();
    part->store_ = part->sqlite_.get();
  }
  mesh::DirectorOptions dopts;
  dopts.registration_key = options.registration_key;
  dopts.results_dir = dir + "/results";
  dopts.lease_ttl = std::chrono::milliseconds(static_cast<int64_t>(options.mesh_lease_ttl * 1000));
  dopts.heartbeat_timeout =
      std::chrono::milliseconds(static_cast<int64_t>(options.mesh_heartbeat_timeout * 1000));
  auto director = mesh::Director::Open(part->store_, &DefaultClock(), dopts);
  if (!director.ok()) return Status::Error(director.code(), "mesh director: " + director.status().message());
  part->director_ = std::move(director).value();
  auto keys = mesh::KeyDirectory::Open(part->store_);
  if (!keys.ok()) return Status::Error(keys.code(), "mesh key directory: " + keys.status().message());
  part->keys_ = std::move(keys).value();
  spdlog::info("mesh: directing {} nodes, {} tasks (state in {})", part->director_->ListNodes().size(),
               part->director_->ListTasks().size(), where);
  return part;
}

MeshPart::~MeshPart() {
  {
    MutexLock lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (housekeeping_.joinable()) housekeeping_.join();
  election_.reset();  // resigns: a standby leads at its next round
  keys_.reset();
  director_.reset();
  fenced_.reset();
  etcd_.reset();
  sqlite_.reset();
}

void MeshPart::Fill(ServiceContext& ctx) {
  office_ = std::make_unique<MeshOffice>(director_.get(), keys_.get());
  if (etcd_)
    office_->SetControl(
        [this] {
          if (Leading()) return Status::Ok();
          Status st = fenced_->CheckLeading();
          // Elected, still loading the state: not serving yet.
          return st.ok() ? Status::Error(EAGAIN, "this director is taking over as leader; try again") : st;
        },
        [this] { return Control(); });
  if (etcd_) {
    MeshStandbyHooks hooks;
    hooks.read = [this](const std::function<Status()>& read) { return StandbyRead(read); };
    hooks.forward = [this](const MeshCallerInfo& caller, uint16_t method, capnp::AnyPointer::Reader params) {
      return Forward(caller, method, params);
    };
    hooks.verify_peer = [this](const std::string& director, const std::string& credential) {
      return mesh::EtcdElection::VerifyPeer(*etcd_, director, credential);
    };
    hooks.standing_by = [this] { return !Leading() && !fenced_->Leader().empty(); };
    office_->SetStandbyHooks(std::move(hooks));
  }
  ctx.mesh.office = office_.get();
  housekeeping_ = std::thread([this] { Housekeeping(); });
}

void MeshPart::SetAddress(const std::string& address) {
  office_->SetAddress(address);
  if (!etcd_ || election_) return;
  address_ = address;
  election_ = std::make_unique<mesh::EtcdElection>(etcd_.get(), address, election_ttl_,
                                                   [this](const mesh::ElectionView& v) { OnElection(v); });
  election_->SetPeerDigest(Sha256Hex(forward_secret_));
  election_->Start();
}

bool MeshPart::Leading() const {
  MutexLock lk(mu_);
  return leading_;
}

void MeshPart::OnElection(const mesh::ElectionView& v) {
  const bool was = Leading();
  if (!v.leading) {
    fenced_->StandBy(v.leader);
    MutexLock lk(mu_);
    leading_ = false;
    if (was)
      spdlog::warn("mesh: no longer the leading director; the leader is {}",
                   v.leader.empty() ? "unknown" : v.leader);
    return;
  }
  if (was) return;
  // Taking over: the state as the store has it, then every running lease
  // one TTL longer before anything expires, then serve.
  fenced_->Lead(v.key, v.revision);
  MutexLock rl(reload_mu_);
  Status st = director_->Reload();
  if (st.ok()) st = keys_->Reload();
  if (!st.ok()) {
    spdlog::error("mesh: leading, but the state cannot be loaded: {}", st.ToString());
    fenced_->StandBy("");
    return;
  }
  auto extended = director_->ExtendActiveLeases();
  if (!extended.ok())
    spdlog::warn("mesh: extending running leases on takeover: {}", extended.status().ToString());
  {
    MutexLock lk(mu_);
    leading_ = true;
  }
  spdlog::info("mesh: leading director ({} nodes, {} tasks, {} running leases extended)",
               director_->ListNodes().size(), director_->ListTasks().size(), extended.ok() ? *extended : 0);
}

Status MeshPart::StandbyRead(const std::function<Status()>& read) {
  MutexLock rl(reload_mu_);
  if (Leading()) return read();  // took over meanwhile: its state is current
  NEXUS_RETURN_IF_ERROR(director_->Reload());
  return read();
}

Result<std::shared_ptr<capnp::MallocMessageBuilder>> MeshPart::Forward(const MeshCallerInfo& caller,
                                                                       uint16_t method,
                                                                       capnp::AnyPointer::Reader params) {
  const std::string leader = fenced_->Leader();
  if (leader.empty()) return Status::Error(EAGAIN, "this director is a standby and no leader is elected yet");
  if (address_.empty()) return Status::Error(EAGAIN, "this director has no address the leader can check yet");
  auto retry = [&leader](const std::string& what, const Status& st) {
    return Status::Error(EAGAIN, "the leader " + leader + " " + what + " (" + st.message() +
                                     "); the leadership may be changing, try again");
  };
  ConnectOptions o;
  o.authenticate = false;
  o.client_name = "nexusd-standby";
  o.remote = leader;
  o.tls_ca = leader_ca_;
  o.timeout_s = 5;
  // A leader that stops answering (paused, partitioned) loses the lead
  // within one election TTL; waiting a few of them is enough.
  o.call_timeout_s = std::max(10.0, 5.0 * std::chrono::duration<double>(election_ttl_).count());
  auto client = NexusClient::Connect(o);
  if (!client.ok()) return retry("cannot be reached", client.status());
  NexusClient& c = **client;
  auto open = c.bootstrap().meshForwardRequest();
  open.setDirector(address_);
  open.setCredential(forward_secret_);
  auto who = open.initCaller();
  who.setSubject(caller.subject);
  who.setKeyId(caller.key_id);
  who.setAdmin(caller.admin);
  who.setCanSubmitTasks(caller.can_submit_tasks);
  who.setHourlyTaskQuota(caller.hourly_task_quota);
  auto opened = c.Wait(open.send());
  if (!opened.ok()) return retry("did not open a session", opened.status());
  if (Status st = StatusFromError(opened->hasError(), opened->getError()); !st.ok()) return st;
  auto call = opened->getMesh().typelessRequest(capnp::typeId<rpc::Mesh>(), method, nullptr);
  call.set(params);
  auto reply = c.Wait(call.send());
  // The call may or may not have been applied: the caller checks and retries.
  if (!reply.ok()) return retry("did not answer the call", reply.status());
  auto out = std::make_shared<capnp::MallocMessageBuilder>();
  out->getRoot<capnp::AnyPointer>().set(*reply);
  return out;
}

std::string MeshPart::EtcdHealth() const {
  using nlohmann::json;
  json members = json::array();
  size_t healthy = 0;
  const mesh::EtcdClient& client = etcd_->client();
  for (const std::string& ep : client.options().endpoints) {
    auto r = client.CallOne(ep, "/v3/maintenance/status", json::object(), std::chrono::milliseconds(500));
    json m = {{"endpoint", ep}, {"healthy", r.ok()}};
    if (r.ok()) {
      ++healthy;
      const json& h = (*r)["header"];
      m["member_id"] = h.value("member_id", "");
      m["leader"] = r->value("leader", "") == h.value("member_id", "");
      m["raft_term"] = std::stoll(r->value("raftTerm", h.value("raft_term", "0")));
      m["version"] = r->value("version", "");
    } else {
      m["error"] = r.status().message();
    }
    members.push_back(std::move(m));
  }
  const size_t n = client.options().endpoints.size();
  return json{{"endpoints", members}, {"healthy", healthy}, {"quorum", healthy * 2 > n}}.dump();
}

MeshControlInfo MeshPart::Control() const {
  MeshControlInfo c;
  c.store = "etcd";
  mesh::ElectionView v = election_ ? election_->View() : mesh::ElectionView{};
  MutexLock lk(mu_);
  c.role = leading_ ? "leader" : "standby";
  c.leader = v.leader;
  c.standbys = v.standbys;
  c.etcd_json = etcd_health_;
  return c;
}

void MeshPart::Housekeeping() {
  MutexLock lk(mu_);
  int round = 0;
  while (!lk.WaitFor(cv_, std::chrono::seconds(1), [this]() REQUIRES(mu_) { return stop_; })) {
    const bool leading = leading_;
    lk.Unlock();
    // etcd's health for `nexus mesh status`, every other second, off the
    // socket's event loop.
    if (etcd_ && round++ % 2 == 0) {
      std::string health = EtcdHealth();
      MutexLock hl(mu_);
      etcd_health_ = std::move(health);
    }
    if (leading) {
      director_->Tick(mesh::MeshNow(DefaultClock()));
      // Every second, also with no node ready: the round only visits pending
      // tasks, and records why each one waits ("no eligible node: 2
      // drained, 1 down").
      auto placed = director_->ScheduleAll();
      if (placed.ok()) {
        office_->Deliver(placed->placements);
        if (placed->assigned) spdlog::info("mesh: placed {} tasks", placed->assigned);
      } else {
        spdlog::warn("mesh: scheduling failed: {}", placed.status().ToString());
      }
    }
    lk.Lock();
  }
}

}  // namespace nexus
