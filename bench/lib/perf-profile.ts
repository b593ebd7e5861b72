import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { stopChild } from "./procs.ts";
import type { ProfileSummary } from "./profile.ts";

/*
 * Linux perf for the processes `node --cpu-prof` cannot see: the Temporal
 * server (dev server or cluster) is a Go binary, which keeps frame pointers,
 * so `perf record -g` walks its stacks without debug info. The sampling
 * rate is low (~500 Hz) so the recording adds little to what it measures.
 */

export const PERF_HZ = 499;

/** Whether `perf` is installed and allowed to sample here (Debian's linux-perf). */
export function perfUsable(): boolean {
  const probe = spawnSync("perf", ["record", "-q", "-F", "99", "-o", "/dev/null", "--", "true"], {
    stdio: "ignore",
  });
  return probe.status === 0;
}

export interface PerfRecording {
  file: string;
  /** Ends the recording and waits until perf has written its file. */
  stop(): Promise<void>;
}

/** Samples one process (all its threads) with call stacks until stop(). */
export function recordPerf(pid: number, file: string): PerfRecording {
  const child: ChildProcess = spawn(
    "perf",
    ["record", "-q", "-F", String(PERF_HZ), "-g", "-p", String(pid), "-o", file],
    { stdio: "ignore" },
  );
  return {
    file,
    // perf writes its file on SIGINT, as on Ctrl-C.
    stop: () => stopChild(child, "SIGINT", 30_000),
  };
}

/** A named code path: a sample counts for it when any frame of its stack matches. */
export interface CodePath {
  name: string;
  matches: (frame: string) => boolean;
}

const under = (...prefixes: string[]) => ({
  matches: (frame: string) => prefixes.some((p) => frame.startsWith(p)),
});

/** Where the Temporal server's time goes, by what it is doing (ADR 0025). */
export const TEMPORAL_CODE_PATHS: CodePath[] = [
  {
    name: "persistence (every store call, visibility too)",
    ...under("go.temporal.io/server/common/persistence"),
  },
  { name: "SQLite engine (dev server)", ...under("modernc.org/sqlite") },
  { name: "PostgreSQL driver (cluster)", ...under("github.com/jackc/pgx", "github.com/lib/pq") },
  {
    name: "history: workflow task completed",
    ...under("go.temporal.io/server/service/history/api/respondworkflowtaskcompleted."),
  },
  {
    name: "history: workflow task started",
    ...under("go.temporal.io/server/service/history/api/recordworkflowtaskstarted."),
  },
  {
    name: "history: activity task completed",
    ...under("go.temporal.io/server/service/history/api/respondactivitytaskcompleted."),
  },
  { name: "history: workflow start", ...under("go.temporal.io/server/service/history/api/startworkflow.") },
  {
    name: "history: visibility tasks",
    ...under("go.temporal.io/server/service/history.(*visibilityQueueTaskExecutor)"),
  },
  {
    name: "history: transfer tasks",
    ...under("go.temporal.io/server/service/history.(*transferQueueActiveTaskExecutor)"),
  },
  {
    name: "history: timer tasks",
    ...under("go.temporal.io/server/service/history.(*timerQueueActiveTaskExecutor)"),
  },
  { name: "matching", ...under("go.temporal.io/server/service/matching.") },
  { name: "frontend", ...under("go.temporal.io/server/service/frontend.") },
  { name: "gRPC (transport, codec, internal hops)", ...under("google.golang.org/grpc") },
  { name: "gRPC gzip", ...under("google.golang.org/grpc/encoding/gzip") },
  { name: "protobuf encode/decode", ...under("google.golang.org/protobuf") },
  {
    name: "metrics",
    ...under("github.com/uber-go/tally", "go.temporal.io/server/common/metrics", "github.com/prometheus"),
  },
  { name: "Go GC (background mark)", ...under("runtime.gcBgMarkWorker") },
  { name: "Go allocation", ...under("runtime.mallocgc") },
];

/** Where a symbol lives: its Go package (cut to a readable depth), or the kernel. */
function areaOf(symbol: string, dso: string): string {
  if (dso.includes("kernel")) return "kernel";
  if (symbol.startsWith("runtime.") || symbol.startsWith("internal/runtime")) return "Go runtime";
  const slash = symbol.lastIndexOf("/", symbol.indexOf("(") > 0 ? symbol.indexOf("(") : undefined);
  const dot = symbol.indexOf(".", slash + 1);
  const pkg = dot > 0 ? symbol.slice(0, dot) : symbol;
  const parts = pkg.split("/");
  if (pkg.startsWith("go.temporal.io/server/")) return parts.slice(0, 4).join("/");
  return parts.slice(0, 3).join("/");
}

interface Sample {
  /** Leaf first. */
  frames: { symbol: string; dso: string }[];
}

/** Stacks from `perf script`: a header line per sample, then one indented frame per line. */
function readSamples(file: string): Sample[] {
  const text = execFileSync("perf", ["script", "-i", file, "-F", "comm,tid,ip,sym,dso"], {
    maxBuffer: 1 << 30,
    stdio: ["ignore", "pipe", "ignore"],
  }).toString();
  const samples: Sample[] = [];
  let current: Sample | undefined;
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (current && current.frames.length > 0) samples.push(current);
      current = undefined;
      continue;
    }
    if (!/^\s/.test(line)) {
      current = { frames: [] };
      continue;
    }
    // "<ip> <symbol>+0x<off> (<dso>)"
    const match = /^\s*[0-9a-f]+\s+(.*?)(?:\+0x[0-9a-f]+)?\s+\((.*)\)\s*$/.exec(line);
    if (match && current) current.frames.push({ symbol: match[1] ?? "[unknown]", dso: match[2] ?? "" });
  }
  if (current && current.frames.length > 0) samples.push(current);
  return samples;
}

/**
 * A perf recording as the same summary the V8 profiles get, plus the share
 * of each named code path by inclusive time (they overlap).
 */
export function summarizePerf(file: string, codePaths: CodePath[], top = 15): ProfileSummary {
  const samples = readSamples(file);
  const n = samples.length || 1;
  const pct = (count: number) => Math.round((count / n) * 1000) / 10;
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const { frames } of samples) {
    const leaf = frames[0];
    if (leaf) {
      self.set(leaf.symbol, (self.get(leaf.symbol) ?? 0) + 1);
      const area = areaOf(leaf.symbol, leaf.dso);
      areas.set(area, (areas.get(area) ?? 0) + 1);
    }
    for (const codePath of codePaths)
      if (frames.some((f) => codePath.matches(f.symbol)))
        inclusive.set(codePath.name, (inclusive.get(codePath.name) ?? 0) + 1);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    file: path.basename(file),
    busyMs: Math.round((samples.length / PERF_HZ) * 1000),
    // perf samples only on-CPU time.
    idlePercent: 0,
    topFrames: sorted(self)
      .slice(0, top)
      .map(([frame, count]) => ({ frame, selfPercent: pct(count) })),
    byArea: sorted(areas)
      .slice(0, 12)
      .map(([area, count]) => ({ area, selfPercent: pct(count) })),
    projectInclusive: [],
    codePaths: codePaths
      .map((c) => ({ path: c.name, inclusivePercent: pct(inclusive.get(c.name) ?? 0) }))
      .filter((c) => c.inclusivePercent > 0),
  };
}
