// Agent mailboxes: nexus ipc send|inbox|count|ack|dead. Every agent ID is
// "ID" or "agent:ID" (the daemon parses it).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "base/format.h"
#include "cli/cli.h"
#include "rpc/errors.h"

namespace nexus::cli {
namespace {

using nlohmann::json;

std::string BytesOf(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

// {"id","from","to","time","ttl","expires_at","name","state","body"}, with
// "body_base64" instead of "body" when the body is not UTF-8; "client_id"
// when the sender gave one.
json MessageJson(rpc::IpcMessage::Reader m) {
  const std::string body = BytesOf(m.getBody());
  json j = {{"id", std::string(m.getId())},
            {"from", std::string(m.getFrom())},
            {"to", std::string(m.getTo())},
            {"time", FormatRfc3339(m.getTimeNs())},
            {"ttl", m.getTtlSeconds()},
            {"expires_at", m.getExpiresAtNs() ? json(FormatRfc3339(m.getExpiresAtNs())) : json(nullptr)},
            {"name", std::string(m.getName())},
            {"state", std::string(m.getState())}};
  if (IsValidUtf8(body))
    j["body"] = body;
  else
    j["body_base64"] = Base64Encode(body);
  if (m.getClientId().size() > 0) j["client_id"] = std::string(m.getClientId());
  return j;
}

json ListJson(capnp::List<rpc::IpcMessage>::Reader messages) {
  json list = json::array();
  for (auto m : messages) list.push_back(MessageJson(m));
  return {{"messages", list}};
}

// One block per message: a header line, then the body (non-UTF-8 bodies as
// a note; --json has them in base64).
void PrintMessages(capnp::List<rpc::IpcMessage>::Reader messages, const char* none) {
  if (messages.size() == 0) {
    std::printf("%s\n", none);
    return;
  }
  for (auto m : messages) {
    const std::string body = BytesOf(m.getBody());
    std::printf("%s  from %s  %s  %s\n", m.getId().cStr(), m.getFrom().cStr(),
                FormatTime(m.getTimeNs()).c_str(), m.getName().cStr());
    if (IsValidUtf8(body))
      std::printf("  %s%s", body.c_str(), body.empty() || body.back() != '\n' ? "\n" : "");
    else
      std::printf("  (%zu bytes, not UTF-8: see --json)\n", body.size());
  }
}

int WithIpc(Cli& cli, const std::function<int(NexusClient&, rpc::Ipc::Client&)>& fn) {
  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  auto ipc = c.value()->session().ipcRequest().send().getIpc();
  return fn(**c, ipc);
}

// The --json-body FILE ("-": stdin), checked to be one JSON document.
Result<std::string> JsonBody(const std::string& file) {
  std::string text;
  if (file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Status::Error(ENOENT, "--json-body: cannot read " + file);
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  if (!json::accept(text)) return Status::Error(EINVAL, "--json-body: " + file + " is not a JSON document");
  return text;
}

int Send(Cli& cli, const Args& a) {
  std::string body;
  if (a.Has("json-body")) {
    if (a.positional.size() > 1) return cli.Usage("give MESSAGE or --json-body FILE, not both");
    auto b = JsonBody(a.Get("json-body"));
    if (!b.ok()) return cli.Fail(b.status(), b.code() == EINVAL);
    body = std::move(b).value();
  } else {
    if (a.positional.size() < 2) return cli.Usage("give MESSAGE or --json-body FILE");
    body = a.positional[1];
  }
  int64_t ttl = 0;
  if (a.Has("ttl")) {
    auto n = a.Number("ttl", 0, 0, 365.0 * 86400);
    if (!n.ok()) return cli.Fail(n.status(), true);
    if (*n != std::floor(*n))
      return cli.Usage("--ttl: '" + a.Get("ttl") + "' is not a whole number of seconds");
    ttl = static_cast<int64_t>(*n);
  }
  return WithIpc(cli, [&](NexusClient& c, rpc::Ipc::Client& ipc) -> int {
    auto req = ipc.sendRequest();
    req.setTo(a.positional[0]);
    req.setBody(kj::arrayPtr(reinterpret_cast<const kj::byte*>(body.data()), body.size()));
    req.setFrom(a.Get("from"));
    req.setHasTtl(a.Has("ttl"));
    req.setTtlSeconds(ttl);
    req.setClientId(a.Get("id"));
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    auto m = r->getMessage();
    if (cli.json)
      cli.PrintJson(MessageJson(m));
    else
      std::printf("sent %s to agent:%s from %s\n", m.getId().cStr(), m.getTo().cStr(), m.getFrom().cStr());
    return kExitOk;
  });
}

// A list of messages: `{"messages": [...]}` with --json, else a table.
int PrintList(Cli& cli, capnp::List<rpc::IpcMessage>::Reader messages, const char* empty) {
  if (cli.json)
    cli.PrintJson(ListJson(messages));
  else
    PrintMessages(messages, empty);
  return kExitOk;
}

int Inbox(Cli& cli, const Args& a) {
  double wait = 0;
  if (a.Has("wait")) {
    auto n = a.Number("wait", 0, 0, 3600);
    if (!n.ok()) return cli.Fail(n.status(), true);
    wait = *n;
  }
  return WithIpc(cli, [&](NexusClient& c, rpc::Ipc::Client& ipc) -> int {
    auto req = ipc.inboxRequest();
    req.setId(a.positional[0]);
    req.setWaitSeconds(wait);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    return PrintList(cli, r->getMessages(), "(no messages)");
  });
}

int Count(Cli& cli, const Args& a) {
  return WithIpc(cli, [&](NexusClient& c, rpc::Ipc::Client& ipc) -> int {
    auto req = ipc.countRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    if (cli.json)
      cli.PrintJson({{"count", r->getCount()}});
    else
      std::printf("%llu\n", static_cast<unsigned long long>(r->getCount()));
    return kExitOk;
  });
}

int Ack(Cli& cli, const Args& a) {
  return WithIpc(cli, [&](NexusClient& c, rpc::Ipc::Client& ipc) -> int {
    auto req = ipc.ackRequest();
    req.setId(a.positional[0]);
    req.setMessageId(a.positional[1]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    auto m = r->getMessage();
    if (cli.json)
      cli.PrintJson(MessageJson(m));
    else
      std::printf("acked %s: %s\n", m.getId().cStr(), m.getPath().cStr());
    return kExitOk;
  });
}

int Dead(Cli& cli, const Args& a) {
  return WithIpc(cli, [&](NexusClient& c, rpc::Ipc::Client& ipc) -> int {
    auto req = ipc.deadRequest();
    req.setId(a.positional[0]);
    auto r = c.Wait(req.send());
    if (Status st = ReplyStatus(r); !st.ok()) return cli.Fail(st);
    return PrintList(cli, r->getMessages(), "(no dead letters)");
  });
}

}  // namespace

void AddIpcCommands(std::vector<Command>* t) {
  t->push_back({{"ipc", "send"},
                {"--from", "--json-body", "--ttl", "--id"},
                {},
                "ipc send TO MESSAGE [--from ID] [--json-body FILE] [--ttl S] [--id ID]",
                "Send a message to agent TO's mailbox.\n"
                "It becomes the file /agents/TO/inbox/<message id>. Sending needs write on\n"
                "/agents/TO/inbox (`nexus rebac share /agents/TO/inbox agent FROM --role editor`;\n"
                "TO's owner and admins always may), checked for --from (yourself, or an agent\n"
                "you may act as) or else for you. --json-body FILE (\"-\": stdin) sends that JSON\n"
                "document instead of MESSAGE. --ttl S: expires after S seconds into\n"
                "dead_letter/ (0: never; default: the daemon's --ipc-ttl). --id ID: your id for\n"
                "this message; sending it again from the same sender returns the first.",
                1,
                2,
                Send});
  t->push_back({{"ipc", "inbox"},
                {"--wait"},
                {},
                "ipc inbox ID [--wait S]",
                "List the messages in agent ID's inbox, oldest first.\n"
                "Reading does not consume them (ack does). --wait S: when the inbox is empty,\n"
                "wait up to S seconds for a message. --json prints\n"
                "{\"messages\":[{\"id\",\"from\",\"time\",\"ttl\",\"name\",\"body\"}]} with \"body_base64\"\n"
                "instead of \"body\" for a body that is not UTF-8.",
                1,
                1,
                Inbox});
  t->push_back({{"ipc", "count"},
                {},
                {},
                "ipc count ID",
                "Count the unacked messages in agent ID's inbox (--json: {\"count\":N}).",
                1,
                1,
                Count});
  t->push_back({{"ipc", "ack"},
                {},
                {},
                "ipc ack ID MSG_ID",
                "Acknowledge a message: move it from inbox/ to processed/.\n"
                "MSG_ID is the message's id, or its file name in the inbox.",
                2,
                2,
                Ack});
  t->push_back({{"ipc", "dead"},
                {},
                {},
                "ipc dead ID",
                "List agent ID's dead letters (expired messages), oldest first.",
                1,
                1,
                Dead});
}

}  // namespace nexus::cli
