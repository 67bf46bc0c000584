# The NexusFS control protocol: what the `nexus` CLI, other programs and
# other nodes speak to nexusd over its Unix socket or TLS TCP listener.
#
# Shape: the bootstrap capability `Nexus` authenticates the caller and hands
# back a `Session`, whose methods return the sub-interfaces (files, locks,
# admin, ...). New sub-interfaces are added as new Session methods with new
# ordinals, so old clients keep working against newer daemons and a newer
# client sees `unimplemented` (never a crash) from an older daemon.
#
# Errors: a domain failure (no such file, access denied, bad argument) comes
# back as an `Error` in the result, never as a broken call: the connection
# stays healthy. Transport failures (peer gone, malformed message) break the
# call with a capnp exception.

@0xd3a1f0b8c2e47a95;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("nexus::rpc");

# A typed failure. `code` is what programs switch on; `errno` keeps the exact
# POSIX code behind it; `message` is for people.
struct Error {
  code @0 :Code;
  message @1 :Text;
  errno @2 :Int32;

  enum Code {
    ok @0;
    notFound @1;           # ENOENT
    alreadyExists @2;      # EEXIST
    invalidArgument @3;    # EINVAL, ENAMETOOLONG, ...
    permissionDenied @4;   # EACCES, EPERM
    unauthenticated @5;    # no key, bad key, expired or revoked key
    conflict @6;           # stale revision, generation or lease token
    resourceExhausted @7;  # quota spent, too many calls in flight
    busy @8;               # held by someone else (a lock), EBUSY
    timedOut @9;           # a wait ran out
    unavailable @10;       # the part is not enabled or not in this build
    readOnly @11;          # EROFS
    notEmpty @12;          # ENOTEMPTY
    notDirectory @13;      # ENOTDIR
    isDirectory @14;       # EISDIR
    ioError @15;           # EIO and anything else from the disk
    internal @16;          # a bug: please report it
    malformed @17;         # EBADMSG: signed text (a passport) that does not parse
    untrusted @18;         # EKEYREJECTED: signed by a key not trusted here, or a bad signature
    expired @19;           # EKEYEXPIRED: a passport past its expiry
    revoked @20;           # EKEYREVOKED: a passport its issuer revoked
  }
}

# Who the daemon thinks the caller is.
struct Identity {
  subject @0 :Text;    # "user:alice", "agent:bot7", "user:uid-1000"
  name @1 :Text;       # user name, or "uid-N" for an unprovisioned local uid
  scope @2 :Scope;
  isAdmin @3 :Bool;
  uid @4 :UInt32;      # the POSIX identity file calls run as
  gid @5 :UInt32;
  transport @6 :Text;  # "unix" or "tcp"
  keyId @7 :Text;      # the API key used, empty for peer-credential auth
  actingAs @8 :Text;   # the agent this session acts as ("agent:ID"), empty
                       # when it acts as `subject` itself

  enum Scope {
    admin @0;
    user @1;
    agent @2;
  }
}

# The bootstrap interface: the only thing reachable before authenticating.
interface Nexus {
  # Opens a session. On the Unix socket an empty `apiKey` authenticates as
  # the peer's uid (SO_PEERCRED); a key acts as the user it belongs to. On
  # TCP a key is required. With `actAs` ("ID" or "agent:ID") the session
  # acts as that agent, with the agent's grants only: the agent itself, its
  # owner or an admin may (`permissionDenied` otherwise, `notFound` for an
  # unknown agent, `unavailable` without the agent registry).
  authenticate @0 (apiKey :Text, client :Text, actAs :Text) -> (session :Session, identity :Identity, error :Error);

  # Liveness without authentication: the daemon's version.
  ping @1 () -> (version :Text);

  # Mesh nodes (docs/mesh.md), on a director's listener, without an API key:
  # joins with the registration key (the credential is returned once) ...
  # `nodeKey` is the node's raw Ed25519 identity public key (32 bytes; may
  # be empty), which the director adds to the mesh's passport key set.
  # `zones`: the zones the node has, when `reportsZones` (a node that does
  # not report them is taken to have every zone).
  meshRegister @2 (registrationKey :Text, name :Text, address :Text, capacity :Int64, nodeKey :Data, zones :List(Text), reportsZones :Bool) -> (credential :MeshCredential, error :Error);
  # ... and opens a joined node's own session with its credential.
  meshNode @3 (nodeId :Text, credential :Text) -> (node :MeshNode, error :Error);
  # Directors on one etcd store: a standby acting for a caller of its own
  # socket opens the leader's Mesh as that caller. `director` is the
  # standby's election address and `credential` the forwarding secret whose
  # SHA-256 it publishes in the election (docs/mesh.md "Standby"). The
  # leader applies `caller`'s rights, never the standby's; `unavailable`
  # when this director does not lead, `permissionDenied` for a credential
  # no live candidate published.
  meshForward @4 (director :Text, credential :Text, caller :MeshCaller) -> (mesh :Mesh, error :Error);
}

# One feature of the daemon and whether this instance has it on.
struct Feature {
  name @0 :Text;
  state @1 :State;
  detail @2 :Text;

  enum State {
    enabled @0;
    disabled @1;     # switched off by the profile or configuration
    unavailable @2;  # not served by this daemon (yet)
  }
}

# The daemon's state as `status` reports it.
struct DaemonStatus {
  version @0 :Text;
  pid @1 :UInt32;
  uptimeSeconds @2 :Float64;
  dataDir @3 :Text;
  mountpoint @4 :Text;
  mounted @5 :Bool;    # the FUSE mount is up and serving
  ready @6 :Bool;      # mounted, and every enabled part is serving
  profile @7 :Text;
  workspace @8 :Text;  # host dir at /zone/local, empty if none
  socketPath @9 :Text;
  listen @10 :Text;    # TCP listener, empty if none
  http @11 :Text;      # HTTP listener, empty if none
  inodes @12 :UInt64;
  databaseBytes @13 :UInt64;
  connections @14 :UInt32;
}

# An authenticated caller's view of the daemon.
interface Session {
  # Who this session acts as.
  identity @0 () -> (identity :Identity);
  # The daemon's state (for `nexus status` and `nexus ready`).
  status @1 () -> (status :DaemonStatus);
  # The profile and every feature with its state.
  features @2 () -> (profile :Text, features :List(Feature));
  # File operations by path in the mounted namespace.
  files @3 () -> (files :Files);
  # Advisory locks for agents.
  locks @4 () -> (locks :Locks);
  # Admin-only methods check the caller on every call.
  admin @5 () -> (admin :Admin);
  # File history, snapshots and their maintenance; `unavailable` when the
  # daemon runs without versioning.
  versions @6 () -> (versions :Versions);
  # Glob, grep and ranked search over the tree; `unavailable` when the
  # daemon runs without search.
  search @7 () -> (search :Search);
  # Relationship-based access control: tuples, checks, identities, audit;
  # `unavailable` when the daemon runs without ReBAC.
  permissions @8 () -> (permissions :Permissions);
  # Per-subject FUSE mounts served by this daemon (admin only).
  mounts @9 () -> (mounts :Mounts);
  # The mesh: this daemon's part in it and, on a director, the fleet and its
  # tasks; `unavailable` when the daemon is neither director nor node.
  mesh @10 () -> (mesh :Mesh);
  # The agent registry: agents, their owners and lifecycle; `unavailable`
  # when the daemon runs without it.
  agents @11 () -> (agents :Agents);
  # Per-agent mailboxes (IPC); `unavailable` when the daemon runs without
  # the agent registry.
  ipc @12 () -> (ipc :Ipc);
  # Delegations of access between subjects (docs/agents.md "Delegation");
  # every method is `unavailable` when the daemon runs without ReBAC.
  delegations @13 () -> (delegations :Delegations);
  # MCP tool profiles and the tools a subject may use (docs/mcp.md);
  # `unavailable` when the daemon runs without ReBAC.
  tools @14 () -> (tools :Tools);
  # The same session, except that every change it makes records `command`
  # as the command in its provenance (versions; e.g. "mcp:nexus_write_file")
  # instead of the client process's name. An empty `command` is
  # `invalidArgument`.
  labelled @15 (command :Text) -> (session :Session);
  # The operations log: what every subject changed, a live stream of it,
  # and undo (docs/operations.md); `unavailable` when the daemon runs
  # without it.
  ops @16 () -> (ops :Ops);
  # Copy-on-write forks of folders, their diff and the three-way merge back
  # (docs/forks.md); `unavailable` when the daemon runs without them.
  forks @17 () -> (forks :Forks);
  # Local sandboxes: long-lived isolated namespaces whose /workspace is the
  # session subject's view of the tree (docs/sandboxes.md); `unavailable`
  # when the daemon runs without them.
  sandboxes @18 () -> (sandboxes :Sandboxes);
  # Workflows that react to file events (docs/workflows.md): load, list,
  # test, enable, and their runs.
  workflows @19 () -> (workflows :Workflows);
}

