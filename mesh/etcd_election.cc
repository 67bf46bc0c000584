#include "mesh/etcd_election.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "base/crypto.h"
#include "base/format.h"

namespace nexus::mesh {
namespace {

using nlohmann::json;

int64_t Int(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end()) return 0;
  if (it->is_string()) return std::stoll(it->get<std::string>());
  return it->is_number() ? it->get<int64_t>() : 0;
}

}  // namespace

EtcdElection::EtcdElection(EtcdStore* store, std::string address, Duration ttl, OnChange on_change)
    : store_(store), address_(std::move(address)), ttl_(ttl), on_change_(std::move(on_change)) {}

EtcdElection::~EtcdElection() {
  {
    MutexLock lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (lease_ != 0) (void)store_->client().Call("/v3/lease/revoke", {{"ID", std::to_string(lease_)}});
}

Status EtcdElection::VerifyPeer(const EtcdStore& store, std::string_view address, std::string_view secret) {
  auto peers = store.TryRange(kPeerPrefix);
  if (!peers.ok()) return peers.status();
  const std::string want = std::string(address) + " " + Sha256Hex(secret);
  for (const KeyValue& kv : *peers)
    if (SecretEquals(kv.value, want)) return Status::Ok();
  return Status::Error(EACCES, "no live director at " + std::string(address) + " presents that credential");
}

void EtcdElection::Start() {
  thread_ = std::thread([this] { Loop(); });
}

ElectionView EtcdElection::View() const {
  MutexLock lk(mu_);
  return view_;
}

void EtcdElection::TEST_Pause(bool paused) {
  MutexLock lk(mu_);
  paused_ = paused;
}

void EtcdElection::Loop() {
  const auto period = std::max<Duration>(ttl_ / 3, Duration(100));
  MutexLock lk(mu_);
  while (!stop_) {
    if (!paused_) {
      lk.Unlock();
      Round();
      lk.Lock();
    }
    lk.WaitFor(cv_, period, [&]() REQUIRES(mu_) { return stop_; });
  }
}

void EtcdElection::Round() {
  const EtcdClient& etcd = store_->client();
  ElectionView next;
  auto publish = [&](ElectionView v) {
    bool changed;
    {
      MutexLock lk(mu_);
      changed = v.leading != view_.leading || v.leader != view_.leader || v.standbys != view_.standbys ||
                v.key != view_.key;
      view_ = v;
    }
    if (changed) on_change_(v);
  };
  auto fail = [&](const Status& st) {
    ElectionView v = View();
    v.error = st.message();
    // Without a renewal for a whole TTL our key may be gone: stop leading.
    if (lease_ != 0 && std::chrono::steady_clock::now() - renewed_ >= ttl_) {
      spdlog::warn("mesh election: lease not renewed for {} ms ({}); standing by", ttl_.count(),
                   st.message());
      lease_ = 0;
      v.leading = false;
      v.key.clear();
      v.revision = 0;
    }
    publish(v);
  };

  // Renew, or find that the lease is gone.
  if (lease_ != 0) {
    auto k = etcd.Call("/v3/lease/keepalive", {{"ID", std::to_string(lease_)}});
    if (!k.ok()) return fail(k.status());
    const json& res = k->contains("result") ? (*k)["result"] : *k;
    if (Int(res, "TTL") <= 0) {
      spdlog::warn("mesh election: lease {} lapsed; campaigning again", lease_);
      lease_ = 0;
    } else {
      renewed_ = std::chrono::steady_clock::now();
    }
  }
  std::string key;
  int64_t revision = 0;
  if (lease_ == 0) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    const int64_t id = static_cast<int64_t>((rng() >> 2) | 1);
    const int64_t ttl_s = std::max<int64_t>(1, (ttl_.count() + 999) / 1000);
    auto g = etcd.Call("/v3/lease/grant", {{"ID", std::to_string(id)}, {"TTL", std::to_string(ttl_s)}});
    if (!g.ok()) return fail(g.status());
    const std::string k = std::string(kPrefix) + std::to_string(id);
    const std::string ek = store_->EtcdKey(k);
    auto put = etcd.Call(
        "/v3/kv/put",
        {{"key", Base64Encode(ek)}, {"value", Base64Encode(address_)}, {"lease", std::to_string(id)}});
    if (put.ok() && !peer_digest_.empty())
      put = etcd.Call("/v3/kv/put",
                      {{"key", Base64Encode(store_->EtcdKey(std::string(kPeerPrefix) + std::to_string(id)))},
                       {"value", Base64Encode(address_ + " " + peer_digest_)},
                       {"lease", std::to_string(id)}});
    if (!put.ok()) {
      (void)etcd.Call("/v3/lease/revoke", {{"ID", std::to_string(id)}});
      return fail(put.status());
    }
    lease_ = id;
    renewed_ = std::chrono::steady_clock::now();
    spdlog::info("mesh election: candidate {} as {}", address_, k);
  }
  // The candidates, oldest first.
  auto listed = store_->TryRange(kPrefix);
  if (!listed.ok()) return fail(listed.status());
  std::vector<KeyValue> all = std::move(listed).value();
  std::sort(all.begin(), all.end(),
            [](const KeyValue& a, const KeyValue& b) { return a.create_revision < b.create_revision; });
  const std::string own = std::string(kPrefix) + std::to_string(lease_);
  bool found = false;
  for (const KeyValue& kv : all) {
    if (kv.key == own) {
      found = true;
      key = kv.key;
      revision = kv.mod_revision;
    }
    if (next.leader.empty())
      next.leader = kv.value;
    else
      next.standbys.push_back(kv.value);
  }
  if (!found) {
    // Our key vanished (the lease lapsed between renewal and now).
    (void)etcd.Call("/v3/lease/revoke", {{"ID", std::to_string(lease_)}});
    lease_ = 0;
    return fail(Status::Error(EAGAIN, "this candidate's election key is gone"));
  }
  next.leading = !all.empty() && all.front().key == own;
  next.key = key;
  next.revision = revision;
  publish(next);
}

}  // namespace nexus::mesh
