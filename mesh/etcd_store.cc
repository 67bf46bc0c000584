#include "mesh/etcd_store.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <set>
#include <unordered_map>

#include "base/format.h"

namespace nexus::mesh {
namespace {

using nlohmann::json;

constexpr const char* kLayoutVersion = "1";

std::string B64(std::string_view s) { return Base64Encode(s); }

// etcd's range_end for "every key starting with prefix".
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // the whole keyspace
}

int64_t Int(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end()) return 0;
  if (it->is_string()) return std::stoll(it->get<std::string>());
  if (it->is_number()) return it->get<int64_t>();
  return 0;
}

int64_t HeaderRevision(const json& j) {
  auto h = j.find("header");
  return h == j.end() ? 0 : Int(*h, "revision");
}

struct LeaseRecord {
  int64_t ttl_ms = 0;
  int64_t deadline_ms = 0;
};

std::string EncodeLease(const LeaseRecord& l) {
  return "v1 " + std::to_string(l.ttl_ms) + " " + std::to_string(l.deadline_ms);
}

bool DecodeLease(std::string_view s, LeaseRecord* out) {
  long long ttl = 0, deadline = 0;
  if (std::sscanf(std::string(s).c_str(), "v1 %lld %lld", &ttl, &deadline) != 2) return false;
  *out = {ttl, deadline};
  return true;
}

int64_t EtcdTtlSeconds(Duration ttl) { return (ttl.count() * EtcdStore::kBackstopFactor + 999) / 1000; }

json Compare(const std::string& etcd_key, int64_t expected) {
  if (expected == kAbsent)
    return {{"key", B64(etcd_key)}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}};
  return {{"key", B64(etcd_key)},
          {"target", "MOD"},
          {"result", "EQUAL"},
          {"mod_revision", std::to_string(expected)}};
}

json LeaseExists(const std::string& record_key) {
  return {{"key", B64(record_key)}, {"target", "CREATE"}, {"result", "GREATER"}, {"create_revision", "0"}};
}

json RangeOne(const std::string& etcd_key) { return {{"request_range", {{"key", B64(etcd_key)}}}}; }

}  // namespace

EtcdStore::EtcdStore(const Clock* clock, Options options)
    : clock_(clock),
      prefix_(std::move(options.prefix)),
      max_txn_ops_(options.max_txn_ops),
      client_(std::move(options.etcd)) {}

EtcdStore::~EtcdStore() {
  stop_ = true;
  if (watch_thread_.joinable()) watch_thread_.join();
}

Result<std::unique_ptr<EtcdStore>> EtcdStore::Open(const Clock* clock, Options options) {
  if (options.etcd.endpoints.empty()) return Status::Error(EINVAL, "no etcd endpoint");
  if (options.prefix.empty() || options.prefix.back() != '/')
    return Status::Error(EINVAL, "the etcd key prefix must end with '/'");
  std::unique_ptr<EtcdStore> store(new EtcdStore(clock, std::move(options)));
  const std::string schema = store->prefix_ + "schema";
  // Creates the layout version key unless it exists, and reads it.
  json txn = {
      {"compare", json::array({Compare(schema, kAbsent)})},
      {"success", json::array({{{"request_put", {{"key", B64(schema)}, {"value", B64(kLayoutVersion)}}}}})},
      {"failure", json::array({RangeOne(schema)})}};
  auto r = store->client_.Call("/v3/kv/txn", txn);
  if (!r.ok()) return Status::Error(r.code(), "etcd store: " + r.status().message());
  if (!r->value("succeeded", false)) {
    const json kvs = (*r)["responses"][0].value("response_range", json::object()).value("kvs", json::array());
    std::string version = kvs.empty() ? "" : Base64Decode(kvs[0].value("value", ""));
    if (version != kLayoutVersion)
      return Status::Error(EINVAL, "etcd store at " + store->prefix_ + " has layout version '" + version +
                                       "', this build reads version " + kLayoutVersion);
  }
  {
    MutexLock lk(store->mu_);
    store->last_revision_ = HeaderRevision(*r);
  }
  return store;
}

Result<int64_t> EtcdStore::Revoke(LeaseId id) const { return RevokeAll({id}); }