# ---------------------------------------------------------------- files

# Attributes of a path, as `stat` and `metadata` report them.
struct FileStat {
  path @0 :Text;
  isDirectory @1 :Bool;
  kind @2 :Text;           # "file", "directory", "symlink", "fifo", "socket", "char", "block"
  size @3 :UInt64;
  mode @4 :UInt32;         # permission bits and file type, as st_mode
  uid @5 :UInt32;
  gid @6 :UInt32;
  nlink @7 :UInt32;
  ino @8 :UInt64;
  modifiedAtNs @9 :Int64;  # nanoseconds since the epoch
  createdAtNs @10 :Int64;
  # Git blob id of the content (sha1 over "blob <size>\0" + bytes), so the
  # same content has the same id here and in version history. Regular files
  # of up to 16 MiB (hashing a bigger one would hold up other clients);
  # empty otherwise.
  contentId @11 :Text;
  # Latest recorded version of the file (`metadata`, i.e. stat with
  # `detailed`; the capture of a write just made may still be on its way);
  # 0 when versioning is off, the file has none, or it was not asked for.
  version @12 :UInt64;
  # Filled by `metadata` (detailed = true) only:
  mimeType @13 :Text;
  zone @14 :Text;          # "root", or Z for paths under /zone/Z
  symlinkTarget @15 :Text;
}

# The answer for one path of a `stat` call.
struct StatResult {
  path @0 :Text;
  stat @1 :FileStat;  # set when error is unset
  error @2 :Error;
}

# One entry of a listing.
struct DirEntry {
  name @0 :Text;
  stat @1 :FileStat;  # filled when the listing was asked `long`
}

# One file of a `readBulk` call.
struct ReadResult {
  path @0 :Text;
  data @1 :Data;
  size @2 :UInt64;  # the whole file's size
  error @3 :Error;  # unset when found
}

# Result of one item of a batch: every item succeeds or fails on its own.
struct ItemResult {
  item @0 :Text;
  error @1 :Error;  # unset on success
}

# One rename of a `renameBatch` call.
struct RenameItem {
  from @0 :Text;
  to @1 :Text;
}

# A byte stream into a file opened by Files.writeStream.
interface ByteSink {
  write @0 (data :Data) -> ();
  # Finishes the file; the returned stat is its final state.
  done @1 () -> (stat :FileStat, error :Error);
}

# File operations by path in the mounted namespace, checked against the
# session's POSIX identity; changes are visible on the mount at once.
interface Files {
  # Writes `data` to `path`, creating it (mode 0644 minus nothing) if
  # missing. truncate: replace the content; else write at `offset`, or at
  # the end with `append`.
  write @0 (path :Text, data :Data, truncate :Bool, append :Bool, offset :UInt64,
            createParents :Bool) -> (stat :FileStat, error :Error);
  # Reads up to `length` bytes at `offset` (length 0: to the end, within the
  # message limit). A range past the end returns what exists.
  read @1 (path :Text, offset :UInt64, length :UInt64) -> (data :Data, size :UInt64, error :Error);
  # Stats many paths in one round trip; `detailed` adds metadata fields.
  stat @2 (paths :List(Text), detailed :Bool) -> (results :List(StatResult));
  # Lists a directory, sorted by name; `long` fills each entry's stat.
  list @3 (path :Text, long :Bool) -> (entries :List(DirEntry), error :Error);
  # Creates a directory (mode 0 means 0755, before the caller's umask);
  # `parents` creates missing ancestors and accepts an existing directory.
  mkdir @4 (path :Text, parents :Bool, mode :UInt32) -> (error :Error);
  # Removes an empty directory.
  rmdir @5 (path :Text) -> (error :Error);
  # Renames each item on its own (rename(2) semantics, replacing a target).
  renameBatch @6 (items :List(RenameItem)) -> (results :List(ItemResult));
  # Removes each non-directory on its own.
  removeBatch @7 (paths :List(Text)) -> (results :List(ItemResult));
  # Reads several whole files. Missing files come back with notFound; with
  # `atomic`, the first failure fails the call and no data is returned.
  readBulk @8 (paths :List(Text), atomic :Bool) -> (results :List(ReadResult), error :Error);
  # Opens `path` for a streamed write (created or truncated).
  writeStream @9 (path :Text, createParents :Bool) -> (sink :ByteSink, error :Error);
  # Replaces the whole content of `path` only while its content id (see
  # FileStat.contentId) is still `expectedContentId` (empty: the file must
  # not exist; it is created); `conflict`, changing nothing, otherwise. For
  # read-modify-write clients (an editor tool) that must not lose a change
  # made in between.
  replace @10 (path :Text, data :Data, expectedContentId :Text) -> (stat :FileStat, error :Error);
  # Watches `path` (a file, or a folder and everything below it): the
  # daemon calls `watcher.changed` with the changes the session's subject
  # may see, batched, in order, from the change events (never on a FUSE
  # thread). The watch ends when the client drops `subscription` or the
  # connection closes. A path the subject may not see is `notFound`.
  watch @11 (path :Text, watcher :FileWatcher) -> (subscription :Subscription, error :Error);
}

# One change a watch reports.
struct FileChange {
  path @0 :Text;     # what changed (a rename: its old path)
  kind @1 :Text;     # "content", "created", "removed", "renamed", "attr"
  newPath @2 :Text;  # a rename's new path; empty otherwise
  timeNs @3 :Int64;  # when it happened (Unix ns)
}

# Implemented by the client of a watch.
interface FileWatcher {
  changed @0 (changes :List(FileChange)) -> ();
}

# Held by the client while a watch should last; dropping it ends the watch.
interface Subscription {}

# ---------------------------------------------------------------- locks

# Advisory locks for coordinating agents. A lock is exclusive: nobody,
# not even its holder, acquires it twice. It frees itself at expiry.
struct LockInfo {
  path @0 :Text;
  holder @1 :Text;  # subject of the holder
  acquiredAtNs @2 :Int64;
  expiresAtNs @3 :Int64;
}

# Advisory locks (see LockInfo).
interface Locks {
  # ttlSeconds 0: the default (60 s). waitSeconds 0: fail at once with
  # `busy` when held; else wait up to that long, then `timedOut`.
  acquire @0 (path :Text, ttlSeconds :Float64, waitSeconds :Float64) -> (lock :LockInfo, error :Error);
  # Only the holder releases; `force` (admins only) releases anyone's.
  release @1 (path :Text, force :Bool) -> (error :Error);
  # The lock on `path`, if held.
  info @2 (path :Text) -> (lock :LockInfo, held :Bool);
  # Every lock held.
  list @3 () -> (locks :List(LockInfo));
}

# ---------------------------------------------------------------- admin

# A provisioned user or agent.
struct User {
  name @0 :Text;
  subjectType @1 :Text;  # "user" or "agent"
  isAdmin @2 :Bool;
  uid @3 :UInt32;        # POSIX identity of its file calls
  gid @4 :UInt32;
  createdAtNs @5 :Int64;
  expiresAtNs @6 :Int64; # 0: never
  subject @7 :Text;      # "user:NAME" or "agent:NAME"
  displayName @8 :Text;  # free text for people; empty if none was given
}

# An API key's record.
struct ApiKey {
  id @0 :Text;
  user @1 :Text;
  name @2 :Text;
  scope @3 :Identity.Scope;
  createdAtNs @4 :Int64;
  expiresAtNs @5 :Int64;  # 0: never
  revoked @6 :Bool;
  # The key itself: only in the reply that creates it, never again.
  secret @7 :Text;
  # Mesh entitlements: whether the key may submit tasks (a key that may not
  # is refused with permissionDenied), and at most how many in any sliding
  # hour (0: no limit; past it, resourceExhausted).
  canSubmitTasks @8 :Bool;
  hourlyTaskQuota @9 :UInt32;
}

