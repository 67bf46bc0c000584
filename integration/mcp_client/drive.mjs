// Drives an MCP server with the official MCP TypeScript SDK client, for the
// integration tests (integration/tests/mcp_sdk.sh): connects over stdio
// (spawning the server) or Streamable HTTP (with a bearer key), runs named
// steps in order and prints one JSON object with what each step saw. The
// test asserts on that object; this script only reports, except that it
// exits 2 when its input is malformed.
//
//   node drive.mjs < SPEC.json
//
// SPEC: {"connect": {"stdio": {"command", "args": [], "env": {}}}
//                 | {"http": {"url", "bearer"?}},
//        "steps": [{"name", "op", ...}]}
// Steps (op and its fields):
//   list_tools                      -> {tools: [names], defs: [full tool objects]}
//   call {tool, args, until_includes?, timeout_ms?}
//                                   -> {result} | {error: {code, message}}; with until_includes,
//                                      repeated (every 100 ms, up to timeout_ms) until the
//                                      response's JSON contains that text (a search index catching up)
//   read_resource {uri}             -> {result} | {error}
//   list_resource_templates         -> {result} | {error}
//   subscribe / unsubscribe {uri}   -> {ok: true} | {error}
//   shell {cmd}                     -> {status, stdout, stderr} (sh -c, e.g. a change on the mount)
//   wait_update {uri, prefix?, timeout_ms}
//                                   -> {received, uri, after_ms}: the first notifications/resources/
//                                      updated for uri (or under it, with prefix) since the last shell step
//   sleep {ms}                      -> {}
// Output: {"connected", "connect_error"?, "protocol_version", "server_info",
//          "capabilities", "results": {name: ...}}.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

function die(why) {
  process.stderr.write(`drive.mjs: ${why}\n`);
  process.exit(2);
}

let spec;
try {
  spec = JSON.parse(readFileSync(0, "utf8"));
} catch (e) {
  die(`the spec on stdin is not JSON: ${e.message}`);
}
if (!spec.connect || !Array.isArray(spec.steps)) die("the spec needs connect and steps");

// Records the initialize response (the SDK does not expose the negotiated
// revision for stdio) by wrapping the transport's onmessage.
function watchMessages(transport, seen) {
  let inner;
  Object.defineProperty(transport, "onmessage", {
    configurable: true,
    get: () => inner,
    set: (fn) => {
      inner = fn && ((message, extra) => {
        if (message?.result?.protocolVersion && seen.protocol_version === undefined) {
          seen.protocol_version = message.result.protocolVersion;
        }
        fn(message, extra);
      });
    },
  });
}

function makeTransport(connect) {
  if (connect.stdio) {
    const s = connect.stdio;
    return new StdioClientTransport({
      command: s.command,
      args: s.args ?? [],
      env: { ...process.env, ...(s.env ?? {}) },
      stderr: "inherit",
    });
  }
  if (connect.http) {
    const headers = {};
    if (connect.http.bearer !== undefined) headers.Authorization = `Bearer ${connect.http.bearer}`;
    return new StreamableHTTPClientTransport(new URL(connect.http.url), { requestInit: { headers } });
  }
  die("connect needs stdio or http");
}

function errorOf(e) {
  return { code: e?.code ?? null, name: e?.name ?? null, message: String(e?.message ?? e) };
}

const out = { connected: false, results: {} };
const client = new Client({ name: "nexusfs-integration", version: "1.0.0" });
client.onerror = () => {}; // transport noise (a closed SSE stream) is not a step's result

// notifications/resources/updated, in arrival order, with their time.
const updates = [];
const updateWaiters = [];
client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
  updates.push({ uri: n.params.uri, at: Date.now() });
  for (const w of updateWaiters.splice(0)) w();
});

const transport = makeTransport(spec.connect);
const seen = {};
watchMessages(transport, seen);
try {
  await client.connect(transport);
  out.connected = true;
} catch (e) {
  out.connect_error = errorOf(e);
  process.stdout.write(JSON.stringify(out) + "\n");
  await client.close().catch(() => {});
  process.exit(0);
}
out.protocol_version = seen.protocol_version ?? null;
out.server_info = client.getServerVersion() ?? null;
out.capabilities = client.getServerCapabilities() ?? null;

async function settle(promise) {
  try {
    return { result: await promise };
  } catch (e) {
    return { error: errorOf(e) };
  }
}

async function waitUpdate(uri, prefix, timeoutMs, since) {
  const deadline = Date.now() + timeoutMs;
  const matches = (u) => (prefix ? u.uri.startsWith(uri) : u.uri === uri);
  for (;;) {
    const hit = updates.find((u) => matches(u) && u.at >= since);
    if (hit) return { received: true, uri: hit.uri, after_ms: hit.at - since };
    const left = deadline - Date.now();
    if (left <= 0) return { received: false, updates: updates.map((u) => u.uri) };
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, left);
      updateWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

let lastShellAt = Date.now();
for (const step of spec.steps) {
  if (!step.name || !step.op) die(`a step needs name and op: ${JSON.stringify(step)}`);
  let r;
  switch (step.op) {
    case "list_tools": {
      const s = await settle(client.listTools());
      r = s.error ? s : { tools: s.result.tools.map((t) => t.name), defs: s.result.tools };
      break;
    }
    case "call": {
      const deadline = Date.now() + (step.timeout_ms ?? 5000);
      for (;;) {
        r = await settle(client.callTool({ name: step.tool, arguments: step.args ?? {} }));
        if (step.until_includes === undefined || JSON.stringify(r).includes(step.until_includes)) break;
        if (Date.now() >= deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      break;
    }
    case "read_resource":
      r = await settle(client.readResource({ uri: step.uri }));
      break;
    case "list_resource_templates":
      r = await settle(client.listResourceTemplates());
      break;
    case "subscribe":
    case "unsubscribe": {
      const f = step.op === "subscribe" ? client.subscribeResource : client.unsubscribeResource;
      const s = await settle(f.call(client, { uri: step.uri }));
      r = s.error ? s : { ok: true };
      break;
    }
    case "shell":
      lastShellAt = Date.now();
      try {
        const stdout = execFileSync("sh", ["-c", step.cmd], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        r = { status: 0, stdout };
      } catch (e) {
        r = { status: e.status ?? -1, stdout: String(e.stdout ?? ""), stderr: String(e.stderr ?? "") };
      }
      break;
    case "wait_update":
      r = await waitUpdate(step.uri, step.prefix === true, step.timeout_ms ?? 5000, lastShellAt);
      break;
    case "sleep":
      await new Promise((resolve) => setTimeout(resolve, step.ms ?? 0));
      r = {};
      break;
    default:
      die(`unknown op ${step.op}`);
  }
  out.results[step.name] = r;
}

await client.close().catch(() => {});
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(0);