Result<int64_t> EtcdStore::RevokeAll(const std::vector<LeaseId>& ids) const {
  std::vector<std::pair<std::string, json>> calls;
  for (LeaseId id : ids) calls.emplace_back("/v3/lease/revoke", json{{"ID", std::to_string(id)}});
  int64_t last = 0;
  Status first = Status::Ok();
  for (auto& r : client_.CallAll(calls)) {
    if (r.code() == ENOENT) continue;
    if (!r.ok()) {
      if (first.ok()) first = r.status();
      continue;
    }
    last = std::max(last, HeaderRevision(*r));
  }
  if (!first.ok()) return first;
  return last;
}

Result<int64_t> EtcdStore::Commit(std::vector<Op> ops) {
  // What the embedded stores check before anything changes.
  std::set<std::string_view> keys;
  std::unordered_map<LeaseId, bool> touched;  // granted (true) / revoked (false) earlier in ops
  for (const Op& op : ops) {
    switch (op.kind) {
      case Op::Kind::kPut:
      case Op::Kind::kDelete:
      case Op::Kind::kCheck:
        if (op.key.empty()) return Status::Error(EINVAL, "empty key");
        if (!keys.insert(op.key).second)
          return Status::Error(EINVAL, "key '" + op.key + "' appears twice in one transaction");
        if (op.kind == Op::Kind::kPut && op.lease != 0 && touched.count(op.lease) && !touched[op.lease])
          return Status::Error(ENOENT, "lease " + std::to_string(op.lease) + " does not exist");
        break;
      case Op::Kind::kGrantLease:
        if (op.lease == 0 || op.ttl.count() <= 0)
          return Status::Error(EINVAL, "a lease needs a non-zero id and a positive ttl");
        if (touched.count(op.lease) && touched[op.lease])
          return Status::Error(EEXIST, "lease " + std::to_string(op.lease) + " exists");
        touched[op.lease] = true;
        break;
      case Op::Kind::kKeepAlive:
        if (op.ttl.count() <= 0) return Status::Error(EINVAL, "ttl must be positive");
        if (touched.count(op.lease) && !touched[op.lease])
          return Status::Error(ENOENT, "lease " + std::to_string(op.lease) + " does not exist");
        break;
      case Op::Kind::kRevokeLease:
        touched[op.lease] = false;
        break;
    }
  }

  const int64_t now_ms = ToMillis(MeshNow(*clock_));
  std::vector<LeaseId> granted;
  auto undo_grants = [&] {
    for (LeaseId id : granted) (void)Revoke(id);
  };
  // Conditions, in order, with what their failure means.
  struct Condition {
    std::string etcd_key;
    int64_t expected;  // kAbsent, a mod revision, or kAnyRevision: "lease exists"
    std::string what;  // store key, or lease id
  };
  std::vector<Condition> conditions;
  std::set<LeaseId> checked_leases;
  json compare = json::array(), success = json::array(), failure = json::array();
  std::vector<LeaseId> keepalives, revokes;
  bool changes_keys = false;

  // The lease grants first, all at once: each is its own etcd call, and
  // none depends on another.
  {
    std::vector<std::pair<std::string, json>> grants;
    std::vector<LeaseId> ids;
    for (const Op& op : ops)
      if (op.kind == Op::Kind::kGrantLease) {
        grants.emplace_back("/v3/lease/grant", json{{"ID", std::to_string(op.lease)},
                                                    {"TTL", std::to_string(EtcdTtlSeconds(op.ttl))}});
        ids.push_back(op.lease);
      }
    auto answers = client_.CallAll(grants);
    Status first = Status::Ok();
    for (size_t i = 0; i < answers.size(); ++i) {
      if (answers[i].ok()) {
        granted.push_back(ids[i]);
      } else if (first.ok()) {
        first = answers[i].code() == EEXIST
                    ? Status::Error(EEXIST, "lease " + std::to_string(ids[i]) + " exists")
                    : answers[i].status();
      }
    }
    if (!first.ok()) {
      undo_grants();
      return first;
    }
  }
  auto require_lease = [&](LeaseId id) {
    if (touched.count(id) || !checked_leases.insert(id).second) return;
    const std::string rec = prefix_ + "l/" + std::to_string(id);
    conditions.push_back({rec, kAnyRevision, std::to_string(id)});
    compare.push_back(LeaseExists(rec));
    failure.push_back(RangeOne(rec));
  };
  for (const Op& op : ops) {
    const std::string key = EtcdKey(op.key);
    switch (op.kind) {
      case Op::Kind::kPut:
      case Op::Kind::kDelete:
      case Op::Kind::kCheck:
        if (op.expected_revision != kAnyRevision) {
          conditions.push_back({key, op.expected_revision, op.key});
          compare.push_back(Compare(key, op.expected_revision));
          failure.push_back(RangeOne(key));
        }
        if (op.kind == Op::Kind::kPut) {
          json put = {{"key", B64(key)}, {"value", B64(op.value)}};
          if (op.lease != 0) {
            require_lease(op.lease);
            put["lease"] = std::to_string(op.lease);
          }
          success.push_back({{"request_put", put}});
          changes_keys = true;
        } else if (op.kind == Op::Kind::kDelete) {
          success.push_back({{"request_delete_range", {{"key", B64(key)}}}});
        }
        break;
      case Op::Kind::kGrantLease:
      case Op::Kind::kKeepAlive: {
        if (op.kind == Op::Kind::kKeepAlive) {
          require_lease(op.lease);
          keepalives.push_back(op.lease);
        }
        const std::string rec = prefix_ + "l/" + std::to_string(op.lease);
        success.push_back({{"request_put",
                            {{"key", B64(rec)},
                             {"value", B64(EncodeLease({op.ttl.count(), now_ms + op.ttl.count()}))},
                             {"lease", std::to_string(op.lease)}}}});
        changes_keys = true;
        break;
      }
      case Op::Kind::kRevokeLease:
        revokes.push_back(op.lease);
        break;
    }
  }

  int64_t revision = 0;
  if (!success.empty() || !compare.empty()) {
    auto r = client_.Call("/v3/kv/txn", {{"compare", compare}, {"success", success}, {"failure", failure}});
    if (!r.ok()) {
      undo_grants();
      // A put on a lease etcd no longer has: it expired between our check and now.
      if (r.code() == ENOENT) return Status::Error(ENOENT, "a lease of the transaction does not exist");
      return r.status();
    }
    if (!r->value("succeeded", false) && !compare.empty()) {
      undo_grants();
      const json& responses = (*r)["responses"];
      for (size_t i = 0; i < conditions.size() && i < responses.size(); ++i) {
        const json kvs = responses[i].value("response_range", json::object()).value("kvs", json::array());
        const Condition& c = conditions[i];
        if (c.expected == kAnyRevision) {
          if (kvs.empty()) return Status::Error(ENOENT, "lease " + c.what + " does not exist");
          continue;
        }
        int64_t actual = kvs.empty() ? kAbsent : Int(kvs[0], "mod_revision");
        if (actual != c.expected)
          return Status::Error(ESTALE, "revision mismatch on '" + c.what + "': expected " +
                                           std::to_string(c.expected) + ", is " + std::to_string(actual));
      }
      return Status::Error(ESTALE, "a condition of the transaction failed");
    }
    revision = HeaderRevision(*r);
    for (const json& resp : (*r)["responses"])
      if (resp.contains("response_delete_range") && Int(resp["response_delete_range"], "deleted") > 0)
        changes_keys = true;
  }
  // Renews etcd's backstops (the records written above hold the
  // deadlines), all at once.
  {
    std::vector<std::pair<std::string, json>> calls;
    for (LeaseId id : keepalives) calls.emplace_back("/v3/lease/keepalive", json{{"ID", std::to_string(id)}});
    auto answers = client_.CallAll(calls);
    for (size_t i = 0; i < answers.size(); ++i)
      if (!answers[i].ok())
        spdlog::warn("etcd store: keep-alive of lease {}: {}", keepalives[i], answers[i].status().ToString());
  }
  // The keys the transaction wrote carry its revision, which is what the
  // caller gets; revocations after it only delete, all at once.
  int64_t last = revision;
  NEXUS_ASSIGN_OR_RETURN(int64_t revoked, RevokeAll(revokes));
  if (revoked > 0) {
    last = std::max(last, revoked);
    changes_keys = true;
  }
  if (revision == 0) revision = last > 0 ? last : Revision();
  {
    MutexLock lk(mu_);
    last_revision_ = std::max(last_revision_, std::max(revision, last));
  }
  if (changes_keys) AwaitDelivery(std::max(revision, last));
  return revision;
}