# Users, keys and the daemon's lifecycle; every method is admin-only.
interface Admin {
  # Creates a user or agent and its first key (shown once). displayName:
  # free text for people (at most 256 bytes, no control characters).
  createUser @0 (name :Text, subjectType :Text, expiresDays :UInt32, isAdmin :Bool,
                 uid :UInt32, gid :UInt32, displayName :Text) -> (user :User, key :ApiKey, error :Error);
  # Another key for an existing user (shown once); expiresDays 0: never
  # (a key never outlives its user).
  createKey @1 (user :Text, name :Text, expiresDays :UInt32) -> (key :ApiKey, error :Error);
  # Every user and agent.
  listUsers @2 () -> (users :List(User), error :Error);
  # A user and its keys, without secrets.
  getUser @3 (name :Text) -> (user :User, keys :List(ApiKey), error :Error);
  # Revokes a key: refused from the next authentication on.
  revokeKey @4 (keyId :Text) -> (error :Error);
  # expiresDays 0 leaves the expiry; clearExpiry makes it never expire.
  updateKey @5 (keyId :Text, name :Text, expiresDays :UInt32, clearExpiry :Bool) -> (key :ApiKey, error :Error);
  # Stops the daemon cleanly (unmount, flush) after replying.
  shutdown @6 () -> (error :Error);
  # Sets a key's mesh entitlements.
  setKeyEntitlements @7 (keyId :Text, canSubmitTasks :Bool, hourlyTaskQuota :UInt32) -> (key :ApiKey, error :Error);
}

# ---------------------------------------------------------------- versions

# One version of a file. Paths are namespace paths ("/src/a.c",
# "/zone/local/notes.md").
struct VersionInfo {
  number @0 :UInt32;      # 1, 2, 3, ... per file, continuing across renames
  path @1 :Text;          # the path the content was captured under
  contentId @2 :Text;     # git blob id
  size @3 :UInt64;
  mode @4 :UInt32;        # git file mode: 0o100644 or 0o100755
  timeNs @5 :Int64;
  subject @6 :Text;       # author
  uid @7 :UInt32;
  pid @8 :UInt32;
  command @9 :Text;
  agentId @10 :Text;      # NEXUS_AGENT_ID of the writing process
  taskId @11 :Text;       # NEXUS_TASK_ID of the writing process
  note @12 :Text;         # "rollback to v3", "restore", "renamed from x"
  commit @13 :Text;       # empty while journaled, not yet committed
}

struct VersionStats {
  objects @0 :UInt64;
  diskBytes @1 :UInt64;
  logicalBytes @2 :UInt64;  # sum of the sizes of all versions
  uniqueBytes @3 :UInt64;   # sum of the sizes of distinct contents
  dedupRatio @4 :Float64;   # logical / unique
  files @5 :UInt64;
  versions @6 :UInt64;
  pending @7 :UInt64;       # closes queued for capture
}

struct GcReport {
  versionsDropped @0 :UInt64;
  commitsRewritten @1 :UInt64;
  objectsRemoved @2 :UInt64;
  bytesRemoved @3 :UInt64;
}

struct SnapshotInfo {
  id @0 :Text;
  description @1 :Text;
  timeNs @2 :Int64;
  zones @3 :List(Text);
  commit @4 :Text;
  automatic @5 :Bool;    # taken by a restore, to undo it
}

struct SnapshotEntry {
  path @0 :Text;         # namespace path of the file
  contentId @1 :Text;
  mode @2 :UInt32;
  size @3 :UInt64;
}

# Reports progress of a long call: `done` of `total` units.
interface Progress {
  update @0 (done :UInt64, total :UInt64, what :Text) -> ();
}

# History of every file, and snapshots of zones. Paths are namespace paths
# (paths under /.nexus are invalidArgument). Admins may do everything.
# Others see the history of a file they may read now or, for a deleted
# file, whose nearest existing directory they may list and search; they roll
# back and restore with their own POSIX permissions; gc, export, snapshot
# restore and delete are admin only (permissionDenied). A missing version
# or snapshot is notFound; every method is `unavailable` when the daemon
# runs without versioning.
interface Versions {
  # Every version of the file at `path` (deleted files too), oldest first.
  history @0 (path :Text) -> (path :Text, deleted :Bool, versions :List(VersionInfo), error :Error);
  # Version `version` of `path`: its record and `length` bytes from `offset`
  # (length 0: to the end, within the per-reply read limit; fetch a larger
  # version in pieces until `info.size`).
  get @1 (path :Text, version :UInt32, offset :UInt64, length :UInt64) -> (info :VersionInfo, data :Data, error :Error);
  # Unified diff of v1 -> v2 (a summary for binary content), or the
  # field-by-field difference of their records with `metadata`.
  diff @2 (path :Text, v1 :UInt32, v2 :UInt32, metadata :Bool) -> (diff :Text, error :Error);
  # Writes version `version` back as the file's content, recorded as a new
  # version.
  rollback @3 (path :Text, version :UInt32) -> (version :VersionInfo, recorded :Bool, error :Error);
  # Brings a deleted file back with its last content.
  restore @4 (path :Text) -> (version :VersionInfo, error :Error);
  stats @5 () -> (stats :VersionStats, error :Error);
  # Drops versions outside the retention policy: a version is kept while it
  # is among its file's newest `keepVersions` or younger than `keepDays`
  # days. Without `explicitPolicy` each 0 stands for the daemon's configured
  # value; with it both are used as given (keepVersions >= 1, keepDays 0:
  # age keeps nothing). Admin only.
  gc @6 (keepVersions :UInt32, keepDays :UInt32, explicitPolicy :Bool) -> (report :GcReport, error :Error);
  # Writes an ordinary git repository at `dest` (an absolute path on the
  # daemon's host, outside the mount, missing or empty; admin only).
  export @7 (dest :Text) -> (error :Error);
  # Snapshot of the given zones ("root", "local", ...), all when empty.
  createSnapshot @8 (description :Text, zones :List(Text)) -> (snapshot :SnapshotInfo, error :Error);
  listSnapshots @9 () -> (snapshots :List(SnapshotInfo), error :Error);
  snapshotInfo @10 (id :Text) -> (snapshot :SnapshotInfo, files :UInt64, bytes :UInt64, error :Error);
  snapshotEntries @11 (id :Text) -> (entries :List(SnapshotEntry), error :Error);
  # Returns the tree to snapshot `id`; `undoSnapshot` restores the state
  # before. `progress` (optional) hears how many files were written or
  # removed so far (`total` 0: not known in advance). Admin only.
  restoreSnapshot @12 (id :Text, progress :Progress) -> (undoSnapshot :Text, written :UInt64, removed :UInt64, error :Error);
  # Admin only.
  deleteSnapshot @13 (id :Text) -> (error :Error);
  # Commits everything captured so far (capture queue and journal).
  flush @14 () -> (error :Error);
}

# ---------------------------------------------------------------- search

# Where in a document (PDF, docx, xlsx, pptx) a hit lies; kind none for a text file.
struct DocumentPart {
  kind @0 :Kind;
  number @1 :UInt32;  # 1-based page, sheet or slide
  name @2 :Text;      # the sheet's name
  enum Kind { none @0; page @1; sheet @2; slide @3; }
}

struct GrepMatch {
  path @0 :Text;
  line @1 :UInt32;   # 1-based (within the part, in a document); 0 with filesOnly
  text @2 :Data;     # the line's raw bytes, without the newline
  part @3 :DocumentPart;
}

struct SearchHit {
  path @0 :Text;
  startLine @1 :UInt32;
  endLine @2 :UInt32;
  snippet @3 :Text;
  score @4 :Float64;
  keywordScore @5 :Float64;
  vectorScore @6 :Float64;
  semanticDegraded @7 :Bool;
  context @8 :Text;  # description of the closest path context
  part @9 :DocumentPart;
}

struct IndexStatus {
  files @0 :UInt64;
  chunks @1 :UInt64;
  bytes @2 :UInt64;
  lastUpdateNs @3 :Int64;
  state @4 :Text;        # "ready" or "indexing"
  queueDepth @5 :UInt64;
  semantic @6 :Text;     # the embedding provider, or empty without one
  embedded @7 :UInt64;   # chunks with a vector of the provider's model
  embedding @8 :Bool;    # vectors are being refilled (after a provider switch)
  semanticError @9 :Text;  # why the last refill failed; empty if it did not
}

struct PathContext {
  path @0 :Text;
  description @1 :Text;
}

# Search over the tree; results only name paths the session may read.
interface Search {
  glob @0 (pattern :Text, path :Text, limit :UInt32) -> (paths :List(Text), truncated :Bool, error :Error);
  # RE2 syntax; `fixed`: a literal string. `parsed`: documents by their
  # text (matches name their part); `fileGlob`: only files matching it (a
  # relative glob is taken below `path`).
  grep @1 (pattern :Text, path :Text, ignoreCase :Bool, fixed :Bool, filesOnly :Bool, limit :UInt32, parsed :Bool, fileGlob :Text) -> (matches :List(GrepMatch), truncated :Bool, error :Error);
  query @2 (text :Text, path :Text, mode :Mode, limit :UInt32) -> (hits :List(SearchHit), semanticDegraded :Bool, error :Error);
  # Indexes new and changed files under `path` ("/" when empty); `force`
  # re-reads every file.
  index @3 (path :Text, force :Bool, progress :Progress) -> (status :IndexStatus, error :Error);
  status @4 () -> (status :IndexStatus, error :Error);
  setPathContext @5 (path :Text, description :Text) -> (error :Error);
  listPathContexts @6 () -> (contexts :List(PathContext), error :Error);
  deletePathContext @7 (path :Text) -> (error :Error);
  # Switches the embedding provider (admins only): `provider` is
  # "http(s)://HOST[:PORT][/PATH]", "fasttext:/model.bin" or "none"; vectors
  # are re-embedded in the background (see IndexStatus). Until the daemon
  # restarts: its flags and config choose the provider at start.
  init @8 (provider :Text, model :Text, apiKey :Text) -> (status :IndexStatus, error :Error);

