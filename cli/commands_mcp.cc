// The MCP server: nexus mcp serve. It serves MCP over stdio (acting as the
// session's subject, or the --as agent) or over Streamable HTTP (each
// request acting as its bearer key's subject); see docs/mcp.md.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "nexus/version.h"
#include "cli/cli.h"
#include "mcp/http.h"
#include "mcp/session.h"
#include "mcp/stdio.h"
#include "rpc/errors.h"

namespace nexus::cli {
namespace {

// Waits for a serving promise on the client's loop; a broken connection to
// nexusd ends it with an error.
Status Serve(NexusClient& client, kj::Promise<void> serving) {
  try {
    serving.wait(client.wait_scope());
  } catch (const kj::Exception& e) {
    return Status::Error(ECONNRESET, std::string("nexusd: ") + e.getDescription().cStr());
  }
  return Status::Ok();
}

int ServeMcp(Cli& cli, const Args& a) {
  const std::string transport = a.Get("transport", "stdio");
  if (transport != "stdio" && transport != "http")
    return cli.Usage("--transport must be stdio or http, not '" + transport + "'");
  if (transport == "stdio")
    for (const char* flag : {"port", "host", "tls-cert", "tls-key", "max-body", "max-sessions"})
      if (a.Has(flag)) return cli.Usage(std::string("--") + flag + " is for --transport http");
  if (a.Has("tls-cert") != a.Has("tls-key"))
    return cli.Usage("give both --tls-cert and --tls-key, or neither");
  auto port = a.Number("port", 0, 0, 65535);
  if (!port.ok()) return cli.Fail(port.status(), true);
  auto max_body = a.Number("max-body", 4u << 20, 1024, 1u << 30);
  if (!max_body.ok()) return cli.Fail(max_body.status(), true);
  auto max_sessions = a.Number("max-sessions", 256, 1, 100000);
  if (!max_sessions.ok()) return cli.Fail(max_sessions.status(), true);
  auto max_in_flight = a.Number("max-in-flight", 32, 1, 10000);
  if (!max_in_flight.ok()) return cli.Fail(max_in_flight.status(), true);

  mcp::SessionOptions session;
  session.server_version = NEXUS_VERSION;
  session.max_in_flight = static_cast<size_t>(*max_in_flight);

  auto c = cli.Client();
  if (!c.ok()) return cli.Fail(c.status());
  NexusClient& client = **c;
  // The execution tools only where the daemon can run sandboxes.
  {
    auto sandboxes = client.session().sandboxesRequest().send().getSandboxes();
    auto providers = client.Wait(sandboxes.providersRequest().send());
    if (providers.ok() && !providers->hasError())
      for (auto p : providers->getProviders()) session.sandbox_available |= p.getAvailable();
  }
  // A client that goes away mid-write must not kill the server.
  std::signal(SIGPIPE, SIG_IGN);

  if (transport == "stdio") {
    // The subject calls act as: the agent when the session acts as one.
    auto who = client.Wait(client.session().identityRequest().send());
    if (!who.ok()) return cli.Fail(who.status());
    const auto identity = who->getIdentity();
    const std::string subject =
        identity.getActingAs().size() > 0 ? identity.getActingAs().cStr() : identity.getSubject().cStr();
    mcp::StdioOptions options;
    options.session = session;
    std::fprintf(stderr, "nexus mcp: serving MCP on stdio as %s\n", subject.c_str());
    Status st = Serve(client, mcp::ServeStdio(client.io(), options, {client.session(), subject}));
    return st.ok() ? kExitOk : cli.Fail(st);
  }

  mcp::HttpOptions options;
  options.host = a.Get("host", "127.0.0.1");
  options.port = static_cast<uint16_t>(*port);
  options.tls_cert = a.Get("tls-cert");
  options.tls_key = a.Get("tls-key");
  options.max_body_bytes = static_cast<size_t>(*max_body);
  options.max_sessions = static_cast<size_t>(*max_sessions);
  options.session = session;
  for (const std::string& origin : a.All("allow-origin")) {
    if (origin.find("://") == std::string::npos)
      return cli.Usage("--allow-origin takes an origin such as https://app.example.com, not " + origin);
    options.allowed_origins.push_back(origin);
  }
  auto server = mcp::HttpServer::Listen(client.io(), options, client.bootstrap());
  if (!server.ok()) return cli.Fail(server.status());
  const std::string scheme = options.tls_cert.empty() ? "http" : "https";
  const std::string host =
      options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
  const std::string url = scheme + "://" + host + ":" + std::to_string((*server)->port()) + "/mcp";
  std::fprintf(stderr, "nexus mcp: serving MCP (Streamable HTTP) at %s\n", url.c_str());
  if (cli.json) {
    cli.PrintJson({{"url", url}, {"port", (*server)->port()}});
    std::fflush(stdout);
  }
  Status st = Serve(client, (*server)->Run());
  return st.ok() ? kExitOk : cli.Fail(st);
}

}  // namespace

void AddMcpCommands(std::vector<Command>* t) {
  t->push_back({{"mcp", "serve"},
                {"--transport", "--port", "--host", "--tls-cert", "--tls-key", "--max-body", "--max-sessions",
                 "--max-in-flight", "--allow-origin"},
                {},
                "mcp serve [--transport stdio|http] [--port P] [--host H] [--tls-cert F --tls-key F]",
                "Serve NexusFS to AI agents over the Model Context Protocol.\n"
                "stdio (the default): one session on stdin/stdout, as the CLI's subject (or --as\n"
                "agent:ID); ends at end of input once the calls in flight are answered.\n"
                "http: Streamable HTTP at /mcp; every request needs `Authorization: Bearer KEY` and\n"
                "acts as the key's subject. Prints where it listens on stderr (and, with --json,\n"
                "{\"url\", \"port\"} on stdout: use --port 0 for any free port).\n"
                "  --transport stdio|http  (default stdio)\n"
                "  --port P                 http: the TCP port (default 0: any free port)\n"
                "  --host H                 http: the address to listen on (default 127.0.0.1)\n"
                "  --tls-cert F --tls-key F http: serve HTTPS with this PEM certificate and key\n"
                "  --max-body BYTES         http: the largest request body (default 4194304)\n"
                "  --max-sessions N         http: sessions at once (default 256)\n"
                "  --allow-origin ORIGIN    http: also accept browser requests from ORIGIN (repeatable;\n"
                "                           localhost origins always are, any other Origin is 403)\n"
                "  --max-in-flight N        requests of one session running at once (default 32)\n"
                "Tools are those the subject's tool profile grants (nexus mcp profile); see docs/mcp.md.",
                0,
                0,
                ServeMcp});
}

}  // namespace nexus::cli