Result<std::vector<KeyValue>> EtcdStore::Read(const std::string& key, bool prefix) const {
  json req = {{"key", B64(key)}};
  if (prefix) req["range_end"] = B64(PrefixEnd(key));
  auto r = client_.Call("/v3/kv/range", req);
  if (!r.ok()) return r.status();
  {
    MutexLock lk(mu_);
    last_revision_ = std::max(last_revision_, HeaderRevision(*r));
  }
  std::vector<KeyValue> out;
  const size_t strip = prefix_.size() + 2;
  if (auto kvs = r->find("kvs"); kvs != r->end()) {
    out.reserve(kvs->size());
    for (const json& kv : *kvs) {
      KeyValue v;
      v.key = Base64Decode(kv.value("key", "")).substr(strip);
      v.value = Base64Decode(kv.value("value", ""));
      v.create_revision = Int(kv, "create_revision");
      v.mod_revision = Int(kv, "mod_revision");
      v.lease = Int(kv, "lease");
      out.push_back(std::move(v));
    }
  }
  return out;
}

Result<std::vector<KeyValue>> EtcdStore::TryRange(std::string_view prefix) const {
  return Read(EtcdKey(prefix), true);
}

Result<KeyValue> EtcdStore::Get(std::string_view key) const {
  auto r = Read(EtcdKey(key), false);
  if (!r.ok()) return r.status();
  if (r->empty()) return Status::Error(ENOENT, "no key '" + std::string(key) + "'");
  return std::move(r->front());
}