  enum Mode {
    keyword @0;
    semantic @1;
    hybrid @2;
  }
}

# ---------------------------------------------------------------- ReBAC

# One relationship tuple `subject#relation@object`.
struct RebacTuple {
  subject @0 :Text;       # "user:alice", "agent:bot", "user:*", "group:eng#member"
  relation @1 :Text;      # viewer, editor, owner, member, admin
  object @2 :Text;        # "file:/a/b", "folder:/a", "zone:eng", "group:eng", "tool:grep"
  expiresAtNs @3 :Int64;  # Unix ns; 0: never
  zone @4 :Text;          # listing label; empty: the object's zone
  expired @5 :Bool;       # in results: no longer grants
}

struct RebacExplanation {
  allowed @0 :Bool;
  reason @1 :Text;             # empty when allowed; "no tuple", "expired", "depth limit", "cycle", "other zone"
  path @2 :List(RebacTuple);   # granting tuples from the object side to the subject
  validUntilNs @3 :Int64;      # 0: never expires
  message @4 :Text;
}

struct IdentityBinding {
  uid @0 :UInt32;
  subject @1 :Text;
}

struct AuditEntry {
  timeNs @0 :Int64;
  subject @1 :Text;
  operation @2 :Text;
  object @3 :Text;
  allowed @4 :Bool;
  reason @5 :Text;
}

# Tuples, checks and their explanation, identities and the audit log.
# Writing tuples on an object needs `manage` on it (admins may write any).
# Reading (check, explain, expand, list) is open to admins, and to others
# about themselves or about objects they manage.
interface Permissions {
  # Deletes apply before adds, in one transaction. With expectRevision != 0
  # the write fails with `conflict` unless that is the current revision.
  write @0 (adds :List(RebacTuple), deletes :List(RebacTuple), expectRevision :UInt64) -> (revision :UInt64, error :Error);
  # zone (check, explain, list): empty means every zone; else the answer is
  # scoped to that zone: an object outside it (not under /zone/NAME, no
  # tuple on it labelled NAME) is denied (reason "other zone"), a listing
  # holds only tuples labelled NAME. A zone the caller cannot know of (not
  # root, no /zone/NAME it sees, named by no tuple) is `notFound`.
  check @1 (subject :Text, access :Text, object :Text, zone :Text) -> (allowed :Bool, error :Error);
  explain @2 (subject :Text, access :Text, object :Text, zone :Text) -> (explanation :RebacExplanation, error :Error);
  # Filters: empty text means any.
  list @3 (subjectType :Text, subjectId :Text, objectType :Text, objectId :Text, relation :Text, includeExpired :Bool, limit :UInt32, zone :Text) -> (tuples :List(RebacTuple), truncated :Bool, error :Error);
  listObjects @4 (access :Text, subject :Text, objectType :Text) -> (objects :List(Text), error :Error);
  # `subjects`: everyone holding it, flattened; `tree`: the same as indented text.
  expand @5 (access :Text, object :Text) -> (subjects :List(Text), tree :Text, error :Error);
  # Grants `role` (viewer|editor|owner) on PATH (file: or folder: by what is
  # there) to the subject; ttlSeconds 0: no expiry.
  share @6 (path :Text, subject :Text, role :Text, ttlSeconds :UInt64) -> (tuple :RebacTuple, revision :UInt64, error :Error);
  # Removes the subject's viewer/editor/owner tuples on PATH (only `role`
  # if set); notFound if there were none.
  unshare @7 (path :Text, subject :Text, role :Text) -> (removed :UInt32, revision :UInt64, error :Error);
  # public: `user:*#viewer` on PATH; private removes it.
  setPublic @8 (path :Text, public :Bool) -> (revision :UInt64, error :Error);
  bindIdentity @9 (uid :UInt32, subject :Text) -> (error :Error);
  unbindIdentity @10 (uid :UInt32) -> (error :Error);
  listIdentities @11 () -> (bindings :List(IdentityBinding), adminSubject :Text, error :Error);
  # Oldest first; sinceNs 0: from the start; subject empty: everyone.
  auditList @12 (sinceNs :Int64, subject :Text, deniedOnly :Bool, limit :UInt32) -> (entries :List(AuditEntry), dropped :UInt64, error :Error);
  # format "jsonl" or "csv"; the whole matching log as text.
  auditExport @13 (format :Text, sinceNs :Int64, subject :Text) -> (data :Data, error :Error);
  # The tuple revision and count.
  info @14 () -> (revision :UInt64, tuples :UInt64, cacheHits :UInt64, cacheMisses :UInt64, error :Error);
  # Shares: viewer/editor/owner tuples on files and folders. incoming: those
  # naming `subject` directly; outgoing: those on objects `subject` manages
  # naming someone else. `subject` empty: the caller; another subject is
  # for admins (else permissionDenied). zone as for list; limit as for list.
  shares @15 (outgoing :Bool, subject :Text, zone :Text, limit :UInt32) -> (tuples :List(RebacTuple), truncated :Bool, error :Error);
}

# ---------------------------------------------------------------- mounts

struct SubjectMount {
  mountpoint @0 :Text;
  subject @1 :Text;   # every call on this mount acts as this subject
  root @2 :Text;      # the namespace path shown as the mount's root
  createdNs @3 :Int64;
  cachesNames @4 :Bool;  # the kernel caches names (revalidated when access changes)
}

interface Mounts {
  # Mounts the namespace subtree `root` ("" = "/") at `mountpoint` (an
  # existing empty directory) for `subject`. Admin only. `cacheNames`: let
  # the kernel cache names, revalidating them all whenever the subject's
  # access changes (faster path walks; needs Linux 6.16+, else ignored;
  # a mount made inside this one is detached when its name is revalidated).
  add @0 (mountpoint :Text, subject :Text, root :Text, cacheNames :Bool) -> (mount :SubjectMount, error :Error);
  list @1 () -> (mounts :List(SubjectMount), error :Error);
  remove @2 (mountpoint :Text) -> (error :Error);
}

# ---------------------------------------------------------------- mesh

# Who a standby director acts for when it forwards a mesh call
# (Nexus.meshForward): the caller as the standby authenticated it.
struct MeshCaller {
  subject @0 :Text;             # "user:alice", "agent:a1", "user:uid-1000"
  keyId @1 :Text;               # the API key's id; empty for peer credentials
  admin @2 :Bool;
  canSubmitTasks @3 :Bool;      # the key's mesh entitlements
  hourlyTaskQuota @4 :Int32;    # 0: none
}

# A node credential: shown once, at registration or rotation.
struct MeshCredential {
  nodeId @0 :Text;
  credential @1 :Text;    # "nxn_" + 64 hex; only its SHA-256 is stored
  fingerprint @2 :Text;   # "sha256:" + 16 hex, safe to display
}

struct MeshNodeInfo {
  id @0 :Text;            # "n-<k>"
  name @1 :Text;
  address @2 :Text;
  capacity @3 :Int64;
  trust @4 :Text;         # trusted | untrusted
  state @5 :Text;         # ready | drained | down | revoked
  fingerprint @6 :Text;
  queueDepth @7 :Int64;
  freeCapacity @8 :Int64;
  activeTasks @9 :Int64;
  registeredAtNs @10 :Int64;
  lastHeartbeatNs @11 :Int64;
  zones @12 :List(Text);       # the zones it reported (sorted)
  zonesReported @13 :Bool;     # false: an older node; taken to have every zone
  maySubmit @14 :Bool;         # may submit tasks itself (Mesh.setNodeSubmit)
  submitHourlyQuota @15 :UInt32;  # 0: no limit
}

struct MeshTaskSpec {
  name @0 :Text;
  command @1 :Text;          # run with /bin/sh -c in the worker's sandbox
  zone @2 :Text;             # bound read-write at /zone
  requiredTrust @3 :Text;    # trusted (default, also when empty) | untrusted
  maxAttempts @4 :Int32;     # 0: the default (3)
  allowNetwork @5 :Bool;
  # Files of the zone (relative paths) the worker uploads with the result
  # as files/<path>; limits in docs/mesh.md.
  outputs @6 :List(Text);
}

