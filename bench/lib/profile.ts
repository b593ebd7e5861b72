import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  /** Sampled milliseconds, idle excluded. */
  busyMs: number;
  idlePercent: number;
  /** Functions by self time, percent of busy time. */
  topFrames: { frame: string; selfPercent: number }[];
  /** Self time grouped by where the code lives (package, node internals, project folder). */
  byArea: { area: string; selfPercent: number }[];
  /**
   * The project's own functions (lib/, services/) by inclusive time: what
   * they and everything they call took, percent of busy time. Overlapping
   * (a caller includes its callees); says which of our code paths hold the time.
   */
  projectInclusive: { frame: string; inclusivePercent: number }[];
  /** Named code paths by inclusive time, overlapping (perf profiles of the Temporal server). */
  codePaths?: { path: string; inclusivePercent: number }[];
}

/** Where a frame's code lives: an npm package, node's internals, a project folder, or a V8 pseudo-frame. */
function areaOf(url: string, name: string): string {
  if (url === "") return name.startsWith("(") ? name : "(native)";
  if (url.startsWith("node:")) return "node internals";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] as string;
  const project = /\/work\/[^/]+\/([^/]+\/[^/]+)/.exec(url);
  if (project) return project[1]?.startsWith("services/") ? project[1] : (project[1]?.split("/")[0] ?? url);
  return url;
}

function short(url: string): string {
  const idx = url.lastIndexOf("node_modules/");
  if (idx >= 0) return url.slice(idx + "node_modules/".length);
  return url.replace(/^file:\/\/\/work\/[^/]+\//, "");
}

/** Self time per function from a V8 .cpuprofile (what `node --cpu-prof` writes). */
export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const frames = new Map<string, number>();
  const areas = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    total += us;
    if (functionName === "(idle)") {
      idle += us;
      continue;
    }
    const label = `${functionName || "(anonymous)"} ${url ? `${short(url)}:${lineNumber + 1}` : ""}`.trim();
    frames.set(label, (frames.get(label) ?? 0) + us);
    const area = areaOf(url, functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => Math.round((us / busy) * 1000) / 10;
  const inclusive = projectInclusiveUs(profile, byId);
  return {
    file: path.basename(file),
    busyMs: Math.round(busy / 1000),
    idlePercent: total ? Math.round((idle / total) * 1000) / 10 : 0,
    topFrames: [...frames]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, us]) => ({ frame, selfPercent: pct(us) })),
    byArea: [...areas]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([area, us]) => ({ area, selfPercent: pct(us) })),
    projectInclusive: [...inclusive]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([frame, us]) => ({ frame, inclusivePercent: pct(us) })),
  };
}

const PROJECT_CODE = /\/work\/[^/]+\/(lib|services)\//;

/** Each sample's time, credited once to every project function on its stack. */
function projectInclusiveUs(profile: CpuProfile, byId: Map<number, ProfileNode>): Map<string, number> {
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const out = new Map<string, number>();
  profile.samples.forEach((leaf, i) => {
    if (byId.get(leaf)?.callFrame.functionName === "(idle)") return;
    const us = profile.timeDeltas[i] ?? 0;
    const seen = new Set<string>();
    for (let id: number | undefined = leaf; id !== undefined; id = parentOf.get(id)) {
      const frame = byId.get(id)?.callFrame;
      if (!frame || !PROJECT_CODE.test(frame.url)) continue;
      const label = `${frame.functionName || "(anonymous)"} ${short(frame.url)}:${frame.lineNumber + 1}`;
      if (seen.has(label)) continue;
      seen.add(label);
      out.set(label, (out.get(label) ?? 0) + us);
    }
  });
  return out;
}

/**
 * The profile node wrote for one process (CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile)
 * in a folder that processes of several runs may share; thread 0 is the main thread, 1 a
 * process's first worker thread. Without a pid, the largest file.
 */
export function profileOf(dir: string, pid: number | string | undefined, thread = 0): string | undefined {
  const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  if (pid !== undefined) {
    const mine = files.find((f) => {
      const parts = f.split(".");
      return parts[3] === String(pid) && parts[4] === String(thread);
    });
    return mine ? path.join(dir, mine) : undefined;
  }
  return files.map((f) => path.join(dir, f)).sort((a, b) => statSync(b).size - statSync(a).size)[0];
}