std::vector<KeyValue> EtcdStore::Range(std::string_view prefix) const {
  auto r = TryRange(prefix);
  if (!r.ok()) {
    spdlog::warn("etcd store: range {}: {}", prefix, r.status().ToString());
    return {};
  }
  return std::move(r).value();
}

Result<TimePoint> EtcdStore::LeaseDeadline(LeaseId id) const {
  const std::string rec = prefix_ + "l/" + std::to_string(id);
  auto r = client_.Call("/v3/kv/range", {{"key", B64(rec)}});
  if (!r.ok()) return r.status();
  auto kvs = r->find("kvs");
  LeaseRecord l;
  if (kvs == r->end() || kvs->empty())
    return Status::Error(ENOENT, "lease " + std::to_string(id) + " does not exist");
  if (!DecodeLease(Base64Decode((*kvs)[0].value("value", "")), &l))
    return Status::Error(EIO, "lease record " + std::to_string(id) + " cannot be read");
  return FromMillis(l.deadline_ms);
}

int64_t EtcdStore::Revision() const {
  const std::string schema = prefix_ + "schema";
  auto r = client_.Call("/v3/kv/range", {{"key", B64(schema)}, {"count_only", true}});
  MutexLock lk(mu_);
  if (r.ok()) last_revision_ = std::max(last_revision_, HeaderRevision(*r));
  return last_revision_;
}

size_t EtcdStore::ExpireLeases(TimePoint now) {
  const std::string from = prefix_ + "l/";
  auto r = client_.Call("/v3/kv/range", {{"key", B64(from)}, {"range_end", B64(PrefixEnd(from))}});
  if (!r.ok()) {
    spdlog::warn("etcd store: reading leases: {}", r.status().ToString());
    return 0;
  }
  std::vector<std::pair<std::string, json>> revokes;
  if (auto kvs = r->find("kvs"); kvs != r->end())
    for (const json& kv : *kvs) {
      LeaseRecord l;
      if (!DecodeLease(Base64Decode(kv.value("value", "")), &l) || FromMillis(l.deadline_ms) > now) continue;
      revokes.emplace_back("/v3/lease/revoke", json{{"ID", std::to_string(Int(kv, "lease"))}});
    }
  size_t expired = 0;
  int64_t revision = 0;
  for (const auto& rv : client_.CallAll(revokes))
    if (rv.ok() && HeaderRevision(*rv) > 0) {
      ++expired;
      revision = std::max(revision, HeaderRevision(*rv));
    }
  if (revision > 0) AwaitDelivery(revision);
  return expired;
}

WatchId EtcdStore::Watch(std::string prefix, WatchCallback callback) {
  EnsureWatching();
  MutexLock lk(mu_);
  WatchId id = next_watch_++;
  watchers_.emplace(id, std::make_shared<const Watcher>(Watcher{std::move(prefix), std::move(callback)}));
  return id;
}