struct MeshTask {
  id @0 :Text;               # "t-<k>"
  spec @1 :MeshTaskSpec;
  submitter @2 :Text;        # API key id ("" for the operator)
  state @3 :Text;            # pending | assigned | running | succeeded | failed | cancelled
  nodeId @4 :Text;
  nodeAddress @5 :Text;
  leaseToken @6 :Text;       # only when handed to its holder (schedule, migrate, claim)
  leaseExpiresNs @7 :Int64;
  attempts @8 :Int32;
  notBeforeNs @9 :Int64;
  reason @10 :Text;
  progress @11 :Text;
  checkpointRef @12 :Text;
  hasResult @13 :Bool;
  createdAtNs @14 :Int64;
  updatedAtNs @15 :Int64;
  onBehalfOf @16 :Text;      # a node's submission: who there asked ("" otherwise)
}

struct MeshFile {
  name @0 :Text;             # no "/"
  content @1 :Data;
}

# A declared output the worker could not collect, and why.
struct MeshMissingOutput {
  path @0 :Text;
  reason @1 :Text;
}

struct MeshResultFile {
  name @0 :Text;             # stdout, stderr, files/<name>
  size @1 :UInt64;
  sha256 @2 :Text;           # hex
}

struct MeshResult {
  taskId @0 :Text;
  exitCode @1 :Int32;
  completedAtNs @2 :Int64;
  files @3 :List(MeshResultFile);
  missing @4 :List(MeshMissingOutput);
}

# The operator's view. Fleet and task methods need this daemon to be the
# director (`unavailable` otherwise) and, except creating and reading
# tasks, an admin session. Lease-holder methods (start ... migrate) need
# the task's current lease token: a wrong, stale or expired one is
# `conflict`.
interface Mesh {
  # With several directors on etcd: store ("sqlite" | "etcd"), this
  # daemon's role ("leader" | "standby" | "node"), the leader's address,
  # the standbys' addresses and etcd's health as a JSON object (etcdJson).
  status @0 () -> (director :Bool, worker :Bool, nodeId :Text, directorAddress :Text, fingerprint :Text, nodes :UInt32, tasks :UInt32, error :Error, store :Text, role :Text, leader :Text, standbys :List(Text), etcdJson :Text);
  nodes @1 () -> (nodes :List(MeshNodeInfo), error :Error);
  trust @2 (node :Text, trusted :Bool) -> (error :Error);
  revoke @3 (node :Text) -> (error :Error);
  admit @4 (node :Text) -> (error :Error);
  drain @5 (node :Text) -> (error :Error);
  createTask @6 (spec :MeshTaskSpec) -> (task :MeshTask, error :Error);
  listTasks @7 () -> (tasks :List(MeshTask), error :Error);
  getTask @8 (id :Text) -> (task :MeshTask, error :Error);
  # Places one task; with an empty id, every pending task.
  schedule @9 (id :Text) -> (placements :List(MeshTask), pending :UInt32, error :Error);
  start @10 (id :Text, token :Text) -> (error :Error);
  progress @11 (id :Text, token :Text, progress :Text, checkpoint :Text) -> (error :Error);
  extend @12 (id :Text, token :Text, ttlSeconds :Float64) -> (leaseExpiresNs :Int64, error :Error);
  complete @13 (id :Text, token :Text, exitCode :Int32, stdout :Data, stderr :Data, files :List(MeshFile), missing :List(MeshMissingOutput)) -> (task :MeshTask, error :Error);
  fail @14 (id :Text, token :Text, reason :Text) -> (task :MeshTask, error :Error);
  migrate @15 (id :Text, token :Text, checkpoint :Text) -> (task :MeshTask, error :Error);
  retry @16 (id :Text) -> (task :MeshTask, error :Error);
  cancel @17 (id :Text) -> (task :MeshTask, error :Error);
  result @18 (id :Text) -> (result :MeshResult, error :Error);
  resultFile @19 (id :Text, name :Text) -> (content :Data, sha256 :Text, error :Error);
  # On a node: join the director at `director` (HOST:PORT, TLS, its
  # certificate checked against `caFile` on this host) as `name`.
  join @20 (director :Text, registrationKey :Text, caFile :Text, name :Text, capacity :Int64) -> (nodeId :Text, fingerprint :Text, error :Error);
  # On a node: a new credential from the director; the old one is refused
  # from then on.
  rotateCredential @21 () -> (nodeId :Text, fingerprint :Text, error :Error);
  # Whether node `node` may submit tasks itself (a workflow's `task` action
  # there), at most `hourlyQuota` in any sliding hour (0: no limit).
  # Admins only, on the director.
  setNodeSubmit @22 (node :Text, allowed :Bool, hourlyQuota :UInt32) -> (error :Error);
}

# A joined node's session with the director.
interface MeshNode {
  # `nodeKey`: as in Nexus.meshRegister; the director keeps the latest.
  # `zones`: as in Nexus.meshRegister; the director stores a change.
  heartbeat @0 (queueDepth :Int64, freeCapacity :Int64, nodeKey :Data, zones :List(Text), reportsZones :Bool) -> (state :Text, trust :Text, error :Error);
  rotateCredential @1 () -> (credential :MeshCredential, error :Error);
  # Tasks placed on this node whose lease tokens it has not been given yet.
  claim @2 () -> (tasks :List(MeshTask), error :Error);
  start @3 (id :Text, token :Text) -> (error :Error);
  progress @4 (id :Text, token :Text, progress :Text, checkpoint :Text) -> (error :Error);
  extend @5 (id :Text, token :Text, ttlSeconds :Float64) -> (leaseExpiresNs :Int64, error :Error);
  complete @6 (id :Text, token :Text, exitCode :Int32, stdout :Data, stderr :Data, files :List(MeshFile), missing :List(MeshMissingOutput)) -> (task :MeshTask, error :Error);
  fail @7 (id :Text, token :Text, reason :Text) -> (task :MeshTask, error :Error);
  # The node is shutting down: the director counts it down at once, so
  # nothing more is placed on it (its next heartbeat makes it ready again).
  leave @8 () -> (error :Error);
  # Passport revocations made on this node; the director records them
  # under this node's name (the `node` given is ignored) and keeps the
  # latest instant per agent.
  reportRevocations @9 (revocations :List(PassportRevocation)) -> (error :Error);
  # The mesh's passport trust root: every node's identity key (but revoked
  # nodes') and the revocations nodes reported.
  trustSet @10 () -> (keys :List(MeshNodeKey), revocations :List(PassportRevocation), error :Error);
  # A task this node submits for `onBehalfOf` (a workflow and its owner
  # here), if the operator allowed the node to (Mesh.setNodeSubmit; else
  # permissionDenied), under the node's hourly quota (resourceExhausted).
  submitTask @11 (spec :MeshTaskSpec, onBehalfOf :Text) -> (task :MeshTask, error :Error);
}

# A node's passport signing key, as the director keeps it.
struct MeshNodeKey {
  nodeId @0 :Text;     # "n-<k>", or "director"
  node @1 :Text;       # the node's name: what its passports' `node` claim says
  publicKey @2 :Data;  # raw Ed25519, 32 bytes
  keyId @3 :Text;
}

# Passports of `agentId` issued on `node` before `revokedBeforeNs` are revoked.
struct PassportRevocation {
  agentId @0 :Text;
  node @1 :Text;
  revokedBeforeNs @2 :Int64;
}

# ---------------------------------------------------------------- agents

# One entry of an agent's free string metadata.
struct AgentMetadata {
  key @0 :Text;
  value @1 :Text;
}

# An agent's registry record (perms/agent_registry.h), read at the moment
# of the reply.
struct AgentRecord {
  id @0 :Text;                  # without "agent:"
  name @1 :Text;
  description @2 :Text;
  owner @3 :Text;               # the subject that owns it: "user:alice"
  metadata @4 :List(AgentMetadata);  # sorted by key
  phase @5 :Text;               # REGISTERED, CONNECTED, IDLE, BUSY, DISCONNECTED, SUSPENDED
  generation @6 :UInt64;        # 1 at registration, +1 per register/update/transition
  stale @7 :Bool;               # live phase, no sign of life within the heartbeat window
  createdAtNs @8 :Int64;        # Unix ns
  updatedAtNs @9 :Int64;
  lastHeartbeatNs @10 :Int64;   # 0: never
  connectedAtNs @11 :Int64;     # when it last became live; 0 while not live
}

