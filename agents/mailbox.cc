#include "agents/mailbox.h"

#include <spdlog/spdlog.h>

#include <cinttypes>
#include <cstdio>
#include <set>
#include <utility>

#include "base/layout.h"
#include "base/sqlite_db.h"

namespace nexus {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  recipient TEXT NOT NULL,
  sender TEXT NOT NULL,
  name BLOB NOT NULL,
  time_ns INTEGER NOT NULL,
  ttl_s INTEGER NOT NULL,
  expires_ns INTEGER NOT NULL,
  state INTEGER NOT NULL,
  client_id TEXT NOT NULL DEFAULT '');
CREATE UNIQUE INDEX IF NOT EXISTS messages_client ON messages(sender, client_id) WHERE client_id != '';
CREATE INDEX IF NOT EXISTS messages_box ON messages(recipient, state, seq);
CREATE INDEX IF NOT EXISTS messages_expiry ON messages(state, expires_ns);
)sql";

constexpr const char* kColumns =
    "SELECT seq, id, recipient, sender, name, time_ns, ttl_s, expires_ns, state, client_id FROM messages ";

Message RowOf(const Statement& s) {
  Message m;
  m.seq = static_cast<uint64_t>(s.Int(0));
  m.id = s.Text(1);
  m.to = s.Text(2);
  m.from = s.Text(3);
  m.name = s.Blob(4);
  m.time = s.Int(5);
  m.ttl_s = s.Int(6);
  m.expires_at = s.Int(7);
  m.state = static_cast<MessageState>(s.Int(8));
  m.client_id = s.Text(9);
  return m;
}

std::string_view FolderOf(MessageState state) {
  switch (state) {
    case MessageState::kInbox:
      return layout::kInboxName;
    case MessageState::kProcessed:
      return layout::kProcessedName;
    case MessageState::kDead:
      return layout::kDeadLetterName;
  }
  return layout::kInboxName;
}

std::string FolderPath(const std::string& to, MessageState state) {
  return layout::AgentHome(to) + "/" + std::string(FolderOf(state));
}

Principal DaemonPrincipal(const std::string& admin_subject) {
  Principal p;
  p.subject = admin_subject;
  p.account = admin_subject;
  p.name = "nexusd";
  p.how = AuthMethod::kDaemon;
  p.admin = true;
  return p;
}

std::string SubjectOf(const Caller& c) { return c.principal ? c.principal->subject : UidSubject(c.uid); }

UnixNanos ExpiryOf(UnixNanos time, int64_t ttl_s) {
  if (ttl_s <= 0) return kNever;
  if (ttl_s > (kNever - time) / kNanosPerSecond) return kNever;
  return time + ttl_s * kNanosPerSecond;
}

// A mailbox folder the actor may not see is "not found", saying which.
Status Unseen(const Status& st, const Caller& actor, const std::string& folder) {
  if (st.code() != ENOENT) return st;
  return Status::Error(ENOENT, folder + " not found (" + SubjectOf(actor) + " may not see it)");
}

}  // namespace

// Where a namespace path sits in the mailboxes: /agents/<to>/<folder>/<name>.
struct Mailbox::Located {
  std::string to;
  MessageState state = MessageState::kInbox;
  std::string name;

  static std::optional<Located> Of(std::string_view path) {
    std::string_view to = layout::AgentOf(path);
    if (to.empty()) return std::nullopt;
    std::string_view rest = path.substr(layout::kAgentsDir.size() + 1 + to.size());
    if (rest.size() < 2 || rest[0] != '/') return std::nullopt;
    rest.remove_prefix(1);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    std::string_view folder = rest.substr(0, slash), name = rest.substr(slash + 1);
    if (name.empty() || name.find('/') != std::string_view::npos) return std::nullopt;
    Located l;
    if (folder == layout::kInboxName)
      l.state = MessageState::kInbox;
    else if (folder == layout::kProcessedName)
      l.state = MessageState::kProcessed;
    else if (folder == layout::kDeadLetterName)
      l.state = MessageState::kDead;
    else
      return std::nullopt;
    l.to = std::string(to);
    l.name = std::string(name);
    return l;
  }
};

// What the bus subscription shares with the mailbox: detached (null) when
// the mailbox goes, since subscribers are never removed from a bus.
struct Mailbox::Feed {
  Mutex mu;
  Mailbox* mailbox GUARDED_BY(mu) = nullptr;
};

