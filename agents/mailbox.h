// Mailbox: durable per-agent mailboxes (IPC) on the agents' homes.
//
// The message bodies ARE files: a message to agent TO is the file
// /agents/TO/inbox/NAME; acking moves it to /agents/TO/processed/NAME, expiry
// to /agents/TO/dead_letter/NAME (daemon/agent_homes.h makes the folders).
// A small SQLite index (the daemon uses DATA/mailbox.db) keeps what a file
// cannot: each message's id, recipient, sender subject, file name, sequence
// (the order messages were sent in, so per-sender order is send order), time,
// TTL, expiry, state (inbox, processed, dead) and the client's dedup id.
//
// Two ways in, one mailbox:
//   Send     (the socket's `ipc send`) writes the file as the sending
//            principal: the actor, or the agent it acts as (`from`, checked
//            with AgentRegistry::CheckActAs, principal from
//            PrincipalTable::ForActingAs). The namespace's access policy
//            decides exactly as on the mount: sending to TO needs write on
//            /agents/TO/inbox; a refusal is EACCES and leaves nothing
//            behind. The file is named by the message id.
//   OnChange (the ChangeBus, fs/change_events.h) indexes what is done on
//            the mount: a file closed after writing in an inbox/ is a
//            message (sender: the event's principal; name kept; fresh id;
//            the default TTL); a rename inbox/ → processed/ is an ack,
//            inbox/ → dead_letter/ a dead letter, back into inbox/ a
//            redelivery; a name removed or moved out of a home drops its
//            message. An empty file is never closed "after writing" and is
//            not a message. Events the daemon caused (AuthMethod::kDaemon, or
//            no principal) are the mailbox's own and are not re-indexed.
// Reads (Inbox, Count, Dead) and Ack act as the caller, through PathFiles
// (fs/path_files.h), so whoever may not see a mailbox gets what the mount
// would give (ENOENT). Reading does not consume; Ack does.
//
// Ids: "msg-" and 16 hex digits of the send instant in ns, strictly
// increasing in this index (sortable by time, unique). A client-supplied
// id makes Send idempotent per sender: a repeat returns the message as first
// sent (delivery is at-least-once; the id is what a receiver dedups on).
//
// Durability: the index commits each change before the call returns, at
// SQLite's synchronous=NORMAL (it survives a crash of nexusd, as the files
// in the native tree do once committed, a few ms after a write); what a
// crash or power cut loses of either is reconciled at the next Open.
//
// TTL: a message expires at time + ttl (Options::default_ttl when not
// given; 0 = never). From that instant Inbox and Count no longer show it;
// Sweep (the sweeper thread every Options::sweep_interval, and Inbox/Dead for
// their mailbox) moves it to dead_letter/ as the daemon.
//
// Errors: ENOENT "agent 'x' not found" for an unregistered recipient or
// mailbox, ENOENT for an unknown message, EACCES for a refused send, ack or
// `from`, EINVAL for a bad id, TTL or body, EFBIG for a body over
// kMaxBodyBytes; SQLite errors as base/sqlite_db.h maps them.
//
// Threading: every method may be called from any thread. mu_ guards the
// index; file I/O runs outside it. Watchers are called on the thread that
// delivered (a socket job, the bus thread) without any lock held: they must
// only hand off (fulfil a promise), never block. Lock order: feed_->mu (the
// bus delivery) → mu_ → watch_mu_.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/mutex.h"
#include "base/principal.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "fs/change_events.h"
#include "fs/path_files.h"
#include "perms/agent_registry.h"
#include "perms/principals.h"

namespace nexus {

class SqliteDb;

enum class MessageState : uint8_t { kInbox = 0, kProcessed = 1, kDead = 2 };
// "inbox", "processed", "dead".
std::string_view ToString(MessageState state);

inline constexpr uint64_t kMaxBodyBytes = 8u << 20;
inline constexpr size_t kMaxClientIdBytes = 256;

struct Message {
  std::string id = {};
  std::string to = {};    // the recipient's agent id (without "agent:")
  std::string from = {};  // the sender's subject: "agent:a1", "user:alice"
  std::string name = {};  // the file's name in the folder of its state
  uint64_t seq = 0;       // send order over the whole index
  UnixNanos time = 0;
  int64_t ttl_s = 0;  // 0: never expires
  UnixNanos expires_at = kNever;
  MessageState state = MessageState::kInbox;
  std::string client_id = {};
  std::string body = {};  // filled where the call says so

  // "/agents/<to>/<inbox|processed|dead_letter>/<name>".
  std::string Path() const;
};

struct SendRequest {
  std::string to = {};    // "ID" or "agent:ID"
  std::string body = {};  // any bytes
  // The sending subject: empty for the actor's own; else the actor's
  // subject or an agent ("ID", "agent:ID") it may act as.
  std::string from = {};
  std::optional<int64_t> ttl_s = {};  // seconds; nullopt: the default; 0: never
  std::string client_id = {};         // for dedup; empty: none
};

class Mailbox {
 public:
  struct Options {
    std::chrono::seconds default_ttl = std::chrono::hours(24);  // 0: never
    const Clock* clock = nullptr;  // null: the system clock; must outlive the mailbox
    // How often the sweeper thread moves expired messages; 0: no thread
    // (tests call Sweep).
    std::chrono::milliseconds sweep_interval = std::chrono::seconds(1);
    // The subject of the daemon's own moves (expiry, repairs).
    std::string admin_subject = "user:admin";
  };