# The agent registry. Every `id` is "ID" or "agent:ID". Anyone may
# register (the caller becomes the owner; an admin may name another) and
# read (get, list); only the owner or an admin may update, transition or
# delete; heartbeats come from the agent itself, its owner or an admin.
interface Agents {
  register @0 (id :Text, name :Text, description :Text, metadata :List(AgentMetadata), owner :Text) -> (agent :AgentRecord, error :Error);
  # Changes what is given: `name` when not empty, `description` when
  # `setDescription`, each entry of `metadata` set, each key of
  # `removeMetadata` removed. Bumps the generation.
  update @1 (id :Text, name :Text, description :Text, setDescription :Bool, metadata :List(AgentMetadata), removeMetadata :List(Text)) -> (agent :AgentRecord, error :Error);
  get @2 (id :Text) -> (agent :AgentRecord, error :Error);
  # Sorted by id. Filters: empty means any; `owner` is a subject as
  # stored ("user:alice"), `phase` a phase name in any case.
  list @3 (owner :Text, phase :Text) -> (agents :List(AgentRecord), error :Error);
  # A sign of life: changes neither phase nor generation; `permissionDenied`
  # for a SUSPENDED agent.
  heartbeat @4 (id :Text) -> (error :Error);
  # Moves the agent to `phase` (by the lifecycle table). With
  # `expectedGeneration` != 0 it is a compare-and-set: `conflict` (with
  # the current generation in the message) unless the agent is at it.
  transition @5 (id :Text, phase :Text, expectedGeneration :UInt64) -> (agent :AgentRecord, error :Error);
  delete @6 (id :Text) -> (error :Error);

  # Identity and passports (docs/agents.md). `identity` and `credentials`
  # are for the agent itself, its owner and admins; `passport` and
  # `revokePassports` for its owner and admins; `verifyPassport` and
  # `nodeKey` for everyone.
  identity @7 (id :Text) -> (identity :AgentIdentity, error :Error);
  credentials @8 (id :Text) -> (credentials :AgentCredentials, error :Error);
  # Issues a passport signed by this node's key. ttlSeconds 0: an hour (at
  # most 7 days). `scopes` empty: the paths the agent holds grants on.
  passport @9 (id :Text, ttlSeconds :UInt32, scopes :List(Text)) -> (passport :Text, claims :PassportClaims, keyId :Text, error :Error);
  # Checks signature, expiry and revocation: `malformed`, `untrusted`,
  # `expired` or `revoked` with the reason. `trust` (a public key, base64
  # or PEM) replaces the daemon's trust set: its own key and, in a mesh,
  # the director's key set. `revocation` says how revocation was checked.
  verifyPassport @10 (passport :Text, trust :Text) -> (claims :PassportClaims, keyId :Text, revocation :Text, error :Error);
  # Revokes every passport of the agent issued on this node until now.
  # `reported`: the mesh director has recorded it (false without a mesh, or
  # while the director is unreachable: it is reported later).
  revokePassports @11 (id :Text) -> (revokedBeforeNs :Int64, reported :Bool, error :Error);
  # This node's identity key and name.
  nodeKey @12 () -> (key :NodeKeyInfo, error :Error);
}

# A summary of the ReBAC tuples naming a subject, per relation.
struct GrantSummary {
  relation @0 :Text;
  count @1 :UInt32;
  objects @2 :List(Text);  # the first few, sorted
}

# What `identity show` reports about an agent; never a secret.
struct AgentIdentity {
  subject @0 :Text;            # "agent:ID"
  owner @1 :Text;
  phase @2 :Text;
  keys @3 :List(ApiKey);       # API keys of the subject, without secrets
  uids @4 :List(UInt32);       # local uids bound to the subject
  grants @5 :List(GrantSummary);
  grantCount @6 :UInt32;       # tuples naming the subject (unexpired)
}

# What an agent can authenticate with; never a secret.
struct AgentCredentials {
  subject @0 :Text;
  keys @1 :List(ApiKey);
  uids @2 :List(UInt32);
  nodeKeyId @3 :Text;          # the key this node signs its passports with
  node @4 :Text;
}

# The claims of a passport (perms/passport.h).
struct PassportClaims {
  agentId @0 :Text;
  owner @1 :Text;
  node @2 :Text;
  scopes @3 :List(Text);
  issuedAtNs @4 :Int64;
  expiresAtNs @5 :Int64;
}

# A node's passport signing key.
struct NodeKeyInfo {
  keyId @0 :Text;
  publicKey @1 :Text;     # base64 of the 32 raw bytes (what --trust takes)
  publicKeyPem @2 :Text;  # the same as a PEM "PUBLIC KEY"
  node @3 :Text;          # this node's name (the `node` claim it signs)
}

# ---------------------------------------------------------------- ipc

# One message of an agent's mailbox (agents/mailbox.h): the file
# /agents/<to>/<inbox|processed|dead_letter>/<name> and its index entry.
struct IpcMessage {
  id @0 :Text;              # "msg-" + 16 hex digits of its send time (ns)
  to @1 :Text;              # the recipient agent's id, without "agent:"
  from @2 :Text;            # the sender's subject: "agent:a1", "user:alice"
  name @3 :Text;            # the file's name in its folder (the id, for `send`)
  timeNs @4 :Int64;         # when it was sent (Unix ns)
  ttlSeconds @5 :Int64;     # 0: never expires
  expiresAtNs @6 :Int64;    # 0: never
  state @7 :Text;           # "inbox", "processed" or "dead"
  seq @8 :UInt64;           # send order
  clientId @9 :Text;        # the sender's dedup id; empty: none
  body @10 :Data;           # any bytes; empty in `ack`'s reply
  path @11 :Text;           # where the file is on the mount
}

# Durable per-agent mailboxes. Every `id` and `to` is "ID" or "agent:ID";
# an unregistered one is `notFound`. Sending to TO needs write on
# /agents/TO/inbox, checked for `from` (default: the session's subject;
# else an agent the session may act as); a refusal is `permissionDenied`
# and leaves nothing behind. Reading and acking act as the session: a
# mailbox it may not see is `notFound`. Reading does not consume; `ack`
# does.
interface Ipc {
  # `hasTtl` false: the daemon's default TTL; `ttlSeconds` 0: never
  # expires. A repeated `clientId` from the same sender returns the message
  # as first sent.
  send @0 (to :Text, body :Data, from :Text, ttlSeconds :Int64, hasTtl :Bool, clientId :Text) -> (message :IpcMessage, error :Error);
  # The inbox in send order. With `waitSeconds` > 0 (at most 3600) an
  # empty inbox is waited on: the reply comes as soon as a message
  # arrives, or empty when the wait runs out.
  inbox @1 (id :Text, waitSeconds :Float64) -> (messages :List(IpcMessage), error :Error);
  # Unacked, unexpired messages.
  count @2 (id :Text) -> (count :UInt64, error :Error);
  # Moves the message (its id, or its file name) to processed/.
  ack @3 (id :Text, messageId :Text) -> (message :IpcMessage, error :Error);
  # Expired (or otherwise undeliverable) messages, in send order.
  dead @4 (id :Text) -> (messages :List(IpcMessage), error :Error);
}

# ---------------------------------------------------------------- delegation

# FROM held `permission` (read, write, manage) on `path` and below it when a
# copy delegation was made.
struct DelegationSnapshotEntry {
  path @0 :Text;
  permission @1 :Text;
}

# A delegation (perms/delegation.h), as stored, with its state at the reply.
struct Delegation {
  id @0 :Text;                  # "dlg-" and 12 hex digits
  from @1 :Text;                # the delegating subject: "user:alice"
  to @2 :Text;                  # the delegate: "agent:helper"
  scope @3 :List(Text);         # globs
  mode @4 :Text;                # copy, clean or shared
  relation @5 :Text;            # viewer or editor; empty: no cap (copy, shared)
  readonly @6 :List(Text);      # globs under which writes are refused
  createdAtNs @7 :Int64;        # Unix ns
  expiresAtNs @8 :Int64;        # 0: never
  maxDepth @9 :UInt32;          # how many more levels may be delegated from it
  depth @10 :UInt32;            # 0: made from FROM's own grants
  parent @11 :Text;             # the delegation FROM acted under; empty: none
  createdBy @12 :Text;          # the subject that created it
  revokedAtNs @13 :Int64;       # 0: not revoked
  revokedBy @14 :Text;
  state @15 :Text;              # active, expired or revoked
  snapshot @16 :List(DelegationSnapshotEntry);  # copy only
}

