#include "mcp/session.h"

#include <cerrno>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include <capnp/capability.h>
#include <kj/debug.h>

#include "base/format.h"
#include "mcp/tools.h"
#include "rpc/errors.h"

namespace nexus::mcp {
namespace {

// A server error of JSON-RPC's implementation-defined range: too many
// requests of this session in flight.
constexpr int kBusy = -32000;
// MCP: a resource that does not exist (or that the caller may not see).
constexpr int kResourceNotFound = -32002;

constexpr size_t kResourcePage = 100;
constexpr size_t kMaxCachedCallers = 64;
constexpr std::string_view kUriPrefix = "nexus://";

const char* kInstructions =
    "NexusFS is a versioned, permission-checked filesystem. Paths are absolute (/src/main.c). Read with "
    "nexus_read_file, look around with nexus_list_files, nexus_glob and nexus_grep. Change a file with "
    "nexus_edit_file (exact oldText/newText pairs; dryRun: true previews the diff) or replace it with "
    "nexus_write_file. Every change is versioned under your name: nexus_file_history, nexus_file_diff and "
    "nexus_file_rollback show and undo it. A path you may not see reads as not found. Files are also "
    "resources at nexus:///PATH, and you may subscribe to a file or folder to hear when it changes.";

Json Ok(Json result) { return {{"result", std::move(result)}}; }

Json Err(int code, std::string message, Json data = nullptr) {
  Json e = {{"code", code}, {"message", std::move(message)}};
  if (!data.is_null()) e["data"] = std::move(data);
  return {{"error", std::move(e)}};
}

Json Response(const Json& id, Json body) {
  Json r = {{"jsonrpc", "2.0"}, {"id", id}};
  r.update(body);
  return r;
}

bool ValidId(const Json& id) { return id.is_string() || id.is_number_integer() || id.is_number_unsigned(); }

// "nexus:///a/b%20c" -> "/a/b c"; empty when `uri` is not a nexus URI.
std::string PathOfUri(std::string_view uri) {
  if (uri.substr(0, kUriPrefix.size()) != kUriPrefix) return "";
  uri.remove_prefix(kUriPrefix.size());
  if (uri.empty() || uri[0] != '/') return "";
  std::string out;
  for (size_t i = 0; i < uri.size(); ++i) {
    if (uri[i] == '%' && i + 2 < uri.size() && std::isxdigit(static_cast<unsigned char>(uri[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(uri[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(uri.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (uri[i] == '?' || uri[i] == '#') {
      break;
    } else {
      out.push_back(uri[i]);
    }
  }
  if (out.find('\0') != std::string::npos) return "";
  return out;
}

std::string UriOf(const std::string& path) {
  std::string out(kUriPrefix);
  for (unsigned char c : path) {
    if (std::isalnum(c) || std::string_view("/-._~!$&'()*+,;=:@").find(c) != std::string_view::npos) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

bool IsUnimplemented(const kj::Exception& e) { return e.getType() == kj::Exception::Type::UNIMPLEMENTED; }

// The daemon capabilities of one daemon session, made once (pipelined: they cost
// no round trip) and reused by its later calls.
struct CallerCaps {
  rpc::Session::Client daemon;
  rpc::Tools::Client tools;
  std::map<std::string, rpc::Session::Client, std::less<>> labelled;  // by tool
};

// A request in flight, cancellable by notifications/cancelled.
struct Running {
  kj::Canceler canceler;
  bool cancelled = false;
};

// Everything a session holds; shared with the continuations of its calls,
// so a call finishing after the Session is gone touches nothing freed.
struct Core {
  SessionOptions options;
  kj::Timer& timer;
  Notify notify;
  bool initialized = false;
  bool closed = false;
  std::string protocol_version;
  // Whether the daemon serves Session.labelled (an older one does not: then
  // calls run on the plain session and versions name the client process).
  bool labelled_served = true;
  std::map<std::string, std::unique_ptr<Running>> running;  // by id.dump()
  // By daemon session (its ClientHook, kept alive by the entry).
  std::map<const void*, CallerCaps> callers;
  std::map<std::string, rpc::Subscription::Client> subscriptions;  // by URI

  Core(SessionOptions o, kj::Timer& t, Notify n) : options(std::move(o)), timer(t), notify(std::move(n)) {}

  // The capabilities of the caller's daemon session. Keyed by the session
  // capability itself, not the subject: two sessions of one subject may
  // differ (an admin key and a user key of the same user).
  CallerCaps& CapsOf(Caller& caller) {
    rpc::Session::Client copy = caller.daemon;
    const void* key = capnp::ClientHook::from(kj::mv(copy)).get();
    auto it = callers.find(key);
    if (it != callers.end()) return it->second;
    if (callers.size() >= kMaxCachedCallers) callers.clear();
    rpc::Session::Client daemon = caller.daemon;
    auto tools = daemon.toolsRequest().send().getTools();
    return callers.emplace(key, CallerCaps{daemon, tools, {}}).first->second;
  }

  rpc::Session::Client LabelledFor(Caller& caller, const std::string& tool) {
    CallerCaps& caps = CapsOf(caller);
    if (!labelled_served) return caps.daemon;
    auto it = caps.labelled.find(tool);
    if (it != caps.labelled.end()) return it->second;
    auto req = caps.daemon.labelledRequest();
    req.setCommand("mcp:" + tool);
    rpc::Session::Client s = req.send().getSession();
    caps.labelled.emplace(tool, s);
    return s;
  }

  // The tools offered at all (the execution tools only with a sandbox).
  std::vector<std::string> OfferedNames() const {
    std::vector<std::string> names;
    for (const ToolDef& t : ToolTable())
      if (!t.needs_sandbox || options.sandbox_available) names.push_back(t.name);
    return names;
  }

  // Of `names`, those the caller may use (Tools.visible). A daemon without
  // tool profiles (no ReBAC: `unavailable`; an older one: unimplemented)
  // restricts nothing here; its own checks still decide every call.
  kj::Promise<std::vector<std::string>> Visible(Caller& caller, std::vector<std::string> names) {
    auto req = CapsOf(caller).tools.visibleRequest();
    auto list = req.initNames(names.size());
    for (size_t i = 0; i < names.size(); ++i) list.set(i, names[i]);
    return req.send()
        .then([names](auto&& r) -> std::vector<std::string> {
          Status st = StatusFromError(r.hasError(), r.getError());
          if (!st.ok()) {
            if (IsUnavailable(st)) return names;
            throw KJ_EXCEPTION(FAILED, "tool visibility check failed", st.message().c_str());
          }
          std::vector<std::string> out;
          for (auto n : r.getVisible()) out.emplace_back(n.cStr(), n.size());
          return out;
        })
        .catch_([names](kj::Exception&& e) -> std::vector<std::string> {
          if (IsUnimplemented(e)) return names;
          kj::throwFatalException(kj::mv(e));
        });
  }

  // What an unknown tool answers; a hidden tool answers exactly the same.
  static Json UnknownTool(const std::string& name) { return Err(kInvalidParams, "Unknown tool: " + name); }

  kj::Promise<Json> ToolsList(const Json& params, Caller& caller) {
    if (params.contains("cursor") && !params["cursor"].is_null())
      return Err(kInvalidParams, "invalid cursor: tools/list has a single page");
    return Visible(caller, OfferedNames()).then([](std::vector<std::string> visible) -> Json {
      Json tools = Json::array();
      for (const std::string& n : visible)
        if (const ToolDef* t = FindTool(n)) tools.push_back(ToolListEntry(*t));
      return Ok({{"tools", tools}});
    });
  }

  kj::Promise<ToolOutcome> RunTool(std::shared_ptr<Core> self, const ToolDef* tool, Caller& caller,
                                   Json args) {
    auto held = std::make_shared<Caller>(caller);
    ToolContext ctx{LabelledFor(caller, tool->name), caller.subject,
                    [self, held]() { return self->Visible(*held, self->OfferedNames()); }};
    const bool labelled = labelled_served;
    return tool->handler(ctx, args).catch_(
        [self, tool, caller, args, labelled](kj::Exception&& e) mutable -> kj::Promise<ToolOutcome> {
          // A daemon without Session.labelled: run on the plain session
          // (the failed pipelined call did nothing) and stop asking.
          if (labelled && IsUnimplemented(e) &&
              std::string_view(e.getDescription().cStr()).find("labelled") != std::string_view::npos) {
            self->labelled_served = false;
            return self->RunTool(self, tool, caller, kj::mv(args));
          }
          return kj::mv(e);
        });
  }

  kj::Promise<Json> ToolsCall(std::shared_ptr<Core> self, const Json& params, Caller& caller) {
    if (!params.contains("name") || !params["name"].is_string())
      return Err(kInvalidParams, "params.name must be the tool's name (a string)");
    const std::string name = params["name"];
    Json args = params.contains("arguments") ? params["arguments"] : Json::object();
    if (args.is_null()) args = Json::object();
    const ToolDef* tool = FindTool(name);
    if (tool && tool->needs_sandbox && !options.sandbox_available) tool = nullptr;
    // An unknown tool is checked with the daemon too, so it answers in the
    // same time as a hidden one.
    auto visible = Visible(caller, {name}).then([name](std::vector<std::string> v) {
      return v.size() == 1 && v[0] == name;
    });
    if (!tool) return visible.then([name](bool) -> Json { return UnknownTool(name); });
    Status valid = CheckArguments(*tool, args);
    if (valid.ok() && tool->read_only) {
      // Pipelined: the check and the read leave together; a hidden tool's
      // result is dropped unseen.
      auto op = RunTool(self, tool, caller, args);
      return visible.then([name, op = kj::mv(op)](bool ok) mutable -> kj::Promise<Json> {
        if (!ok) return UnknownTool(name);
        return op.then([](ToolOutcome o) { return Ok(o.ToResult()); });
      });
    }
    return visible.then([self, name, tool, caller, args, valid](bool ok) mutable -> kj::Promise<Json> {
      if (!ok) return UnknownTool(name);
      if (!valid.ok()) return Ok(ToolFailure(valid).ToResult());
      return self->RunTool(self, tool, caller, kj::mv(args)).then([](ToolOutcome o) {
        return Ok(o.ToResult());
      });
    });
  }

  // ------------------------------------------------------------ resources

  kj::Promise<Json> ResourcesList(const Json& params, Caller& caller) {
    std::string after;
    if (params.contains("cursor") && !params["cursor"].is_null()) {
      if (!params["cursor"].is_string()) return Err(kInvalidParams, "invalid cursor");
      after = params["cursor"];
      if (after.empty()) return Err(kInvalidParams, "invalid cursor");
    }
    auto req = CapsOf(caller).daemon.filesRequest().send().getFiles().listRequest();
    req.setPath("/");
    req.setLong(true);
    return req.send().then([after](auto&& r) -> Json {
      Status st = StatusFromError(r.hasError(), r.getError());
      if (!st.ok()) return Err(kInternalError, "listing /: " + st.message());
      Json resources = Json::array();
      std::string last;
      bool more = false;
      for (auto e : r.getEntries()) {
        const std::string name(e.getName().cStr());
        if (std::string_view(e.getStat().getKind().cStr()) != "file") continue;
        if (!after.empty() && name <= after) continue;
        if (resources.size() == kResourcePage) {
          more = true;
          break;
        }
        resources.push_back({{"uri", UriOf("/" + name)}, {"name", name}, {"size", e.getStat().getSize()}});
        last = name;
      }
      Json result = {{"resources", resources}};
      if (more) result["nextCursor"] = last;
      return Ok(result);
    });
  }

  static Json Templates() {
    return Ok({{"resourceTemplates",
                Json::array({{{"uriTemplate", "nexus:///{+path}"},
                              {"name", "nexusfs-file"},
                              {"title", "NexusFS file"},
                              {"description",
                               "Any file of NexusFS by its absolute path, e.g. nexus:///src/main.c"}}})}});
  }

  kj::Promise<Json> ResourcesRead(const Json& params, Caller& caller) {
    if (!params.contains("uri") || !params["uri"].is_string())
      return Err(kInvalidParams, "params.uri is required");
    const std::string uri = params["uri"];
    const std::string path = PathOfUri(uri);
    if (path.empty()) return Err(kInvalidParams, "not a NexusFS resource URI (nexus:///PATH): " + uri);
    auto files = CapsOf(caller).daemon.filesRequest().send().getFiles();
    auto stat = files.statRequest();
    stat.initPaths(1).set(0, path);
    stat.setDetailed(true);
    auto read = files.readRequest();
    read.setPath(path);
    auto mime = stat.send().then([](auto&& r) -> std::string {
      if (r.getResults().size() != 1 || r.getResults()[0].hasError()) return "";
      return r.getResults()[0].getStat().getMimeType().cStr();
    });
    return read.send().then([uri, mime = kj::mv(mime)](auto&& r) mutable -> kj::Promise<Json> {
      Status st = StatusFromError(r.hasError(), r.getError());
      if (!st.ok()) {
        if (ErrorCodeFor(st.code()) == rpc::Error::Code::NOT_FOUND)
          return Err(kResourceNotFound, "Resource not found: " + uri, {{"uri", uri}});
        return Err(kInternalError, ToolFailure(st, uri).text, {{"uri", uri}});
      }
      std::string data(reinterpret_cast<const char*>(r.getData().begin()), r.getData().size());
      if (data.size() < r.getSize())
        return Err(kInternalError, uri + " is too large to read as one resource (" +
                                       std::to_string(r.getSize()) +
                                       " bytes): use nexus_read_file with offset/length");
      return mime.then([uri, data = std::move(data)](std::string mime) -> Json {
        Json c = {{"uri", uri}};
        const bool text = IsValidUtf8(data);
        if (mime.empty()) mime = text ? "text/plain" : "application/octet-stream";
        c["mimeType"] = mime;
        if (text)
          c["text"] = data;
        else
          c["blob"] = Base64Encode(data);
        return Ok({{"contents", Json::array({c})}});
      });
    });
  }

  kj::Promise<Json> Subscribe(std::shared_ptr<Core> self, const Json& params, Caller& caller);

  kj::Promise<Json> Unsubscribe(const Json& params) {
    if (!params.contains("uri") || !params["uri"].is_string())
      return Err(kInvalidParams, "params.uri is required");
    subscriptions.erase(params["uri"].get<std::string>());
    return Ok(Json::object());
  }

  // ------------------------------------------------------------ dispatch

  kj::Promise<Json> Dispatch(std::shared_ptr<Core> self, const std::string& method, const Json& params,
                             Caller& caller) {
    if (method == "ping") return Ok(Json::object());
    if (method == "initialize") return Initialize(params);
    if (!initialized) return Err(kInvalidRequest, "the session is not initialized: send initialize first");
    if (method == "tools/list") return ToolsList(params, caller);
    if (method == "tools/call") return ToolsCall(self, params, caller);
    if (method == "resources/list") return ResourcesList(params, caller);
    if (method == "resources/templates/list") return Templates();
    if (method == "resources/read") return ResourcesRead(params, caller);
    if (method == "resources/subscribe") return Subscribe(self, params, caller);
    if (method == "resources/unsubscribe") return Unsubscribe(params);
    return Err(kMethodNotFound, "Method not found: " + method);
  }

  Json Initialize(const Json& params) {
    if (initialized) return Err(kInvalidRequest, "the session is already initialized");
    if (!params.contains("protocolVersion") || !params["protocolVersion"].is_string())
      return Err(kInvalidParams, "params.protocolVersion is required (a string)");
    const std::string asked = params["protocolVersion"];
    protocol_version = std::string(kProtocolVersions[0]);
    for (std::string_view v : kProtocolVersions)
      if (v == asked) protocol_version = asked;
    initialized = true;
    return Ok({{"protocolVersion", protocol_version},
               {"capabilities",
                {{"tools", {{"listChanged", false}}},
                 {"resources", {{"subscribe", true}, {"listChanged", false}}}}},
               {"serverInfo",
                {{"name", options.server_name},
                 {"title", "NexusFS"},
                 {"version", options.server_version.empty() ? "0" : options.server_version}}},
               {"instructions", kInstructions}});
  }

  void HandleNotification(const std::string& method, const Json& params) {
    if (method == "notifications/cancelled") {
      if (!params.contains("requestId")) return;
      auto it = running.find(params["requestId"].dump());
      if (it == running.end()) return;  // finished already, or never seen: ignored
      it->second->cancelled = true;
      it->second->canceler.cancel("cancelled by the client");
    }
    // notifications/initialized and anything else: nothing to do.
  }
};

// The client side of a daemon watch: turns its changes into
// notifications/resources/updated.
class Watcher final : public rpc::FileWatcher::Server {
 public:
  Watcher(std::weak_ptr<Core> core) : core_(std::move(core)) {}

  kj::Promise<void> changed(ChangedContext context) override {
    auto core = core_.lock();
    if (!core || core->closed) return kj::READY_NOW;
    std::set<std::string> uris;
    for (auto c : context.getParams().getChanges()) {
      uris.insert(UriOf(c.getPath().cStr()));
      if (c.getNewPath().size() > 0) uris.insert(UriOf(c.getNewPath().cStr()));
    }
    for (const std::string& uri : uris)
      core->notify(
          {{"jsonrpc", "2.0"}, {"method", "notifications/resources/updated"}, {"params", {{"uri", uri}}}});
    return kj::READY_NOW;
  }

 private:
  std::weak_ptr<Core> core_;
};

kj::Promise<Json> Core::Subscribe(std::shared_ptr<Core> self, const Json& params, Caller& caller) {
  if (!params.contains("uri") || !params["uri"].is_string())
    return Err(kInvalidParams, "params.uri is required");
  const std::string uri = params["uri"];
  const std::string path = PathOfUri(uri);
  if (path.empty()) return Err(kInvalidParams, "not a NexusFS resource URI (nexus:///PATH): " + uri);
  auto req = CapsOf(caller).daemon.filesRequest().send().getFiles().watchRequest();
  req.setPath(path);
  req.setWatcher(kj::heap<Watcher>(self));
  return req.send().then([self, uri](auto&& r) -> Json {
    Status st = StatusFromError(r.hasError(), r.getError());
    if (!st.ok()) {
      if (ErrorCodeFor(st.code()) == rpc::Error::Code::NOT_FOUND)
        return Err(kResourceNotFound, "Resource not found: " + uri, {{"uri", uri}});
      return Err(kInternalError, ToolFailure(st, uri).text, {{"uri", uri}});
    }
    if (self->closed) return Err(kInternalError, "the session is closed");
    self->subscriptions.insert_or_assign(uri, r.getSubscription());
    return Ok(Json::object());
  });
}

}  // namespace

struct Session::State {
  std::shared_ptr<Core> core;
};

Session::Session(SessionOptions options, kj::Timer& timer, Notify notify)
    : state_(std::make_unique<State>(
          State{std::make_shared<Core>(std::move(options), timer, std::move(notify))})) {}

Session::~Session() { Close(); }

bool Session::initialized() const { return state_->core->initialized; }

const std::string& Session::protocol_version() const { return state_->core->protocol_version; }

void Session::Close() {
  Core& core = *state_->core;
  core.closed = true;
  core.subscriptions.clear();
}

Json Session::ParseErrorResponse(std::string_view why) {
  return Response(nullptr, Err(kParseError, "Parse error: " + std::string(why)));
}

kj::Promise<Json> Session::Handle(Json message, Caller caller) {
  std::shared_ptr<Core> core = state_->core;
  if (message.is_array())
    return Response(nullptr,
                    Err(kInvalidRequest, "JSON-RPC batches are not supported: send one message at a time"));
  if (!message.is_object())
    return Response(nullptr, Err(kInvalidRequest, "not a JSON-RPC message: expected an object"));
  const bool has_id = message.contains("id");
  if (has_id && !ValidId(message["id"]))
    return Response(nullptr, Err(kInvalidRequest, "id must be a string or an integer"));
  const Json id = has_id ? message["id"] : Json(nullptr);
  if (!message.contains("jsonrpc") || message["jsonrpc"] != "2.0")
    return Response(id, Err(kInvalidRequest, "jsonrpc must be \"2.0\""));
  if (!message.contains("method")) {
    // A response to a request of ours (we send none) is dropped.
    if (has_id && (message.contains("result") || message.contains("error"))) return Json(nullptr);
    return Response(id, Err(kInvalidRequest, "missing method"));
  }
  if (!message["method"].is_string()) return Response(id, Err(kInvalidRequest, "method must be a string"));
  const std::string method = message["method"];
  Json params = message.contains("params") ? message["params"] : Json::object();
  if (params.is_null()) params = Json::object();
  if (!has_id) {
    if (params.is_object()) core->HandleNotification(method, params);
    return Json(nullptr);
  }
  if (!params.is_object()) return Response(id, Err(kInvalidParams, "params must be an object"));
  if (core->running.size() >= core->options.max_in_flight)
    return Response(
        id, Err(kBusy, "too many requests in flight (at most " + std::to_string(core->options.max_in_flight) +
                           "): retry when one finishes"));
  const std::string key = id.dump();
  if (core->running.count(key))
    return Response(id, Err(kInvalidRequest, "id " + key + " is already in flight"));

  auto entry = std::make_unique<Running>();
  Running* running = entry.get();
  core->running.emplace(key, std::move(entry));
  kj::Promise<Json> work = kj::evalNow([&]() { return core->Dispatch(core, method, params, caller); });
  return running->canceler.wrap(kj::mv(work))
      .then([id](Json body) { return Response(id, std::move(body)); },
            [id, method](kj::Exception&& e) {
              return Response(id, Err(kInternalError,
                                      method + " failed: nexusd: " + std::string(e.getDescription().cStr())));
            })
      .then([core, key, running](Json response) -> Json {
        auto it = core->running.find(key);
        const bool cancelled = it != core->running.end() && it->second.get() == running && running->cancelled;
        if (it != core->running.end() && it->second.get() == running) core->running.erase(it);
        // A cancelled request is not answered (MCP cancellation).
        return cancelled ? Json(nullptr) : response;
      });
}

}  // namespace nexus::mcp