  // Opens (creating, mode 0600) the index at `path`, repairs it against the
  // folders (files no message names become messages from their owner's
  // subject; messages whose file is gone, or whose agent is, are dropped)
  // and starts the sweeper. `files`, `registry` and `principals` are not
  // owned and must outlive the mailbox.
  static Result<std::unique_ptr<Mailbox>> Open(const std::string& path, PathFiles* files,
                                               AgentRegistry* registry, PrincipalTable* principals,
                                               Options options);
  // Stops the sweeper and detaches from the bus (waits for a delivery in
  // progress).
  ~Mailbox();
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  // Sends; returns the message with its body.
  Result<Message> Send(const Caller& actor, const SendRequest& request) EXCLUDES(mu_);
  // The unexpired messages in `id`'s inbox/ in send order, with bodies read
  // as `actor`.
  Result<std::vector<Message>> Inbox(const Caller& actor, std::string_view id) EXCLUDES(mu_);
  // How many messages Inbox would list (unacked, unexpired).
  Result<uint64_t> Count(const Caller& actor, std::string_view id) EXCLUDES(mu_);
  // Moves the message `message` (its id, or its file name) of `id`'s inbox
  // to processed/ as `actor`. Returns it as processed (no body).
  Result<Message> Ack(const Caller& actor, std::string_view id, std::string_view message) EXCLUDES(mu_);
  // The messages in dead_letter/, in send order, with bodies read as `actor`.
  Result<std::vector<Message>> Dead(const Caller& actor, std::string_view id) EXCLUDES(mu_);

  // Moves every inbox message expired at the clock's now to dead_letter/;
  // returns how many moved.
  size_t Sweep() EXCLUDES(mu_);

  // Indexes what `bus` reports from now on (see the header comment).
  void Subscribe(ChangeBus* bus);
  // One change, as the bus delivers it (public for tests without a bus).
  void OnChange(const ChangeEvent& event) EXCLUDES(mu_);
  // Drops every message of an agent that is no longer registered.
  void Forget(std::string_view id) EXCLUDES(mu_);

  // Calls `ready` (once) as soon as a message arrives in `id`'s inbox
  // after this call: sent (once its file is written), written on the mount
  // or moved back in. Returns a token for Unwatch. `id` is "ID" or
  // "agent:ID". A waiter lists the inbox after Watch returns, so nothing is
  // missed: what arrived before is in the listing, what arrives after
  // calls `ready`.
  uint64_t Watch(std::string_view id, std::function<void()> ready) EXCLUDES(watch_mu_);
  void Unwatch(uint64_t token) EXCLUDES(watch_mu_);

  const Options& options() const { return options_; }

 private:
  struct Feed;
  struct Located;  // a path in a mailbox folder

  Mailbox(std::unique_ptr<SqliteDb> db, PathFiles* files, AgentRegistry* registry, PrincipalTable* principals,
          Options options);
  Status Repair() EXCLUDES(mu_);
  void SweepLoop();

  // The registered recipient of `text` ("ID" or "agent:ID"), or ENOENT.
  Result<std::string> Recipient(std::string_view text) const;
  // The Caller the message is written as, and its subject.
  Result<Caller> Sender(const Caller& actor, const std::string& from, std::string* subject) const;
  Result<std::vector<Message>> Listed(const Caller& actor, const std::string& to, MessageState state)
      EXCLUDES(mu_);
  // Moves `m`'s file to the folder of `state` as `caller`, then the row.
  Result<Message> Move(const Caller& caller, Message m, MessageState state) EXCLUDES(mu_);
  size_t SweepWhere(const std::string* to) EXCLUDES(mu_);
  // Indexes a file found in `to`'s inbox (not yet indexed) as from `from`.
  void IndexFile(const std::string& to, const std::string& name, const std::string& from) EXCLUDES(mu_);
  void Notify(const std::string& to) EXCLUDES(watch_mu_);

  std::string NewIdLocked(UnixNanos* time) REQUIRES(mu_);
  Status InsertLocked(Message& m) REQUIRES(mu_);
  std::optional<Message> FindLocked(const std::string& to, MessageState state, std::string_view key,
                                    bool by_id) REQUIRES(mu_);
  std::vector<Message> SelectLocked(const std::string& to, MessageState state) REQUIRES(mu_);
  Status UpdateLocked(const std::string& id, MessageState state, const std::string& name) REQUIRES(mu_);
  Status DeleteLocked(const std::string& id) REQUIRES(mu_);

  const Options options_;
  const Clock& clock_;
  PathFiles* const files_;
  AgentRegistry* const registry_;
  PrincipalTable* const principals_;
  const Principal daemon_;
  const Caller daemon_caller_;

  Mutex mu_;
  std::unique_ptr<SqliteDb> db_ GUARDED_BY(mu_);
  UnixNanos last_id_time_ GUARDED_BY(mu_) = 0;

  struct Waiter {
    std::string to;
    std::function<void()> ready;
  };
  Mutex watch_mu_ ACQUIRED_AFTER(mu_);
  uint64_t next_token_ GUARDED_BY(watch_mu_) = 1;
  std::map<uint64_t, Waiter> waiters_ GUARDED_BY(watch_mu_);

  std::shared_ptr<Feed> feed_;

  Mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ GUARDED_BY(stop_mu_) = false;
  std::thread sweeper_;
};

}  // namespace nexus