# Delegations. Subjects are "ID" (an agent), "agent:ID" or "user:ID".
# create: FROM is the caller, an agent the caller owns, or anyone for an
# admin; revoke: the creator, FROM, FROM's owner or an admin; reading: the
# parties (and those of the delegations it was made from) and admins, others
# get `notFound`.
interface Delegations {
  # `mode` in any case, empty for clean; `relation` empty for the default
  # (viewer for clean, no cap otherwise); `ttlSeconds` when `hasTtl`.
  # `permissionDenied` when FROM does not hold what is delegated, or beyond
  # the max depth of the delegation FROM acts under.
  create @0 (from :Text, to :Text, scope :List(Text), mode :Text, relation :Text, readonly :List(Text), hasTtl :Bool, ttlSeconds :Float64, maxDepth :UInt32) -> (delegation :Delegation, error :Error);
  # Oldest first; filters empty for any.
  list @1 (from :Text, to :Text) -> (delegations :List(Delegation), error :Error);
  show @2 (id :Text) -> (delegation :Delegation, error :Error);
  # The delegations it was made from (the first first), itself, then every
  # delegation made from it, depth first.
  chain @3 (id :Text) -> (delegations :List(Delegation), error :Error);
  # Revokes it and everything made from it; `revoked` lists their ids.
  revoke @4 (id :Text) -> (revoked :List(Text), error :Error);
}

# ---------------------------------------------------------------- tools

# An MCP tool profile (docs/mcp.md): a named set of tools, built on the
# profiles it inherits.
struct ToolProfile {
  name @0 :Text;
  description @1 :Text;
  inherits @2 :List(Text);  # the profiles it includes, as written
  tools @3 :List(Text);     # the tools it adds itself
  allTools @4 :List(Text);  # its own and every inherited tool, sorted
}

# Tool profiles are ReBAC grants: a subject may use tool NAME when it has
# read on `tool:NAME` (object path /tools/NAME). A subject with no grant on
# any known tool uses the default profile instead.
interface Tools {
  # Every profile, the default one's name, and where the profiles came from
  # (the built-in set, plus the operator's file when configured).
  profiles @0 () -> (profiles :List(ToolProfile), defaultProfile :Text, source :Text, error :Error);
  # One profile; `notFound` for an unknown name.
  profile @1 (name :Text) -> (profile :ToolProfile, error :Error);
  # Gives `subject` exactly the profile's tools: `viewer` tuples on each
  # `tool:NAME` (labelled with `zone` when set), and removes its other
  # direct tool grants, in one ReBAC write. Needs manage on folder:/tools.
  assign @2 (subject :Text, profile :Text, zone :Text) -> (granted :List(Text), removed :List(Text), revision :UInt64, error :Error);
  # What `subject` may use: its tools (granted directly or inherited),
  # whether they are the default profile's, the profile whose tool set
  # they equal (empty if none), and its direct tool tuples (only those
  # labelled `zone` when set). The subject itself, its owner or an admin.
  inspect @3 (subject :Text, zone :Text) -> (tools :List(Text), defaulted :Bool, profile :Text, grants :List(RebacTuple), error :Error);
  # Of `names`, those the session's subject may use, in the given order,
  # by the same rule; `revision` is the ReBAC revision of the answer. The
  # hot path of an MCP server's tools/list and tools/call.
  visible @4 (names :List(Text)) -> (visible :List(Text), defaulted :Bool, revision :UInt64, error :Error);
}

# ---------------------------------------------------------------- operations

# One mutation of the tree, as the operations log holds it. Paths are
# namespace paths ("/src/a.c", "/zone/local/x").
struct OpRecord {
  id @0 :Int64;            # 1, 2, 3, ... in log order; also the cursor
  timeNs @1 :Int64;        # when it happened (Unix ns)
  kind @2 :Text;           # create write truncate rename link symlink unlink
                           # mkdir rmdir chmod chown setxattr removexattr
                           # restore rollback
  path @3 :Text;           # what it changed (a rename: the new path)
  oldPath @4 :Text;        # rename: the old path; link: the existing name
  subject @5 :Text;        # the acting subject ("agent:ID", "user:NAME")
  uid @6 :UInt32;
  pid @7 :Int32;
  command @8 :Text;        # the process's command, or the session's label
  agentId @9 :Text;        # NEXUS_AGENT_ID of the process
  taskId @10 :Text;        # NEXUS_TASK_ID of the process
  versionBefore @11 :UInt32;  # 0: none
  versionAfter @12 :UInt32;   # 0: none
  detail @13 :Text;        # kind-specific facts as a JSON object ("" none):
                           # modes, owners, sizes, xattr names and values
}

# Which operations: every set field must match (AND); empty/0 is "any".
struct OpFilter {
  sinceNs @0 :Int64;
  untilNs @1 :Int64;
  path @2 :Text;       # the path or anything below it (either path of a rename)
  subject @3 :Text;
  agentId @4 :Text;
  taskId @5 :Text;
  kind @6 :Text;
  ids @7 :List(Int64); # exactly these operations
}

# Implemented by the client of a watch.
interface OpSink {
  # The next operations, in log order. Flow-controlled: the daemon sends
  # the next batch once this one returned.
  ops @0 (ops :List(OpRecord)) -> stream;
  # The watcher could not keep up (or its cursor is older than the log
  # keeps): the stream ends; resume with watch(sinceCursor = resumeCursor).
  fellBehind @1 (resumeCursor :Int64, reason :Text) -> ();
}

# What undo would do or did for one operation.
struct UndoStep {
  opId @0 :Int64;
  action @1 :Text;     # restore-content recreate rename-back remove rmdir
                       # mkdir chmod chown setxattr removexattr none
  path @2 :Text;
  toPath @3 :Text;     # rename-back: where it goes back to
  version @4 :UInt32;  # restore-content/recreate: the version written back
  status @5 :Text;     # planned done conflict failed skipped
  reason @6 :Text;     # why, for conflict/failed/skipped
}

struct UndoReport {
  steps @0 :List(UndoStep);   # newest operation first, as applied
  applied @1 :UInt32;
  conflicts @2 :UInt32;
  failed @3 :UInt32;
  skipped @4 :UInt32;
  dryRun @5 :Bool;
}

# The operations log (docs/operations.md). Non-admins see only operations
# on paths they may see now, and only their own unless granted.
interface Ops {
  # Newest first. `beforeId` 0 starts at the newest; the next page is
  # beforeId = nextBeforeId (0: no more). `limit` 0: 1000.
  log @0 (filter :OpFilter, beforeId :Int64, limit :UInt32) -> (ops :List(OpRecord), nextBeforeId :Int64, error :Error);
  # Streams the operations after `sinceCursor` (0: from now; -1: from the
  # oldest kept) under `path` ("" or "/": all) to `sink`, then the new ones
  # as they are logged, until the client drops `subscription`. `cursor` is
  # the newest id at the time of the call.
  watch @1 (path :Text, sinceCursor :Int64, sink :OpSink) -> (subscription :Subscription, cursor :Int64, error :Error);
  # Undoes the selected operations, newest first (the selection is `filter`;
  # at least one of ids, agentId, taskId or subject must be set). Conflicts
  # are left alone unless `force`. `progress` (optional) hears steps done.
  undo @2 (filter :OpFilter, dryRun :Bool, force :Bool, progress :Progress) -> (report :UndoReport, error :Error);
  # Drops operations older than `keepDays` (0: the daemon's
  # --oplog-keep-days). Admin only.
  gc @3 (keepDays :UInt32) -> (removed :UInt64, oldestId :Int64, error :Error);
  # Counts and bounds of the log.
  stats @4 () -> (operations :UInt64, oldestId :Int64, newestId :Int64, oldestNs :Int64, keepDays :UInt32, error :Error);
}

# ---------------------------------------------------------------- forks

struct ForkInfo {
  name @0 :Text;
  path @1 :Text;          # "/forks/NAME"
  base @2 :Text;          # the namespace path it was forked from
  parentFork @3 :Text;    # the fork `base` lies in, "" if none
  owner @4 :Text;         # subject
  createdBy @5 :Text;     # subject
  createdAtNs @6 :Int64;
  pin @7 :Text;           # "live" (source pinned lazily) or "copy" (copied at creation)
  state @8 :Text;         # "active" or "discarded"
  ownBytes @9 :UInt64;    # data the fork holds of its own
  merges @10 :UInt32;
  lastMergeNs @11 :Int64;
}

# One changed file of a fork against its fork point.
struct ForkChange {
  path @0 :Text;          # fork-relative; the old path for "deleted"
  oldPath @1 :Text;       # "renamed": the path at the fork point
  kind @2 :Text;          # "added", "deleted", "modified", "renamed"
  mode @3 :UInt32;        # st_mode now (0: deleted)
  oldMode @4 :UInt32;     # st_mode at the fork point (0: added)
  contentChanged @5 :Bool;
  binary @6 :Bool;
  insertions @7 :UInt32;
  deletions @8 :UInt32;
}

