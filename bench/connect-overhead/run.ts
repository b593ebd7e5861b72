import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

// Runs every target of server.ts under wrk (closed loop, keep-alive, one
// thread), interleaved over several rounds, and writes results.json and
// results.md next to this file. Usage: node bench/connect-overhead/run.ts
// [seconds=5] [rounds=3]. Needs wrk (apt-get install -y wrk).
const run = promisify(execFile);
const here = fileURLToPath(new URL(".", import.meta.url));
const seconds = Number(process.argv[2] ?? 5);
const rounds = Number(process.argv[3] ?? 3);
const path = "/accord.orders.v1.OrderService/GetOrder";

const targets = [
  { key: "a", mode: "connect-plain", label: "(a) connectNodeAdapter behind http.createServer" },
  { key: "b", mode: "rpc-server-before", label: "(b) startRpcServer before the fix" },
  { key: "c", mode: "raw", label: "(c) plain node:http + protobuf-es" },
  { key: "d", mode: "rpc-server", label: "(d) startRpcServer with the fix (lib/rpc/server.ts)" },
];
const loads = [
  { name: "json-c20", connections: 20, contentType: "application/json" },
  { name: "json-c1", connections: 1, contentType: "application/json" },
  { name: "proto-c20", connections: 20, contentType: "application/proto" },
];

interface Sample {
  requests: number;
  rps: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  errors: number;
  serverCpuUsPerRequest: number;
}

const scripts = mkdtempSync(join(tmpdir(), "connect-overhead-"));
// GetOrderRequest{order_id} as Connect JSON and as protobuf binary (tag 0x0a, length 36).
const orderId = "0190b7f4-6c1e-7a3b-9d2e-5f4a3b2c1d0e";
writeFileSync(
  join(scripts, "application_json.lua"),
  `wrk.method = "POST"\nwrk.body = '{"orderId":"${orderId}"}'\nwrk.headers["Content-Type"] = "application/json"\n`,
);
writeFileSync(
  join(scripts, "application_proto.lua"),
  `wrk.method = "POST"\nwrk.body = "\\010\\036${orderId}"\nwrk.headers["Content-Type"] = "application/proto"\n`,
);

function startServer(mode: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [join(here, "server.ts"), mode, "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /LISTENING (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once("exit", (code) => reject(new Error(`${mode} exited with ${code}`)));
  });
}

// utime + stime of the server process, in clock ticks (100 per second on Linux).
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

function toUs(value: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(value.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n : m[2] === "ms" ? n * 1000 : n * 1_000_000;
}

async function wrk(port: number, connections: number, contentType: string, duration: number) {
  const script = join(scripts, `${contentType.replace("/", "_")}.lua`);
  const { stdout } = await run("wrk", [
    "-t1",
    `-c${connections}`,
    `-d${duration}s`,
    "--latency",
    "-s",
    script,
    `http://127.0.0.1:${port}${path}`,
  ]);
  const pct = (p: string) => toUs(new RegExp(`^\\s*${p}%\\s+(\\S+)`, "m").exec(stdout)?.[1] ?? "");
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return { requests, p50: pct("50"), p90: pct("90"), p99: pct("99"), errors: non2xx + socketErrors };
}

async function measure(mode: string, connections: number, contentType: string): Promise<Sample> {
  const { child, port } = await startServer(mode);
  try {
    // The answer must be the real one before its speed means anything.
    const check = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ orderId }),
    });
    const body = (await check.json()) as { order?: { orderId?: string } };
    if (check.status !== 200 || body.order?.orderId !== orderId) throw new Error(`${mode}: wrong answer`);
    await wrk(port, connections, contentType, 2); // warm-up: JIT, connections
    const before = cpuTicks(child.pid as number);
    const r = await wrk(port, connections, contentType, seconds);
    const ticks = cpuTicks(child.pid as number) - before;
    return {
      requests: r.requests,
      rps: Math.round(r.requests / seconds),
      p50Us: r.p50,
      p90Us: r.p90,
      p99Us: r.p99,
      errors: r.errors,
      serverCpuUsPerRequest: r.requests ? Math.round((ticks * 10_000) / r.requests) : Number.NaN,
    };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

async function main() {
  const samples: Record<string, Record<string, Sample[]>> = {};
  for (let round = 1; round <= rounds; round++) {
    for (const load of loads) {
      // Rotate the order each round so drift in machine load hits every target alike.
      const order = targets.map(
        (_, i) => targets[(i + round - 1) % targets.length] as (typeof targets)[number],
      );
      for (const t of order) {
        const s = await measure(t.mode, load.connections, load.contentType);
        const byTarget = samples[load.name] ?? {};
        samples[load.name] = byTarget;
        byTarget[t.key] = [...(byTarget[t.key] ?? []), s];
        console.log(
          `round ${round} ${load.name} ${t.key} ${t.mode}: ${s.rps}/s p50 ${s.p50Us}us p99 ${s.p99Us}us cpu ${s.serverCpuUsPerRequest}us/req`,
        );
      }
    }
  }
  const loadAvg = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const summary = loads.map((load) => ({
    load: load.name,
    connections: load.connections,
    contentType: load.contentType,
    targets: targets.map((t) => {
      const xs = samples[load.name]?.[t.key] ?? [];
      return {
        key: t.key,
        mode: t.mode,
        label: t.label,
        rps: median(xs.map((x) => x.rps)),
        p50Us: median(xs.map((x) => x.p50Us)),
        p90Us: median(xs.map((x) => x.p90Us)),
        p99Us: median(xs.map((x) => x.p99Us)),
        serverCpuUsPerRequest: median(xs.map((x) => x.serverCpuUsPerRequest)),
        errors: xs.reduce((a, x) => a + x.errors, 0),
        rounds: xs,
      };
    }),
  }));
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    loadAverageAtEnd: loadAvg,
    wrk: (await run("wrk", ["-v"]).catch((e: { stdout?: string }) => ({ stdout: e.stdout ?? "" }))).stdout
      .split("\n")[0]
      ?.trim(),
    secondsPerRun: seconds,
    rounds,
    method: path,
  };
  writeFileSync(join(here, "results.json"), `${JSON.stringify({ meta, summary }, null, 2)}\n`);
  const lines = [
    "# Connect unary overhead: results",
    "",
    `Generated by \`node bench/connect-overhead/run.ts ${seconds} ${rounds}\` on ${meta.date}: Node ${meta.node}, ${meta.cpus} CPUs (${meta.cpuModel}), ${meta.wrk}; wrk and the server share the machine.`,
    `Each cell is the median of ${rounds} interleaved runs of ${seconds} s after a 2 s warm-up; one server process per run. Load average at the end: ${loadAvg}.`,
    "Server CPU per request (utime+stime of the server process / requests) is the steadiest figure on a shared machine; requests/s moves with whatever else runs.",
    "",
  ];
  for (const s of summary) {
    lines.push(`## ${s.load}: POST ${path}, ${s.contentType}, ${s.connections} connection(s)`, "");
    lines.push(
      "| target | requests/s | p50 | p90 | p99 | server CPU per request | errors |",
      "|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const t of s.targets) {
      lines.push(
        `| ${t.label} | ${t.rps} | ${t.p50Us} µs | ${t.p90Us} µs | ${t.p99Us} µs | ${t.serverCpuUsPerRequest} µs | ${t.errors} |`,
      );
    }
    lines.push("");
  }
  writeFileSync(join(here, "results.md"), `${lines.join("\n")}\n`);
  console.log(lines.join("\n"));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
