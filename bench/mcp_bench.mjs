// MCP latency benchmark (run by bench/run_mcp_bench.sh): the official MCP
// SDK client over stdio against `nexus mcp serve` and, in the same run, the
// reference filesystem server (@modelcontextprotocol/server-filesystem)
// serving the nexusd mount. Workloads, each timed call by call:
//   tools_list  tools/list (Client.request with the SDK's ListToolsResultSchema)
//   read_1k     tools/call nexus_read_file (nexus) / read_text_file (reference)
//               of the same 1 KiB file (the reference reads it through the mount)
//   tools_list with the subject holding 1,000 extra tool grants (target nexus_1000)
// Every (run, target) spawns a fresh server, warms up, then times CALLS
// calls per workload; targets take turns in an order that rotates per run.
// CPU per workload, from /proc/PID/stat before and after: the server
// process's (nexus mcp serve, or node for the reference) and nexusd's.
//
//   node bench/mcp_bench.mjs --nexus BIN --socket SOCK --mnt MNT --file /bench/read-1k.txt
//        --agent bench --agent-1000 bench1k --nexusd-pid PID [--runs 5] [--calls 2000]
//        [--warmup 200] [--commit ID] --out OUT.json
// Writes OUT.json and OUT.md (the table); prints the table.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// The SDK lives in integration/mcp_client (installed there by npm ci).
const clientDir = join(dirname(fileURLToPath(import.meta.url)), "..", "integration", "mcp_client");
const require = createRequire(join(clientDir, "package.json"));
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");
const { ListToolsResultSchema } = require("@modelcontextprotocol/sdk/types.js");
const referenceServer = join(clientDir, "node_modules", "@modelcontextprotocol", "server-filesystem", "dist", "index.js");

function args() {
  const a = { runs: 5, calls: 2000, warmup: 200 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, "").replace(/-/g, "_");
    a[k] = ["runs", "calls", "warmup", "nexusd_pid"].includes(k) ? Number(argv[i + 1]) : argv[i + 1];
  }
  for (const k of ["nexus", "socket", "mnt", "file", "agent", "agent_1000", "nexusd_pid", "out"]) {
    if (a[k] === undefined) {
      process.stderr.write(`mcp_bench: --${k.replace(/_/g, "-")} is required\n`);
      process.exit(64);
    }
  }
  return a;
}
const opt = args();
const loadAtStart = os.loadavg();
const clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));
const expected = readFileSync(join(opt.mnt, opt.file), "utf8");

// CPU time (user + system) of a process so far, in microseconds.
function cpuUs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1e6) / clkTck;
}

const nexusEnv = { ...process.env, NEXUS_SOCKET: opt.socket };
const targets = {
  nexus: {
    server: "nexus mcp serve",
    spawn: { command: opt.nexus, args: ["--as", `agent:${opt.agent}`, "mcp", "serve"], env: nexusEnv },
    read: { name: "nexus_read_file", arguments: { path: opt.file } },
    workloads: ["tools_list", "read_1k"],
  },
  reference: {
    server: "@modelcontextprotocol/server-filesystem",
    spawn: { command: process.execPath, args: [referenceServer, join(opt.mnt, dirname(opt.file))] },
    read: { name: "read_text_file", arguments: { path: join(opt.mnt, opt.file) } },
    workloads: ["tools_list", "read_1k"],
  },
  nexus_1000: {
    server: "nexus mcp serve",
    spawn: { command: opt.nexus, args: ["--as", `agent:${opt.agent_1000}`, "mcp", "serve"], env: nexusEnv },
    read: null,
    workloads: ["tools_list"],
  },
};

function textOf(result) {
  return (result.content ?? []).map((c) => c.text ?? "").join("");
}

async function connect(target) {
  const transport = new StdioClientTransport({ ...target.spawn, stderr: "ignore" });
  const client = new Client({ name: "nexusfs-mcp-bench", version: "1.0.0" });
  await client.connect(transport);
  return { client, pid: transport.pid };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}
function median(v) {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// samples[target][workload] = [{p50_us, p99_us, server_cpu_us, nexusd_cpu_us}, ...] per run
const samples = {};
const toolCounts = {};
for (let run = 0; run < opt.runs; ++run) {
  const names = Object.keys(targets);
  const order = names.map((_, i) => names[(i + run) % names.length]);
  for (const name of order) {
    const t = targets[name];
    const { client, pid } = await connect(t);
    // tools/list as a request parsed with the SDK's result schema:
    // Client.listTools also compiles a validator for every output schema
    // on each call (milliseconds of client CPU that would hide the server).
    const calls = {
      tools_list: () => client.request({ method: "tools/list" }, ListToolsResultSchema),
      read_1k: () => client.callTool(t.read),
    };
    const listed = await client.listTools();
    toolCounts[name] = listed.tools.length;
    if (t.read) {
      const r = await client.callTool(t.read);
      const text = r.structuredContent?.content ?? textOf(r);
      if (r.isError || !text.includes(expected.trim())) {
        throw new Error(`${name}: the read returned ${JSON.stringify(r).slice(0, 300)}`);
      }
    }
    for (const w of t.workloads) for (let i = 0; i < opt.warmup; ++i) await calls[w]();
    for (const w of t.workloads) {
      const us = new Array(opt.calls);
      const cpu0 = [cpuUs(pid), cpuUs(opt.nexusd_pid)];
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < opt.calls; ++i) {
        const s = process.hrtime.bigint();
        const r = await calls[w]();
        us[i] = Number(process.hrtime.bigint() - s) / 1e3;
        if (r.isError) throw new Error(`${name} ${w}: ${textOf(r)}`);
      }
      const wallUs = Number(process.hrtime.bigint() - t0) / 1e3;
      const cpu1 = [cpuUs(pid), cpuUs(opt.nexusd_pid)];
      us.sort((a, b) => a - b);
      ((samples[name] ??= {})[w] ??= []).push({
        p50_us: percentile(us, 0.5),
        p99_us: percentile(us, 0.99),
        calls_per_s: (opt.calls * 1e6) / wallUs,
        server_cpu_us_per_call: (cpu1[0] - cpu0[0]) / opt.calls,
        nexusd_cpu_us_per_call: (cpu1[1] - cpu0[1]) / opt.calls,
      });
    }
    await client.close();
    process.stderr.write(`run ${run + 1}/${opt.runs}: ${name} done\n`);
  }
}