std::string_view ToString(MessageState state) {
  switch (state) {
    case MessageState::kInbox:
      return "inbox";
    case MessageState::kProcessed:
      return "processed";
    case MessageState::kDead:
      return "dead";
  }
  return "inbox";
}

std::string Message::Path() const { return FolderPath(to, state) + "/" + name; }

Mailbox::Mailbox(std::unique_ptr<SqliteDb> db, PathFiles* files, AgentRegistry* registry,
                 PrincipalTable* principals, Options options)
    : options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : DefaultClock()),
      files_(files),
      registry_(registry),
      principals_(principals),
      daemon_(DaemonPrincipal(options_.admin_subject)),
      daemon_caller_{.uid = 0, .gid = 0, .pid = 0, .umask = 0, .principal = &daemon_},
      db_(std::move(db)),
      feed_(std::make_shared<Feed>()) {}

Result<std::unique_ptr<Mailbox>> Mailbox::Open(const std::string& path, PathFiles* files,
                                               AgentRegistry* registry, PrincipalTable* principals,
                                               Options options) {
  if (options.default_ttl.count() < 0) return Status::Error(EINVAL, "the default TTL cannot be negative");
  SqliteOptions so;
  so.what = "mailbox index";
  // As durable as the files it indexes (the native tree commits within a
  // few ms and syncs on fsync): a crash can lose the last moments of both,
  // and Repair reconciles the two at the next start.
  so.synchronous = SqliteOptions::Sync::kNormal;
  so.schema = kSchema;
  NEXUS_ASSIGN_OR_RETURN(auto db, SqliteDb::Open(path, so));
  ::chmod(path.c_str(), 0600);
  std::unique_ptr<Mailbox> m(new Mailbox(std::move(db), files, registry, principals, std::move(options)));
  {
    MutexLock lk(m->mu_);
    Statement s = m->db_->Prepare("SELECT COALESCE(MAX(time_ns), 0) FROM messages");
    NEXUS_ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) m->last_id_time_ = s.Int(0);
  }
  NEXUS_RETURN_IF_ERROR(m->Repair());
  {
    MutexLock lk(m->feed_->mu);
    m->feed_->mailbox = m.get();
  }
  if (m->options_.sweep_interval.count() > 0) m->sweeper_ = std::thread([p = m.get()] { p->SweepLoop(); });
  return m;
}