void EtcdStore::Unwatch(WatchId id) {
  {
    MutexLock lk(mu_);
    watchers_.erase(id);
  }
  MutexLock dl(deliver_mu_);  // a running callback has returned
}

void EtcdStore::EnsureWatching() {
  MutexLock sl(start_mu_);
  {
    MutexLock lk(mu_);
    if (watching_) return;
  }
  // Everything after the latest revision; then wait until etcd has the
  // watch, so no commit made after Watch returns is missed.
  const int64_t start = Revision() + 1;
  MutexLock lk(mu_);
  watching_ = true;
  delivered_ = std::max(delivered_, start - 1);
  watch_thread_ = std::thread([this, start] { WatchLoop(start); });
  if (!lk.WaitFor(cv_, client_.options().timeout, [&]() REQUIRES(mu_) { return created_; }))
    spdlog::warn("etcd store: the watch is not established yet; it keeps trying");
}

void EtcdStore::AwaitDelivery(int64_t revision) {
  MutexLock lk(mu_);
  if (!watching_) return;
  lk.WaitFor(cv_, client_.options().timeout,
             [&]() REQUIRES(mu_) { return delivered_ >= revision || stop_.load(); });
}

void EtcdStore::WatchLoop(int64_t start_revision) {
  int64_t next = start_revision;
  const std::string user = prefix_ + "k/";
  while (!stop_.load()) {
    json create = {{"create_request",
                    {{"key", B64(prefix_)},
                     {"range_end", B64(PrefixEnd(prefix_))},
                     {"start_revision", std::to_string(next)},
                     {"prev_kv", true}}}};
    Status st = client_.Stream(
        "/v3/watch", create,
        [&](const json& msg) {
          const json& res = msg.contains("result") ? msg["result"] : msg;
          if (msg.contains("error")) return false;
          if (res.value("created", false)) {
            MutexLock lk(mu_);
            created_ = true;
            cv_.notify_all();
          }
          if (Int(res, "compact_revision") > 0) {
            spdlog::error(
                "etcd store: watch resumed past compaction at revision {}; events before it are lost",
                Int(res, "compact_revision"));
            next = Int(res, "compact_revision");
            return false;
          }
          int64_t upto = 0;
          std::vector<std::pair<std::shared_ptr<const Watcher>, WatchEvent>> delivery;
          std::map<WatchId, std::shared_ptr<const Watcher>> watchers;
          {
            MutexLock lk(mu_);
            watchers = watchers_;
          }
          if (auto events = res.find("events"); events != res.end())
            for (const json& ev : *events) {
              const json& kv = ev["kv"];
              upto = std::max(upto, Int(kv, "mod_revision"));
              std::string key = Base64Decode(kv.value("key", ""));
              if (!key.starts_with(user)) continue;
              WatchEvent out;
              out.revision = Int(kv, "mod_revision");
              const bool del = ev.value("type", "") == "DELETE";
              out.type = del ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
              const json& src = del && ev.contains("prev_kv") ? ev["prev_kv"] : kv;
              out.kv.key = key.substr(user.size());
              out.kv.value = Base64Decode(src.value("value", ""));
              out.kv.create_revision = Int(src, "create_revision");
              out.kv.mod_revision = Int(src, "mod_revision");
              out.kv.lease = Int(src, "lease");
              for (const auto& [id, w] : watchers)
                if (out.kv.key.starts_with(w->prefix)) delivery.emplace_back(w, out);
            }
          {
            MutexLock dl(deliver_mu_);
            for (const auto& [w, ev] : delivery) {
              bool live;
              {
                MutexLock lk(mu_);
                live = false;
                for (const auto& [id, cur] : watchers_) live = live || cur == w;
              }
              if (live) w->callback(ev);
            }
          }
          if (upto > 0) {
            next = upto + 1;
            MutexLock lk(mu_);
            delivered_ = std::max(delivered_, upto);
            cv_.notify_all();
          }
          return !stop_.load();
        },
        stop_);
    if (stop_.load()) break;
    if (!st.ok()) spdlog::warn("etcd store: watch: {}; resuming at revision {}", st.ToString(), next);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace nexus::mesh
