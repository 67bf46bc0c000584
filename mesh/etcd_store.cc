#include "mesh/etcd_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <set>
#include <unordered_map>

#include "base/format.h"

namespace nexus::mesh {
namespace {

using nlohmann::json;

constexpr const char* kLayoutVersion = "2";

// The value of a key put with a lease starts with the store lease's id
// (its etcd lease is a shared one): "\0L<id>\0".
constexpr std::string_view kLeaseTag("\0L", 2);

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

std::string TagLease(LeaseId lease, std::string_view value) {
  std::string out(kLeaseTag);
  out += std::to_string(lease);
  out += '\0';
  out += value;
  return out;
}

// An etcd key-value as the store's, `strip` bytes of its key dropped.
KeyValue DecodeKv(const json& kv, size_t strip) {
  KeyValue v;
  v.key = Base64Decode(kv.value("key", "")).substr(strip);
  v.value = Base64Decode(kv.value("value", ""));
  v.create_revision = Int(kv, "create_revision");
  v.mod_revision = Int(kv, "mod_revision");
  v.lease = Int(kv, "lease");
  // Keys on an etcd lease of their own (the election's) carry no tag.
  if (v.lease != 0 && v.value.starts_with(kLeaseTag)) {
    const size_t end = v.value.find('\0', kLeaseTag.size());
    LeaseId lease = 0;
    const char* digits = v.value.data() + kLeaseTag.size();
    if (end != std::string::npos &&
        std::from_chars(digits, v.value.data() + end, lease).ptr == v.value.data() + end) {
      v.lease = lease;
      v.value.erase(0, end + 1);
    }
  }
  return v;
}

// The lease id at the end of a record key ("P l/<id>"), 0 if it is not one.
LeaseId RecordId(std::string_view key, size_t prefix) {
  LeaseId id = 0;
  const char* end = key.data() + key.size();
  if (key.size() <= prefix || std::from_chars(key.data() + prefix, end, id).ptr != end) return 0;
  return id;
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

size_t EtcdStore::OpCost(const Op& op) const {
  switch (op.kind) {
    case Op::Kind::kPut:
      return op.lease != 0 ? 2 : 1;  // the key and its lease index entry
    case Op::Kind::kKeepAlive:
      return 2;  // the record, and a read of its etcd lease
    case Op::Kind::kRevokeLease:
      return 0;  // a transaction of its own, after
    default:
      return 1;
  }
}

Result<LeaseId> EtcdStore::BackingLease(Duration ttl) {
  const int64_t ttl_s = EtcdTtlSeconds(ttl);
  const auto now = std::chrono::steady_clock::now();
  MutexLock lk(backing_mu_);
  Backing& b = backing_[ttl_s];
  // In use while it has at least (kBackstopFactor - 1) TTLs left, so a
  // lease attached now outlives its own deadline by a TTL or more.
  if (b.id != 0 && now - b.renewed < std::chrono::milliseconds(ttl.count())) return b.id;
  auto r = client_.Call("/v3/lease/grant", json{{"ID", "0"}, {"TTL", std::to_string(ttl_s)}});
  if (!r.ok()) return r.status();
  const LeaseId id = Int(*r, "ID");
  if (id == 0) return Status::Error(EIO, "etcd granted a lease without an id");
  b = {id, now};
  return id;
}

void EtcdStore::ForgetBacking() {
  MutexLock lk(backing_mu_);
  backing_.clear();
  backing_of_.clear();
}

Result<int64_t> EtcdStore::RevokeAll(const std::vector<LeaseId>& ids, size_t* revoked) {
  std::vector<LeaseId> todo(ids.begin(), ids.end());
  std::sort(todo.begin(), todo.end());
  todo.erase(std::unique(todo.begin(), todo.end()), todo.end());
  int64_t last = 0;
  for (int attempt = 0; attempt < kRevokeAttempts && !todo.empty(); ++attempt) {
    // The keys each lease holds, from its index.
    std::vector<std::pair<std::string, json>> reads;
    for (LeaseId id : todo) {
      const std::string from = IndexPrefix(id);
      reads.emplace_back("/v3/kv/range", json{{"key", B64(from)}, {"range_end", B64(PrefixEnd(from))}});
    }
    auto answers = client_.CallAll(reads);
    struct Revocation {
      LeaseId id;
      int64_t read_revision;
      std::vector<std::pair<std::string, int64_t>> keys;  // etcd key, revision it was attached at
    };
    std::vector<Revocation> all;
    for (size_t i = 0; i < todo.size(); ++i) {
      if (!answers[i].ok()) return answers[i].status();
      Revocation rv{todo[i], HeaderRevision(*answers[i]), {}};
      const size_t strip = IndexPrefix(todo[i]).size();
      if (auto kvs = answers[i]->find("kvs"); kvs != answers[i]->end())
        for (const json& kv : *kvs)
          rv.keys.emplace_back(prefix_ + "k/" + Base64Decode(kv.value("key", "")).substr(strip),
                               Int(kv, "mod_revision"));
      all.push_back(std::move(rv));
    }
    std::vector<LeaseId> retry;
    // As many leases per transaction as fit; each lease whole in one.
    size_t i = 0;
    while (i < all.size()) {
      json compare = json::array(), success = json::array();
      std::vector<size_t> record_at;  // index in success of each lease's record deletion
      const size_t first = i;
      for (; i < all.size(); ++i) {
        const Revocation& rv = all[i];
        if (i > first && success.size() + 2 + rv.keys.size() > max_txn_ops_) break;
        // Nothing attached since the index was read (else read again).
        const std::string from = IndexPrefix(rv.id);
        compare.push_back({{"key", B64(from)},
                           {"range_end", B64(PrefixEnd(from))},
                           {"target", "MOD"},
                           {"result", "LESS"},
                           {"mod_revision", std::to_string(rv.read_revision + 1)}});
        record_at.push_back(success.size());
        success.push_back({{"request_delete_range", {{"key", B64(RecordKey(rv.id))}}}});
        success.push_back(
            {{"request_delete_range", {{"key", B64(from)}, {"range_end", B64(PrefixEnd(from))}}}});
        // A key still holds this lease if nothing wrote it since it was
        // attached (a later put with another lease, or none, detached it).
        for (const auto& [key, attached] : rv.keys)
          success.push_back(
              {{"request_txn",
                {{"compare", json::array({Compare(key, attached)})},
                 {"success", json::array({{{"request_delete_range", {{"key", B64(key)}}}}})}}}});
      }
      auto r = client_.Call("/v3/kv/txn", {{"compare", compare}, {"success", success}});
      if (!r.ok()) return r.status();
      if (!r->value("succeeded", false)) {
        for (size_t k = first; k < i; ++k) retry.push_back(all[k].id);
        continue;
      }
      last = std::max(last, HeaderRevision(*r));
      const json& responses = (*r)["responses"];
      for (size_t k = 0; k < record_at.size(); ++k) {
        const json& del = responses[record_at[k]].value("response_delete_range", json::object());
        if (Int(del, "deleted") > 0 && revoked != nullptr) ++*revoked;
      }
      MutexLock lk(backing_mu_);
      for (size_t k = first; k < i; ++k) backing_of_.erase(all[k].id);
    }
    todo = std::move(retry);
  }
  if (!todo.empty())
    return Status::Error(EAGAIN, "etcd store: revoking lease " + std::to_string(todo.front()) +
                                     " kept racing with writes attaching keys to it");
  return last;
}

Result<int64_t> EtcdStore::Commit(std::vector<Op> ops) {
  // What the embedded stores check before anything changes.
  std::set<std::string_view> keys;
  std::unordered_map<LeaseId, bool> touched;  // granted (true) / revoked (false) earlier in ops
  size_t cost = 0;
  for (const Op& op : ops) {
    cost += OpCost(op);
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
        if (touched.count(op.lease))
          return Status::Error(
              touched[op.lease] ? EEXIST : EINVAL,
              "lease " + std::to_string(op.lease) +
                  (touched[op.lease] ? " exists" : " is revoked and granted in one transaction"));
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
  if (cost > max_txn_ops_)
    return Status::Error(EINVAL, "a transaction of " + std::to_string(cost) +
                                     " etcd operations is over the cluster's limit of " +
                                     std::to_string(max_txn_ops_) + " (--max-txn-ops)");
  // An etcd lease that etcd no longer has (it expired) is granted or looked
  // up again, once.
  auto r = CommitOnce(ops, touched);
  if (r.code() == ENOENT && r.status().message().find("requested lease not found") != std::string::npos) {
    ForgetBacking();
    r = CommitOnce(ops, touched);
  }
  if (r.code() == ENOENT && r.status().message().find("requested lease not found") != std::string::npos)
    return Status::Error(ENOENT, "a lease of the transaction does not exist");
  return r;
}

Result<int64_t> EtcdStore::CommitOnce(const std::vector<Op>& ops,
                                      const std::unordered_map<LeaseId, bool>& touched) {
  const int64_t now_ms = ToMillis(MeshNow(*clock_));
  // The etcd lease behind each store lease the transaction attaches keys
  // to: a shared one for a grant, the record's for an existing lease.
  std::unordered_map<LeaseId, LeaseId> backing;
  std::vector<LeaseId> unknown;
  for (const Op& op : ops) {
    if (op.kind == Op::Kind::kGrantLease) {
      NEXUS_ASSIGN_OR_RETURN(backing[op.lease], BackingLease(op.ttl));
    } else if (op.kind == Op::Kind::kPut && op.lease != 0 && !backing.count(op.lease)) {
      MutexLock lk(backing_mu_);
      if (auto it = backing_of_.find(op.lease); it != backing_of_.end())
        backing[op.lease] = it->second;
      else if (std::find(unknown.begin(), unknown.end(), op.lease) == unknown.end())
        unknown.push_back(op.lease);
    }
  }
  if (!unknown.empty()) {
    std::vector<std::pair<std::string, json>> reads;
    for (LeaseId id : unknown) reads.emplace_back("/v3/kv/range", json{{"key", B64(RecordKey(id))}});
    auto answers = client_.CallAll(reads);
    for (size_t i = 0; i < unknown.size(); ++i) {
      if (!answers[i].ok()) return answers[i].status();
      auto kvs = answers[i]->find("kvs");
      if (kvs == answers[i]->end() || kvs->empty())
        return Status::Error(ENOENT, "lease " + std::to_string(unknown[i]) + " does not exist");
      backing[unknown[i]] = Int((*kvs)[0], "lease");
    }
  }

  // Conditions, in order, with what their failure means.
  enum class Fails { kRevision, kLeaseMustExist, kLeaseMustBeAbsent };
  struct Condition {
    Fails fails;
    int64_t expected;  // for kRevision: kAbsent or a mod revision
    std::string what;  // store key, or lease id
  };
  std::vector<Condition> conditions;
  std::set<LeaseId> checked_leases;
  json compare = json::array(), success = json::array(), failure = json::array();
  std::vector<std::pair<LeaseId, size_t>> keepalives;  // lease, index in success of the read of its record
  std::vector<LeaseId> revokes;
  bool changes_keys = false;

  auto require_lease = [&](LeaseId id) {
    if (touched.count(id) || !checked_leases.insert(id).second) return;
    const std::string rec = RecordKey(id);
    conditions.push_back({Fails::kLeaseMustExist, 0, std::to_string(id)});
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
          conditions.push_back({Fails::kRevision, op.expected_revision, op.key});
          compare.push_back(Compare(key, op.expected_revision));
          failure.push_back(RangeOne(key));
        }
        if (op.kind == Op::Kind::kPut) {
          json put = {{"key", B64(key)}, {"value", B64(op.value)}};
          if (op.lease != 0) {
            require_lease(op.lease);
            const std::string etcd_lease = std::to_string(backing.at(op.lease));
            put["value"] = B64(TagLease(op.lease, op.value));
            put["lease"] = etcd_lease;
            // The lease's index entry, written with the key (so both carry
            // the same revision: RevokeAll's test that it is still attached).
            success.push_back(
                {{"request_put", {{"key", B64(IndexPrefix(op.lease) + op.key)}, {"lease", etcd_lease}}}});
          }
          success.push_back({{"request_put", put}});
          changes_keys = true;
        } else if (op.kind == Op::Kind::kDelete) {
          success.push_back({{"request_delete_range", {{"key", B64(key)}}}});
        }
        break;
      case Op::Kind::kGrantLease:
      case Op::Kind::kKeepAlive: {
        const std::string rec = RecordKey(op.lease);
        json put = {{"key", B64(rec)},
                    {"value", B64(EncodeLease({op.ttl.count(), now_ms + op.ttl.count()}))}};
        if (op.kind == Op::Kind::kGrantLease) {
          conditions.push_back({Fails::kLeaseMustBeAbsent, 0, std::to_string(op.lease)});
          compare.push_back(Compare(rec, kAbsent));
          failure.push_back(RangeOne(rec));
          put["lease"] = std::to_string(backing.at(op.lease));
          success.push_back({{"request_put", put}});
        } else {
          require_lease(op.lease);
          put["ignore_lease"] = true;  // stays on its etcd lease
          success.push_back({{"request_put", put}});
          keepalives.emplace_back(op.lease, success.size());
          success.push_back(RangeOne(rec));
        }
        changes_keys = true;
        break;
      }
      case Op::Kind::kRevokeLease:
        revokes.push_back(op.lease);
        break;
    }
  }

  int64_t revision = 0;
  std::set<LeaseId> renew;  // etcd leases
  if (!success.empty() || !compare.empty()) {
    auto r = client_.Call("/v3/kv/txn", {{"compare", compare}, {"success", success}, {"failure", failure}});
    if (!r.ok()) return r.status();
    if (!r->value("succeeded", false) && !compare.empty()) {
      const json& responses = (*r)["responses"];
      for (size_t i = 0; i < conditions.size() && i < responses.size(); ++i) {
        const json kvs = responses[i].value("response_range", json::object()).value("kvs", json::array());
        const Condition& c = conditions[i];
        switch (c.fails) {
          case Fails::kLeaseMustExist:
            if (kvs.empty()) return Status::Error(ENOENT, "lease " + c.what + " does not exist");
            break;
          case Fails::kLeaseMustBeAbsent:
            if (!kvs.empty()) return Status::Error(EEXIST, "lease " + c.what + " exists");
            break;
          case Fails::kRevision: {
            int64_t actual = kvs.empty() ? kAbsent : Int(kvs[0], "mod_revision");
            if (actual != c.expected)
              return Status::Error(ESTALE, "revision mismatch on '" + c.what + "': expected " +
                                               std::to_string(c.expected) + ", is " + std::to_string(actual));
            break;
          }
        }
      }
      return Status::Error(ESTALE, "a condition of the transaction failed");
    }
    revision = HeaderRevision(*r);
    const json& responses = (*r)["responses"];
    for (const auto& [id, at] : keepalives) {
      const json kvs = responses[at].value("response_range", json::object()).value("kvs", json::array());
      if (!kvs.empty()) renew.insert(Int(kvs[0], "lease"));
    }
    for (const json& resp : responses)
      if (resp.contains("response_delete_range") && Int(resp["response_delete_range"], "deleted") > 0)
        changes_keys = true;
    MutexLock lk(backing_mu_);
    for (const Op& op : ops)
      if (op.kind == Op::Kind::kGrantLease) backing_of_[op.lease] = backing.at(op.lease);
  }
  // Renews etcd's backstops of the leases kept alive (the records written
  // above hold the deadlines), all at once.
  if (!renew.empty()) {
    std::vector<std::pair<std::string, json>> calls;
    for (LeaseId id : renew) calls.emplace_back("/v3/lease/keepalive", json{{"ID", std::to_string(id)}});
    const auto now = std::chrono::steady_clock::now();
    auto answers = client_.CallAll(calls);
    size_t i = 0;
    for (LeaseId id : renew) {
      if (!answers[i].ok()) {
        spdlog::warn("etcd store: keep-alive of etcd lease {}: {}", id, answers[i].status().ToString());
      } else {
        MutexLock lk(backing_mu_);
        for (auto& [ttl_s, b] : backing_)
          if (b.id == id) b.renewed = now;
      }
      ++i;
    }
  }
  // The keys the transaction wrote carry its revision, which is what the
  // caller gets; revocations after it only delete.
  int64_t last = revision;
  if (!revokes.empty()) {
    size_t revoked = 0;
    NEXUS_ASSIGN_OR_RETURN(int64_t at, RevokeAll(revokes, &revoked));
    if (revoked > 0) {
      last = std::max(last, at);
      changes_keys = true;
    }
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
    for (const json& kv : *kvs) out.push_back(DecodeKv(kv, strip));
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
  auto r = client_.Call("/v3/kv/range", {{"key", B64(RecordKey(id))}});
  if (!r.ok()) return r.status();
  auto kvs = r->find("kvs");
  LeaseRecord l;
  if (kvs == r->end() || kvs->empty())
    return Status::Error(ENOENT, "lease " + std::to_string(id) + " does not exist");
  if (!DecodeLease(Base64Decode((*kvs)[0].value("value", "")), &l))
    return Status::Error(EIO, "lease record " + std::to_string(id) + " cannot be read");
  return FromMillis(l.deadline_ms);
}

Result<std::map<LeaseId, TimePoint>> EtcdStore::LeaseDeadlines(const std::vector<LeaseId>& ids) const {
  const std::set<LeaseId> wanted(ids.begin(), ids.end());
  std::map<LeaseId, TimePoint> out;
  if (wanted.empty()) return out;
  const std::string from = prefix_ + "l/";
  auto r = client_.Call("/v3/kv/range", {{"key", B64(from)}, {"range_end", B64(PrefixEnd(from))}});
  if (!r.ok()) return r.status();
  if (auto kvs = r->find("kvs"); kvs != r->end())
    for (const json& kv : *kvs) {
      const LeaseId id = RecordId(Base64Decode(kv.value("key", "")), from.size());
      if (!wanted.count(id)) continue;
      LeaseRecord l;
      if (!DecodeLease(Base64Decode(kv.value("value", "")), &l))
        return Status::Error(EIO, "lease record " + std::to_string(id) + " cannot be read");
      out[id] = FromMillis(l.deadline_ms);
    }
  return out;
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
  std::vector<LeaseId> expired;
  if (auto kvs = r->find("kvs"); kvs != r->end())
    for (const json& kv : *kvs) {
      LeaseRecord l;
      if (!DecodeLease(Base64Decode(kv.value("value", "")), &l) || FromMillis(l.deadline_ms) > now) continue;
      if (LeaseId id = RecordId(Base64Decode(kv.value("key", "")), from.size()); id != 0)
        expired.push_back(id);
    }
  if (expired.empty()) return 0;
  size_t revoked = 0;
  auto revision = RevokeAll(expired, &revoked);
  if (!revision.ok()) {
    spdlog::warn("etcd store: expiring leases: {}", revision.status().ToString());
    return revoked;
  }
  if (*revision > 0) AwaitDelivery(*revision);
  return revoked;
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
              out.kv = DecodeKv(del && ev.contains("prev_kv") ? ev["prev_kv"] : kv, user.size());
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
