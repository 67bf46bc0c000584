// An in-process double of the daemon for the MCP server's unit tests: a
// small capnp server of the Session, Files and Tools interfaces over an
// in-memory World (files, hidden paths, visible tools), recording what the
// server asked (labelled commands, writers, watches).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <capnp/capability.h>
#include <kj/async.h>

#include "mcp/tools.h"
#include "rpc/errors.h"
#include "rpc/nexus.capnp.h"

namespace nexus::mcp::fake {

inline std::string Str(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

// What the double's daemon holds and records.
struct World {
  std::map<std::string, std::string> files;  // path -> content
  std::set<std::string> hidden;              // paths the subject may not see
  std::vector<std::string> visible_tools;    // empty: Tools is unavailable
  bool tools_available = true;
  std::vector<std::string> labels;            // Session.labelled commands
  std::map<std::string, std::string> writer;  // path -> command of its last write
  std::vector<rpc::FileWatcher::Client> watchers;
  int live_subscriptions = 0;
  bool hang_reads = false;
  size_t max_read = SIZE_MAX;        // the most one read answers (the reply limit)
  std::function<void()> after_read;  // runs once after the next read is answered
  std::vector<kj::Own<kj::PromiseFulfiller<void>>> hung;
};

class FakeSubscription final : public rpc::Subscription::Server {
 public:
  explicit FakeSubscription(World& w) : w_(w) { ++w_.live_subscriptions; }
  ~FakeSubscription() { --w_.live_subscriptions; }

 private:
  World& w_;
};

class FakeFiles final : public rpc::Files::Server {
 public:
  FakeFiles(World& w, std::string command) : w_(w), command_(std::move(command)) {}

  bool Sees(const std::string& path) const { return !w_.hidden.count(path); }

  kj::Promise<void> read(ReadContext context) override {
    const std::string path = context.getParams().getPath();
    auto answer = [this, context, path]() mutable {
      auto it = w_.files.find(path);
      if (it == w_.files.end() || !Sees(path)) {
        FillError(context.getResults().initError(), Status::Error(ENOENT, path + ": no such file"));
        return;
      }
      const uint64_t off = context.getParams().getOffset(), len = context.getParams().getLength();
      std::string data = off >= it->second.size()
                             ? ""
                             : it->second.substr(off, std::min<uint64_t>(len ? len : SIZE_MAX, w_.max_read));
      context.getResults().setData(kj::arrayPtr(reinterpret_cast<const kj::byte*>(data.data()), data.size()));
      context.getResults().setSize(it->second.size());
      if (auto hook = std::move(w_.after_read)) hook();
      w_.after_read = nullptr;
    };
    if (w_.hang_reads) {
      auto paf = kj::newPromiseAndFulfiller<void>();
      w_.hung.push_back(kj::mv(paf.fulfiller));
      return paf.promise.then(kj::mv(answer));
    }
    answer();
    return kj::READY_NOW;
  }

  kj::Promise<void> write(WriteContext context) override {
    const std::string path = context.getParams().getPath();
    if (!Sees(path)) {
      FillError(context.getResults().initError(), Status::Error(EACCES, "denied"));
      return kj::READY_NOW;
    }
    w_.files[path] = Str(context.getParams().getData());
    w_.writer[path] = command_;
    auto s = context.getResults().initStat();
    s.setSize(w_.files[path].size());
    s.setContentId(ContentId(w_.files[path]));
    return kj::READY_NOW;
  }

  kj::Promise<void> replace(ReplaceContext context) override {
    const std::string path = context.getParams().getPath();
    auto it = w_.files.find(path);
    const std::string current = it == w_.files.end() ? "" : ContentId(it->second);
    if (current != std::string(context.getParams().getExpectedContentId().cStr())) {
      FillError(context.getResults().initError(), Status::Error(ESTALE, "content id changed"));
      return kj::READY_NOW;
    }
    w_.files[path] = Str(context.getParams().getData());
    w_.writer[path] = command_;
    context.getResults().initStat().setSize(w_.files[path].size());
    return kj::READY_NOW;
  }

  kj::Promise<void> list(ListContext context) override {
    std::vector<std::string> names;
    for (auto& [p, _] : w_.files)
      if (Sees(p) && p.find('/', 1) == std::string::npos) names.push_back(p.substr(1));
    auto out = context.getResults().initEntries(names.size());
    for (size_t i = 0; i < names.size(); ++i) {
      out[i].setName(names[i]);
      out[i].initStat().setKind("file");
      out[i].getStat().setSize(w_.files["/" + names[i]].size());
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> stat(StatContext context) override {
    auto paths = context.getParams().getPaths();
    auto out = context.getResults().initResults(paths.size());
    for (size_t i = 0; i < paths.size(); ++i) {
      const std::string p = paths[i];
      out[i].setPath(p);
      if (!w_.files.count(p) || !Sees(p)) {
        FillError(out[i].initError(), Status::Error(ENOENT, "no such file"));
        continue;
      }
      out[i].initStat().setKind("file");
      out[i].getStat().setSize(w_.files[p].size());
      out[i].getStat().setMimeType("text/x-test");
    }
    return kj::READY_NOW;
  }

  kj::Promise<void> watch(WatchContext context) override {
    const std::string path = context.getParams().getPath();
    if (!Sees(path)) {
      FillError(context.getResults().initError(), Status::Error(ENOENT, "no such file"));
      return kj::READY_NOW;
    }
    w_.watchers.push_back(context.getParams().getWatcher());
    context.getResults().setSubscription(kj::heap<FakeSubscription>(w_));
    return kj::READY_NOW;
  }

 private:
  World& w_;
  std::string command_;
};

class FakeTools final : public rpc::Tools::Server {
 public:
  explicit FakeTools(World& w) : w_(w) {}
  kj::Promise<void> visible(VisibleContext context) override {
    if (!w_.tools_available) {
      FillError(context.getResults().initError(), Unavailable("rebac", "off"));
      return kj::READY_NOW;
    }
    std::vector<std::string> out;
    for (auto n : context.getParams().getNames())
      for (auto& v : w_.visible_tools)
        if (v == n.cStr()) out.push_back(v);
    auto list = context.getResults().initVisible(out.size());
    for (size_t i = 0; i < out.size(); ++i) list.set(i, out[i]);
    return kj::READY_NOW;
  }

 private:
  World& w_;
};

class FakeSession final : public rpc::Session::Server {
 public:
  FakeSession(World& w, std::string command) : w_(w), command_(std::move(command)) {}
  kj::Promise<void> files(FilesContext context) override {
    context.getResults().setFiles(kj::heap<FakeFiles>(w_, command_));
    return kj::READY_NOW;
  }
  kj::Promise<void> tools(ToolsContext context) override {
    context.getResults().setTools(kj::heap<FakeTools>(w_));
    return kj::READY_NOW;
  }
  kj::Promise<void> labelled(LabelledContext context) override {
    const std::string command = context.getParams().getCommand();
    w_.labels.push_back(command);
    context.getResults().setSession(kj::heap<FakeSession>(w_, command));
    return kj::READY_NOW;
  }

 private:
  World& w_;
  std::string command_;
};

}  // namespace nexus::mcp::fake