Mailbox::~Mailbox() {
  {
    MutexLock lk(feed_->mu);
    feed_->mailbox = nullptr;
  }
  {
    MutexLock lk(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

// ---------------------------------------------------------------- index

std::string Mailbox::NewIdLocked(UnixNanos* time) {
  UnixNanos t = std::max(clock_.Now(), last_id_time_ + 1);
  last_id_time_ = t;
  *time = t;
  char buf[32];
  std::snprintf(buf, sizeof buf, "msg-%016" PRIx64, static_cast<uint64_t>(t));
  return buf;
}

Status Mailbox::InsertLocked(Message& m) {
  Statement s = db_->Prepare(
      "INSERT INTO messages(id, recipient, sender, name, time_ns, ttl_s, expires_ns, state, client_id) "
      "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.Bind(m.id).Bind(m.to).Bind(m.from).BindBlob(m.name).Bind(m.time).Bind(m.ttl_s).Bind(m.expires_at);
  s.Bind(static_cast<int>(m.state)).Bind(m.client_id);
  NEXUS_RETURN_IF_ERROR(s.Run("insert message"));
  m.seq = static_cast<uint64_t>(db_->LastInsertId());
  return Status::Ok();
}

std::optional<Message> Mailbox::FindLocked(const std::string& to, MessageState state, std::string_view key,
                                           bool by_id) {
  static const std::string by_id_sql = std::string(kColumns) + "WHERE recipient = ? AND state = ? AND id = ?";
  static const std::string by_name_sql =
      std::string(kColumns) + "WHERE recipient = ? AND state = ? AND name = ? ORDER BY seq LIMIT 1";
  Statement s = db_->Prepare(by_id ? by_id_sql.c_str() : by_name_sql.c_str());
  s.Bind(to).Bind(static_cast<int>(state));
  if (by_id)
    s.Bind(key);
  else
    s.BindBlob(key);
  if (!s.Next()) return std::nullopt;
  return RowOf(s);
}

std::vector<Message> Mailbox::SelectLocked(const std::string& to, MessageState state) {
  static const std::string sql = std::string(kColumns) + "WHERE recipient = ? AND state = ? ORDER BY seq";
  Statement s = db_->Prepare(sql.c_str());
  s.Bind(to).Bind(static_cast<int>(state));
  std::vector<Message> out;
  while (s.Next()) out.push_back(RowOf(s));
  return out;
}

Status Mailbox::UpdateLocked(const std::string& id, MessageState state, const std::string& name) {
  Statement s = db_->Prepare("UPDATE messages SET state = ?, name = ? WHERE id = ?");
  s.Bind(static_cast<int>(state)).BindBlob(name).Bind(id);
  return s.Run("update message");
}

Status Mailbox::DeleteLocked(const std::string& id) {
  Statement s = db_->Prepare("DELETE FROM messages WHERE id = ?");
  s.Bind(id);
  return s.Run("delete message");
}

// ---------------------------------------------------------------- checks

Result<std::string> Mailbox::Recipient(std::string_view text) const {
  auto id = ParseAgentId(text);
  if (!id.ok()) return id.status();
  auto record = registry_->Get(*id);
  if (!record.ok()) {
    if (record.code() == ENOENT) return Status::Error(ENOENT, "agent '" + std::string(*id) + "' not found");
    return record.status();
  }
  return record->id;
}

Result<Caller> Mailbox::Sender(const Caller& actor, const std::string& from, std::string* subject) const {
  const std::string self = SubjectOf(actor);
  if (from.empty() || from == self) {
    *subject = self;
    return actor;
  }
  auto id = ParseAgentId(from);
  if (!id.ok())
    return Status::Error(EACCES,
                         self + " may not send as " + from + ": only as itself or an agent it may act as");
  const std::string agent = AgentSubject(*id);
  if (agent == self) {
    *subject = self;
    return actor;
  }
  if (!actor.principal || !principals_)
    return Status::Error(EACCES, self + " may not send as " + agent + ": it has no principal to act from");
  NEXUS_RETURN_IF_ERROR(registry_->CheckActAs(RegistryCaller{self, actor.principal->admin}, *id).status());
  Caller c = actor;
  c.principal = principals_->ForActingAs(*actor.principal, agent);
  *subject = agent;
  return c;
}

// ---------------------------------------------------------------- calls

Result<Message> Mailbox::Send(const Caller& actor, const SendRequest& request) {
  NEXUS_ASSIGN_OR_RETURN(std::string to, Recipient(request.to));
  std::string from;
  NEXUS_ASSIGN_OR_RETURN(Caller sender, Sender(actor, request.from, &from));
  if (request.body.size() > kMaxBodyBytes)
    return Status::Error(EFBIG, "a message body is at most " + std::to_string(kMaxBodyBytes) + " bytes");
  if (request.client_id.size() > kMaxClientIdBytes)
    return Status::Error(EINVAL, "a message id is at most " + std::to_string(kMaxClientIdBytes) + " bytes");
  const int64_t ttl = request.ttl_s ? *request.ttl_s : options_.default_ttl.count();
  if (ttl < 0) return Status::Error(EINVAL, "a TTL cannot be negative");

  // The row goes in first (it takes the sequence number and the client id),
  // so the bus sees the file as already indexed; it goes again if the write
  // is refused.
  Message m;
  m.to = to;
  m.from = from;
  m.ttl_s = ttl;
  m.client_id = request.client_id;
  m.state = MessageState::kInbox;
  {
    MutexLock lk(mu_);
    if (!m.client_id.empty()) {
      static const std::string sql = std::string(kColumns) + "WHERE sender = ? AND client_id = ?";
      Statement s = db_->Prepare(sql.c_str());
      s.Bind(from).Bind(m.client_id);
      if (s.Next()) {
        Message existing = RowOf(s);
        existing.body = request.body;
        return existing;
      }
      NEXUS_RETURN_IF_ERROR(s.status());
    }
    m.id = NewIdLocked(&m.time);
    m.name = m.id;
    m.expires_at = ExpiryOf(m.time, ttl);
    NEXUS_RETURN_IF_ERROR(InsertLocked(m));
  }
  WriteOptions wo;
  wo.mode = 0644;
  auto written = files_->Write(sender, m.Path(), request.body, wo);
  if (!written.ok()) {
    Status st = written.status();
    if (st.code() == ENOENT || st.code() == EACCES || st.code() == EPERM) {
      // The folder exists (the agent is registered): whoever may not even
      // see it is refused like whoever sees it without write.
      st = Status::Error(EACCES, from + " may not send to agent:" + to + " (it needs write on " +
                                     FolderPath(to, MessageState::kInbox) + ")");
    } else {
      (void)files_->Unlink(daemon_caller_, m.Path());
    }
    MutexLock lk(mu_);
    if (Status dropped = DeleteLocked(m.id); !dropped.ok())
      spdlog::error("mailbox: dropping {} after a failed send: {}", m.id, dropped.ToString());
    return st;
  }
  m.body = request.body;
  Notify(m.to);
  return m;
}

Result<std::vector<Message>> Mailbox::Listed(const Caller& actor, const std::string& to, MessageState state) {
  const std::string folder = FolderPath(to, state);
  auto entries = files_->List(actor, folder, false);
  if (!entries.ok()) return Unseen(entries.status(), actor, folder);
  std::set<std::string> present;
  for (const PathStat& e : *entries) present.insert(e.path.substr(e.path.rfind('/') + 1));
  std::vector<Message> rows;
  {
    MutexLock lk(mu_);
    rows = SelectLocked(to, state);
  }
  const UnixNanos now = clock_.Now();
  std::vector<Message> out;
  for (Message& m : rows) {
    if (!present.count(m.name)) continue;
    if (state == MessageState::kInbox && m.expires_at <= now) continue;
    auto body = files_->Read(actor, m.Path(), 0, 0, kMaxBodyBytes, nullptr);
    if (!body.ok()) {
      if (body.code() == ENOENT) continue;  // acked or removed meanwhile
      return body.status();
    }
    m.body = std::move(body).value();
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<Message>> Mailbox::Inbox(const Caller& actor, std::string_view id) {
  NEXUS_ASSIGN_OR_RETURN(std::string to, Recipient(id));
  SweepWhere(&to);
  return Listed(actor, to, MessageState::kInbox);
}

Result<std::vector<Message>> Mailbox::Dead(const Caller& actor, std::string_view id) {
  NEXUS_ASSIGN_OR_RETURN(std::string to, Recipient(id));
  SweepWhere(&to);
  return Listed(actor, to, MessageState::kDead);
}

Result<uint64_t> Mailbox::Count(const Caller& actor, std::string_view id) {
  NEXUS_ASSIGN_OR_RETURN(std::string to, Recipient(id));
  const std::string inbox = FolderPath(to, MessageState::kInbox);
  if (auto seen = files_->Stat(actor, inbox, false, false); !seen.ok())
    return Unseen(seen.status(), actor, inbox);
  MutexLock lk(mu_);
  Statement s =
      db_->Prepare("SELECT COUNT(*) FROM messages WHERE recipient = ? AND state = 0 AND expires_ns > ?");
  s.Bind(to).Bind(clock_.Now());
  NEXUS_ASSIGN_OR_RETURN(bool row, s.Step());
  return row ? static_cast<uint64_t>(s.Int(0)) : 0;
}

Result<Message> Mailbox::Ack(const Caller& actor, std::string_view id, std::string_view message) {
  NEXUS_ASSIGN_OR_RETURN(std::string to, Recipient(id));
  // Whoever may not see the inbox learns nothing about what is in it.
  const std::string inbox = FolderPath(to, MessageState::kInbox);
  if (auto seen = files_->Stat(actor, inbox, false, false); !seen.ok())
    return Unseen(seen.status(), actor, inbox);
  std::optional<Message> m;
  {
    MutexLock lk(mu_);
    m = FindLocked(to, MessageState::kInbox, message, true);
    if (!m) m = FindLocked(to, MessageState::kInbox, message, false);
  }
  if (!m)
    return Status::Error(ENOENT,
                         "message '" + std::string(message) + "' not found in agent:" + to + "'s inbox");
  return Move(actor, std::move(*m), MessageState::kProcessed);
}

Result<Message> Mailbox::Move(const Caller& caller, Message m, MessageState state) {
  const std::string from_path = m.Path();
  std::string name = m.name;
  // A name taken in the destination (two files of that name sent over
  // time) gets the message id appended, so nothing is overwritten.
  if (files_->Stat(daemon_caller_, FolderPath(m.to, state) + "/" + name, false, false).ok())
    name += "." + m.id;
  Status moved = files_->Rename(caller, from_path, FolderPath(m.to, state) + "/" + name);
  MutexLock lk(mu_);
  if (!moved.ok()) {
    if (moved.code() == ENOENT && files_->Stat(daemon_caller_, from_path, false, false).code() == ENOENT) {
      (void)DeleteLocked(m.id);
      return Status::Error(ENOENT, "message '" + m.id + "' is gone from agent:" + m.to + "'s inbox");
    }
    return moved;
  }
  NEXUS_RETURN_IF_ERROR(UpdateLocked(m.id, state, name));
  m.state = state;
  m.name = name;
  return m;
}

size_t Mailbox::Sweep() { return SweepWhere(nullptr); }

size_t Mailbox::SweepWhere(const std::string* to) {
  std::vector<Message> expired;
  {
    MutexLock lk(mu_);
    static const std::string all_sql =
        std::string(kColumns) + "WHERE state = 0 AND expires_ns <= ? ORDER BY seq LIMIT 1000";
    static const std::string one_sql =
        std::string(kColumns) +
        "WHERE recipient = ? AND state = 0 AND expires_ns <= ? ORDER BY seq LIMIT 1000";
    Statement s = db_->Prepare(to ? one_sql.c_str() : all_sql.c_str());
    if (to) s.Bind(*to);
    s.Bind(clock_.Now());
    while (s.Next()) expired.push_back(RowOf(s));
  }
  size_t moved = 0;
  for (Message& m : expired) {
    auto r = Move(daemon_caller_, m, MessageState::kDead);
    if (r.ok()) {
      ++moved;
    } else if (r.code() != ENOENT) {
      spdlog::warn("mailbox: moving expired {} to dead_letter: {}", m.Path(), r.status().ToString());
    }
  }
  return moved;
}

void Mailbox::SweepLoop() {
  MutexLock lk(stop_mu_);
  while (!lk.WaitFor(stop_cv_, options_.sweep_interval, [this]() REQUIRES(stop_mu_) { return stop_; })) {
    lk.Unlock();
    size_t n = Sweep();
    if (n > 0) spdlog::info("mailbox: {} expired message(s) moved to dead_letter", n);
    lk.Lock();
  }
}

// ---------------------------------------------------------------- the mount

void Mailbox::Subscribe(ChangeBus* bus) {
  bus->Subscribe([feed = feed_](const ChangeEvent& e) {
    MutexLock lk(feed->mu);
    if (feed->mailbox) feed->mailbox->OnChange(e);
  });
}

void Mailbox::IndexFile(const std::string& to, const std::string& name, const std::string& from) {
  // Events arrive after the fact: the file may have moved on since (a
  // message sent by Send and already acked or expired: its name is its id).
  if (!files_->Stat(daemon_caller_, FolderPath(to, MessageState::kInbox) + "/" + name, false, false).ok())
    return;
  {
    MutexLock lk(mu_);
    if (FindLocked(to, MessageState::kInbox, name, false)) return;
    {
      Statement s = db_->Prepare("SELECT 1 FROM messages WHERE id = ? AND recipient = ?");
      s.Bind(name).Bind(to);
      if (s.Next()) return;
    }
    Message m;
    m.id = NewIdLocked(&m.time);
    m.to = to;
    m.from = from;
    m.name = name;
    m.ttl_s = options_.default_ttl.count();
    m.expires_at = ExpiryOf(m.time, m.ttl_s);
    if (Status st = InsertLocked(m); !st.ok()) {
      spdlog::error("mailbox: indexing {}: {}", m.Path(), st.ToString());
      return;
    }
  }
  Notify(to);
}

void Mailbox::OnChange(const ChangeEvent& e) {
  using Kind = ChangeEvent::Kind;
  if (e.kind != Kind::kContentClosed && e.kind != Kind::kRenamed && e.kind != Kind::kRemoved) return;
  // The daemon's own writes and moves are indexed by whoever made them; its
  // removals (an agent's home going with its deletion) drop messages too.
  const bool own = !e.caller.principal || e.caller.principal->how == AuthMethod::kDaemon;
  if (own && e.kind != Kind::kRemoved) return;
  auto src = Located::Of(e.path);
  if (e.kind == Kind::kContentClosed) {
    if (src && src->state == MessageState::kInbox && registry_->Get(src->to).ok())
      IndexFile(src->to, src->name, e.caller.principal->subject);
    return;
  }
  if (e.kind == Kind::kRemoved) {
    if (!src) return;
    MutexLock lk(mu_);
    if (auto m = FindLocked(src->to, src->state, src->name, false)) (void)DeleteLocked(m->id);
    return;
  }
  // A rename: an ack, a dead letter or a redelivery within a home; out of
  // the mailboxes, the message is gone; into an inbox from elsewhere, a
  // new message.
  auto dst = Located::Of(e.new_path);
  {
    MutexLock lk(mu_);
    std::optional<Message> m;
    if (src) m = FindLocked(src->to, src->state, src->name, false);
    if (m && dst && dst->to == src->to) {
      (void)UpdateLocked(m->id, dst->state, dst->name);
      const bool arrived = dst->state == MessageState::kInbox && src->state != MessageState::kInbox;
      lk.Unlock();
      if (arrived) Notify(dst->to);
      return;
    }
    if (m) (void)DeleteLocked(m->id);
  }
  if (dst && dst->state == MessageState::kInbox && registry_->Get(dst->to).ok())
    IndexFile(dst->to, dst->name, e.caller.principal->subject);
}

void Mailbox::Forget(std::string_view id) {
  MutexLock lk(mu_);
  Statement s = db_->Prepare("DELETE FROM messages WHERE recipient = ?");
  s.Bind(id);
  if (Status st = s.Run("forget agent"); !st.ok())
    spdlog::error("mailbox: dropping the messages of agent:{}: {}", id, st.ToString());
}

Status Mailbox::Repair() {
  std::set<std::string> registered;
  for (const AgentRecord& agent : registry_->List({})) {
    registered.insert(agent.id);
    for (MessageState state : {MessageState::kInbox, MessageState::kProcessed, MessageState::kDead}) {
      auto entries = files_->List(daemon_caller_, FolderPath(agent.id, state), state == MessageState::kInbox);
      if (!entries.ok()) continue;  // no home yet: nothing to repair
      std::map<std::string, const PathStat*> present;
      for (const PathStat& e : *entries) present[e.path.substr(e.path.rfind('/') + 1)] = &e;
      std::vector<Message> rows;
      {
        MutexLock lk(mu_);
        rows = SelectLocked(agent.id, state);
        for (const Message& m : rows) {
          if (present.erase(m.name)) continue;
          NEXUS_RETURN_IF_ERROR(DeleteLocked(m.id));
        }
      }
      if (state != MessageState::kInbox) continue;
      for (const auto& [name, stat] : present) {
        if (!stat->attr.IsReg()) continue;
        std::string from = principals_ ? principals_->ForUid(stat->attr.uid, stat->attr.gid)->subject
                                       : UidSubject(stat->attr.uid);
        IndexFile(agent.id, name, from);
      }
    }
  }
  // Messages of agents no longer registered.
  std::vector<std::string> gone;
  {
    MutexLock lk(mu_);
    Statement s = db_->Prepare("SELECT DISTINCT recipient FROM messages");
    while (s.Next())
      if (!registered.count(s.Text(0))) gone.push_back(s.Text(0));
    NEXUS_RETURN_IF_ERROR(s.status());
  }
  for (const std::string& id : gone) Forget(id);
  return Status::Ok();
}

// ---------------------------------------------------------------- waiting

uint64_t Mailbox::Watch(std::string_view id, std::function<void()> ready) {
  std::string to(id);
  if (auto parsed = ParseAgentId(id); parsed.ok()) to = std::string(*parsed);
  uint64_t token;
  {
    MutexLock lk(watch_mu_);
    token = next_token_++;
    waiters_[token] = Waiter{to, ready};
  }
  return token;
}

void Mailbox::Unwatch(uint64_t token) {
  MutexLock lk(watch_mu_);
  waiters_.erase(token);
}

void Mailbox::Notify(const std::string& to) {
  std::vector<std::function<void()>> ready;
  {
    MutexLock lk(watch_mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.to == to) {
        ready.push_back(std::move(it->second.ready));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& f : ready) f();
}

}  // namespace nexus