function summary(name, w) {
  const runs = samples[name][w];
  const pick = (k) => runs.map((r) => r[k]);
  return {
    server: targets[name].server,
    tools: toolCounts[name],
    p50_us: median(pick("p50_us")),
    p99_us: median(pick("p99_us")),
    calls_per_s: median(pick("calls_per_s")),
    server_cpu_us_per_call: median(pick("server_cpu_us_per_call")),
    nexusd_cpu_us_per_call: median(pick("nexusd_cpu_us_per_call")),
    runs,
  };
}
const sdkVersion = JSON.parse(
  readFileSync(join(clientDir, "node_modules", "@modelcontextprotocol", "sdk", "package.json"), "utf8"),
).version;
const refVersion = JSON.parse(readFileSync(join(dirname(referenceServer), "..", "package.json"), "utf8")).version;
const result = {
  date: new Date().toISOString(),
  commit: opt.commit ?? null,
  host: {
    cpus: os.cpus().length,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    loadavg_start: loadAtStart,
    loadavg_end: os.loadavg(),
  },
  config: { runs: opt.runs, calls: opt.calls, warmup: opt.warmup, file_bytes: Buffer.byteLength(expected) },
  versions: { node: process.version, sdk: sdkVersion, server_filesystem: refVersion },
  workloads: {},
};
for (const w of ["tools_list", "read_1k"]) {
  const n = summary("nexus", w);
  const r = summary("reference", w);
  result.workloads[w] = { nexus: n, reference: r, p50_ratio: r.p50_us / n.p50_us, p99_ratio: r.p99_us / n.p99_us };
}
{
  const few = summary("nexus", "tools_list");
  const many = summary("nexus_1000", "tools_list");
  result.workloads.tools_list_1000_grants = {
    nexus_1000: many,
    nexus_few: { p50_us: few.p50_us, p99_us: few.p99_us },
    reference: { p50_us: result.workloads.tools_list.reference.p50_us, p99_us: result.workloads.tools_list.reference.p99_us },
    p50_ratio: result.workloads.tools_list.reference.p50_us / many.p50_us,
    p99_ratio: result.workloads.tools_list.reference.p99_us / many.p99_us,
    cost_of_1000_grants_p50_us: many.p50_us - few.p50_us,
  };
}

const f = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const W = result.workloads;
const lines = [
  `MCP over stdio, official SDK client ${sdkVersion}, Node.js ${process.version}; ` +
    `${opt.runs} runs x ${opt.calls} calls after ${opt.warmup} warm-up calls; medians of the runs' p50 and p99.`,
  "",
  "| workload | nexus mcp serve p50 / p99 (us) | reference server p50 / p99 (us) | reference / nexus p50 | p99 | CPU us/call: nexus mcp serve + nexusd | CPU us/call: reference + nexusd |",
  "|---|---:|---:|---:|---:|---:|---:|",
];
const row = (label, n, r, w) =>
  lines.push(
    `| ${label} | ${f(n.p50_us)} / ${f(n.p99_us)} | ${f(r.p50_us)} / ${f(r.p99_us)} | ` +
      `${w.p50_ratio.toFixed(2)}x | ${w.p99_ratio.toFixed(2)}x | ` +
      `${f(n.server_cpu_us_per_call)} + ${f(n.nexusd_cpu_us_per_call)} | ${f(r.server_cpu_us_per_call)} + ${f(r.nexusd_cpu_us_per_call)} |`,
  );
row(`tools/list (${W.tools_list.nexus.tools} vs ${W.tools_list.reference.tools} tools)`, W.tools_list.nexus, W.tools_list.reference, W.tools_list);
row("tools/call read 1 KiB", W.read_1k.nexus, W.read_1k.reference, W.read_1k);
row(
  `tools/list, 1,000 extra tool grants (${W.tools_list_1000_grants.nexus_1000.tools} tools listed)`,
  W.tools_list_1000_grants.nexus_1000,
  W.tools_list.reference,
  W.tools_list_1000_grants,
);
lines.push(
  "",
  `tools/list with 1,000 extra tool grants: ${f(W.tools_list_1000_grants.nexus_1000.p50_us)} us at p50, against ` +
    `${f(W.tools_list.nexus.p50_us)} us with the profile's grants only ` +
    `(difference ${f(W.tools_list_1000_grants.cost_of_1000_grants_p50_us)} us).`,
  `Host: ${result.host.cpus} CPUs, load average ${loadAtStart[0].toFixed(2)} at start, ` +
    `${result.host.loadavg_end[0].toFixed(2)} at end; commit ${result.commit ?? "unknown"}.`,
);
const table = lines.join("\n") + "\n";
writeFileSync(opt.out, JSON.stringify(result, null, 2) + "\n");
writeFileSync(opt.out.replace(/\.json$/, "") + ".md", table);
process.stdout.write(table);
