import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export interface RunReport {
  /** Folder under reports/ ("chaos", "bad-input"). */
  folder: string;
  title: string;
  /** The command as a user would type it. */
  command: string;
  short: boolean;
  /** File name without extension; default report (short-report for short runs). */
  base?: string;
  startedAt: Date;
  ok: boolean;
  /** The table the run printed. */
  text: string;
  /** The raw result, for report.json. */
  data: unknown;
}

/**
 * Writes reports/<folder>/report.{md,json} (short-report.* for --short runs, or run.base),
 * so a run's tables can be committed and read without running it again.
 */
export function writeRunReport(run: RunReport): string {
  const dir = path.join(ROOT, "reports", run.folder);
  mkdirSync(dir, { recursive: true });
  const base = run.base ?? (run.short ? "short-report" : "report");
  const finished = new Date();
  const seconds = Math.round((finished.getTime() - run.startedAt.getTime()) / 1000);
  const cpus = os.cpus();
  const markdown = [
    `# ${run.title}${run.short ? " (short run)" : ""}`,
    "",
    `\`${run.command}\`, ${run.startedAt.toISOString()} -> ${finished.toISOString()} (${seconds} s), ` +
      `${cpus.length} cores (${cpus[0]?.model.trim() ?? "unknown"}), Node ${process.versions.node}. ` +
      `Result: **${run.ok ? "passed" : "FAILED"}**. Raw result: [${base}.json](${base}.json).`,
    "",
    "```text",
    run.text,
    "```",
    "",
  ].join("\n");
  const json = JSON.stringify(
    { startedAt: run.startedAt, finishedAt: finished, ok: run.ok, result: run.data },
    (_key, value: unknown) =>
      value instanceof Map ? Object.fromEntries(value) : typeof value === "bigint" ? value.toString() : value,
    2,
  );
  writeFileSync(path.join(dir, `${base}.md`), markdown);
  writeFileSync(path.join(dir, `${base}.json`), `${json}\n`);
  return path.relative(ROOT, path.join(dir, `${base}.md`));
}
