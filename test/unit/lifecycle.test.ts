import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createReadiness, NotReadyError } from "#lib/host/health.ts";
import { createLifecycle } from "#lib/host/lifecycle.ts";

const silent = pino({ level: "silent" });

describe("shutdown lifecycle", () => {
  it("runs the steps once, in the reverse order they were added, and exits 0 when all succeed", async () => {
    const ran: string[] = [];
    const lifecycle = createLifecycle({ logger: silent, deadlineMs: 1_000 });
    for (const name of ["pool", "relay", "server"]) lifecycle.onShutdown(name, () => void ran.push(name));
    expect(lifecycle.stopping).toBe(false);
    const first = lifecycle.shutdown("SIGTERM");
    const second = lifecycle.shutdown("SIGINT");
    expect(lifecycle.stopping).toBe(true);
    expect(await first).toBe(0);
    expect(await second).toBe(0);
    expect(ran).toEqual(["server", "relay", "pool"]);
  });

  it("goes on after a failing step and exits non-zero", async () => {
    const ran: string[] = [];
    const lifecycle = createLifecycle({ logger: silent, deadlineMs: 1_000 });
    lifecycle.onShutdown("pool", () => void ran.push("pool"));
    lifecycle.onShutdown("relay", async () => {
      ran.push("relay");
      throw new Error("kafka gone");
    });
    lifecycle.onShutdown("server", () => void ran.push("server"));
    expect(await lifecycle.shutdown("SIGTERM")).toBe(1);
    expect(ran).toEqual(["server", "relay", "pool"]);
  });

  it("keeps a forced exit code and bounds the whole sequence by the deadline", async () => {
    const ran: string[] = [];
    const lifecycle = createLifecycle({ logger: silent, deadlineMs: 100 });
    lifecycle.onShutdown("after the deadline", () => void ran.push("late"));
    lifecycle.onShutdown("hangs", () => new Promise(() => {}));
    const started = Date.now();
    expect(await lifecycle.shutdown("worker failed", 3)).toBe(3);
    expect(Date.now() - started).toBeLessThan(5_000);
    // The step after the hung one is skipped, not run past the deadline.
    expect(ran).toEqual([]);
  });
});

describe("readiness", () => {
  it("names the first check that fails, and the gate before any check", async () => {
    let gate: string | undefined = "starting";
    const readiness = createReadiness({ timeoutMs: 1_000, gate: () => gate });
    readiness.add("postgres", () => {});
    readiness.add("kafka", () => {
      throw new Error("no broker");
    });
    await expect(readiness.check()).rejects.toThrow(new NotReadyError("starting"));
    gate = undefined;
    await expect(readiness.check()).rejects.toThrow("kafka: no broker");
  });

  it("answers not ready when a check hangs past its timeout", async () => {
    const readiness = createReadiness({ timeoutMs: 50 });
    readiness.add("temporal", () => new Promise(() => {}));
    await expect(readiness.check()).rejects.toThrow("temporal: did not answer within 50 ms");
  });

  it("resolves when every check passes", async () => {
    const readiness = createReadiness({ timeoutMs: 1_000 });
    readiness.add("postgres", async () => {});
    await expect(readiness.check()).resolves.toBeUndefined();
  });
});
