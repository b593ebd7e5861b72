import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { accordHome, ROOT } from "#test/support/service-process.ts";

// The Connect conformance suite (connectrpc/conformance v1.0.7, server mode)
// against the RPC server stack before and after ADR 0009; see conformance/README.md.
// The runner is built by scripts/conformance.sh, which `npm test` runs first.
const runner = path.join(accordHome(), "cache", "connectconformance-v1.0.7", "connectconformance");

interface RunResult {
  exitCode: number | null;
  output: string;
  seconds: number;
}

function runSuite(variant: "before" | "after"): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(
      runner,
      [
        "--mode",
        "server",
        "--conf",
        "conformance/config.yaml",
        "--known-failing",
        "@conformance/known-failing.txt",
        "-p",
        process.env.CONFORMANCE_PARALLEL ?? "2",
        "--",
        // The server runs on plain Node, as the services do (type stripping).
        process.execPath,
        "conformance/server.ts",
        `--variant=${variant}`,
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("error", reject);
    child.once("close", (exitCode) => resolve({ exitCode, output, seconds: (Date.now() - started) / 1000 }));
  });
}

/** The runner's summary: "Total cases: N" then "P passed, F failed". */
function summary(output: string) {
  const total = output.match(/^Total cases: (\d+)$/m);
  const counts = [...output.matchAll(/^(\d+) passed, (\d+) failed$/gm)].at(-1);
  if (!total || !counts) return undefined;
  return { total: Number(total[1]), passed: Number(counts[1]), failed: Number(counts[2]) };
}

/** The runner's FAILED lines, so a failing run names its cases. */
function failures(output: string) {
  return output
    .split("\n")
    .filter((line) => line.startsWith("FAILED: "))
    .slice(0, 40);
}

describe("Connect conformance suite, server mode", () => {
  for (const variant of ["before", "after"] as const) {
    it(`${variant}: every case passes`, async () => {
      if (!existsSync(runner)) {
        throw new Error(
          `conformance runner missing at ${runner}: build it with 'bash scripts/conformance.sh --install-only'`,
        );
      }
      const result = await runSuite(variant);
      const counts = summary(result.output);
      console.log(`[conformance] ${variant}: ${JSON.stringify(counts)} in ${result.seconds.toFixed(1)} s`);
      expect(counts, `no summary in the runner's output:\n${result.output.slice(-4000)}`).toBeDefined();
      expect(failures(result.output)).toEqual([]);
      expect(counts?.failed).toBe(0);
      // A server that never starts fails every case, but an empty selection must not pass either.
      expect(counts?.passed).toBeGreaterThan(0);
      expect(counts?.passed).toBe(counts?.total);
      expect(result.exitCode).toBe(0);
    });
  }
});