struct ConflictHunk {
  baseStart @0 :UInt32;
  baseLines @1 :UInt32;
  oursStart @2 :UInt32;
  oursLines @3 :UInt32;
  theirsStart @4 :UInt32;
  theirsLines @5 :UInt32;
  text @6 :Text;          # with git-style conflict markers
}

struct MergeConflict {
  path @0 :Text;
  kind @1 :Text;          # "content", "binary", "modify/delete", "delete/modify", "add/add", "rename/rename", "rename/delete", "type"
  hunks @2 :List(ConflictHunk);
  resolvedBy @3 :Text;    # "", "ours", "theirs"
}

struct MergeEntry {
  path @0 :Text;
  oldPath @1 :Text;
  action @2 :Text;        # "write", "delete", "rename", "mkdir", "rmdir", "chmod", "symlink"
  how @3 :Text;           # "fork", "merged", "ours", "theirs"
}

struct MergeReport {
  dryRun @0 :Bool;
  applied @1 :Bool;
  entries @2 :List(MergeEntry);
  conflicts @3 :List(MergeConflict);
  taskId @4 :Text;        # the task id the merge's operations carry (nexus undo --task)
}

# Forks (docs/forks.md). Creating needs read on `from`; the creator (or
# `forSubject`) owns the fork. A non-admin sees the forks it may read.
# Merging needs write on every changed path of the base.
interface Forks {
  create @0 (name :Text, from :Text, forSubject :Text) -> (fork :ForkInfo, error :Error);
  list @1 () -> (forks :List(ForkInfo), error :Error);
  info @2 (name :Text) -> (fork :ForkInfo, error :Error);
  # `patch` false: counts only (--stat, --name-only); `unifiedDiff` is then "".
  diff @3 (name :Text, patch :Bool) -> (changes :List(ForkChange), unifiedDiff :Text, error :Error);
  # `strategy`: "" (conflicts are not written), "ours" (the base's side) or
  # "theirs" (the fork's side); `paths`: globs over fork-relative paths.
  merge @4 (name :Text, dryRun :Bool, strategy :Text, paths :List(Text)) -> (report :MergeReport, error :Error);
  # The fork's paths vanish at once; its data stays until gc.
  discard @5 (name :Text) -> (error :Error);
  # Removes discarded forks' data. Admin only.
  gc @6 () -> (removed :UInt32, freedBytes :UInt64, error :Error);
}

# ---------------------------------------------------------------- sandboxes

# Resource limits of a sandbox; 0 is "no limit".
struct SandboxLimits {
  memoryBytes @0 :UInt64;
  cpus @1 :Float64;
  pids @2 :UInt32;
}

struct SandboxInfo {
  id @0 :Text;            # "sb-" + 8 hex digits
  name @1 :Text;
  subject @2 :Text;       # who runs in it: the creating session's subject
  root @3 :Text;          # the namespace path shown at /workspace
  provider @4 :Text;      # "bwrap"
  state @5 :Text;         # "running", "stopped" or "expired"
  createdAtNs @6 :Int64;
  expiresAtNs @7 :Int64;  # 0: no TTL
  endedAtNs @8 :Int64;    # 0: still running
  network @9 :Bool;
  limits @10 :SandboxLimits;
  uid @11 :UInt32;        # the uid its processes run as
  gid @12 :UInt32;
}

# A sandbox provider and whether it can run sandboxes on this node.
struct SandboxProvider {
  name @0 :Text;
  available @1 :Bool;
  detail @2 :Text;        # why not, when unavailable
}

# Implemented by the client of Sandboxes.run: the command's output, live.
interface SandboxOutput {
  # A chunk of output; `stream` 1 is stdout, 2 stderr. Flow-controlled: a
  # client that reads slowly slows the command's writes down.
  write @0 (stream :UInt8, data :Data) -> stream;
}

# Local sandboxes (docs/sandboxes.md). A sandbox belongs to the subject of
# the session that created it (the agent with `actAs`); that subject and
# admins see, run in and stop it; others get `notFound`.
interface Sandboxes {
  # Starts one. `root` "" is /zone/local; `provider` "" the default one.
  # `invalidArgument` bad name, limits or TTL; `alreadyExists` a running
  # sandbox has the name; `unavailable` the provider, or limits, cannot be
  # had here; `permissionDenied`/`notFound` the subject cannot see `root`.
  create @0 (name :Text, root :Text, provider :Text, network :Bool, limits :SandboxLimits, ttlSeconds :UInt32) -> (sandbox :SandboxInfo, error :Error);
  # The caller's sandboxes (an admin's: all), running first.
  list @1 () -> (sandboxes :List(SandboxInfo), error :Error);
  # By id or by the name of a running sandbox.
  info @2 (id :Text) -> (sandbox :SandboxInfo, error :Error);
  # Runs `command` with /bin/sh -c in the sandbox, in /workspace, with
  # `env` (K=V) added. With `output` set, stdout and stderr go there as they
  # come and the reply's `stdout`/`stderr` are empty; without it they come
  # in the reply (up to 1 MiB each; `truncated` when more was dropped).
  # `timeoutSeconds` 0: none; on timeout the command is killed, `timedOut`
  # is set and `exitCode` is 137. `notFound` no such sandbox; `conflict` it
  # is not running.
  run @3 (id :Text, command :Text, env :List(Text), timeoutSeconds :Float64, output :SandboxOutput) -> (exitCode :Int32, timedOut :Bool, stdout :Data, stderr :Data, truncated :Bool, error :Error);
  # Kills every process in it and unmounts its /workspace.
  stop @4 (id :Text) -> (sandbox :SandboxInfo, error :Error);
  # The providers this daemon has and whether each can run here.
  providers @5 () -> (providers :List(SandboxProvider), error :Error);
}

# ---------------------------------------------------------------- workflows

# A loaded workflow (workflows/engine.h). Visible to its owner and admins.
struct WorkflowInfo {
  name @0 :Text;
  version @1 :Text;
  description @2 :Text;
  owner @3 :Text;              # the subject that loaded it; its actions act as it
  enabled @4 :Bool;
  source @5 :Text;             # the file it was loaded from
  yaml @6 :Text;               # the file's text
  loadedAtNs @7 :Int64;
  triggers @8 :List(Text);     # "file_write /zone/local/inbox/*", "schedule 0 * * * *"
  actions @9 :List(Text);      # "NAME (TYPE)"
  runs @10 :UInt64;            # runs since loaded (the history keeps the last ones)
  dropped @11 :UInt64;         # triggers dropped because the queue was full
  lastRunNs @12 :Int64;        # 0: never ran
  lastStatus @13 :Text;        # "succeeded", "failed", or "" before the first run
}

# One run of a workflow.
struct WorkflowRun {
  id @0 :UInt64;
  trigger @1 :Text;
  path @2 :Text;               # the triggering path; "" for a schedule
  triggeredAtNs @3 :Int64;     # the event (a close) or the schedule's minute
  startedAtNs @4 :Int64;       # the first action's start
  durationNs @5 :Int64;
  status @6 :Text;             # "succeeded" or "failed"
  output @7 :Text;             # "ACTION: what it did", one line each
  error @8 :Text;              # "ACTION: why it failed", one line each
}

# A line of a dry run: a trigger, a condition or an action.
struct WorkflowTestLine {
  what @0 :Text;
  ok @1 :Bool;                 # matches, holds; actions: always true
  detail @2 :Text;
}

# Workflows. A caller sees the workflows it owns (admins: all); others are
# `notFound`. A bad workflow file is `invalidArgument` "FILE:LINE: ...".
interface Workflows {
  # Parses `yaml` (`source` names it in errors) and stores it, owned by the
  # caller; a workflow of the same name is replaced when the caller owns it
  # (else `alreadyExists`). `dryRun`: only checks.
  load @0 (yaml :Text, source :Text, dryRun :Bool) -> (workflow :WorkflowInfo, error :Error);
  list @1 () -> (workflows :List(WorkflowInfo), error :Error);
  show @2 (name :Text) -> (workflow :WorkflowInfo, error :Error);
  # What a change of `file` would do, changing nothing.
  test @3 (name :Text, file :Text) -> (path :Text, triggers :List(WorkflowTestLine), conditions :List(WorkflowTestLine), wouldRun :Bool, actions :List(WorkflowTestLine), error :Error);
  setEnabled @4 (name :Text, enabled :Bool) -> (workflow :WorkflowInfo, error :Error);
  delete @5 (name :Text) -> (error :Error);
  # Newest first; `limit` 0: every run kept.
  runs @6 (name :Text, limit :UInt32) -> (runs :List(WorkflowRun), error :Error);
}
