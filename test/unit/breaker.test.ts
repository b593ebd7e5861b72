import { describe, expect, it } from "vitest";
import { BreakerOpenError, BreakerTimeoutError, createBreaker } from "#lib/breaker.ts";

// lib/breaker.ts with a plain async function as the dependency: real (short) timers, no I/O.

class Declined extends Error {}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A dependency whose answer the test switches at will; counts its calls. */
function dependency() {
  const dep = {
    calls: 0,
    mode: "ok" as "ok" | "fail" | "decline",
    async run(_signal: AbortSignal, value: string): Promise<string> {
      dep.calls += 1;
      if (dep.mode === "fail") throw new Error("dependency down");
      if (dep.mode === "decline") throw new Declined("declined");
      return `ok:${value}`;
    },
  };
  return dep;
}

function breakerFor(dep: ReturnType<typeof dependency>, resetTimeoutMs = 150) {
  return createBreaker("test", (signal: AbortSignal, value: string) => dep.run(signal, value), {
    timeoutMs: 100,
    errorThresholdPercentage: 50,
    resetTimeoutMs,
    volumeThreshold: 3,
    isBusinessError: (e) => e instanceof Declined,
  });
}

describe("createBreaker", () => {
  it("stays closed below the volume threshold and opens once it is reached", async () => {
    const dep = dependency();
    const breaker = breakerFor(dep);
    dep.mode = "fail";
    for (let i = 0; i < 2; i++) await expect(breaker.call("x")).rejects.toThrow("dependency down");
    expect(breaker.state).toBe("closed");
    await expect(breaker.call("x")).rejects.toThrow("dependency down");
    expect(breaker.state).toBe("open");
    expect(dep.calls).toBe(3);
    breaker.shutdown();
  });

  it("answers BreakerOpenError at once while open, without calling the dependency", async () => {
    const dep = dependency();
    const breaker = breakerFor(dep, 10_000);
    dep.mode = "fail";
    for (let i = 0; i < 3; i++) await breaker.call("x").catch(() => {});
    expect(breaker.state).toBe("open");
    dep.mode = "ok";
    const started = performance.now();
    for (let i = 0; i < 5; i++) await expect(breaker.call("x")).rejects.toBeInstanceOf(BreakerOpenError);
    expect(performance.now() - started).toBeLessThan(50);
    expect(dep.calls).toBe(3);
    breaker.shutdown();
  });

  it("lets one probe through after the reset time and closes on its success", async () => {
    const dep = dependency();
    const breaker = breakerFor(dep, 100);
    dep.mode = "fail";
    for (let i = 0; i < 3; i++) await breaker.call("x").catch(() => {});
    expect(breaker.state).toBe("open");
    await sleep(150);
    expect(breaker.state).toBe("half-open");
    dep.mode = "ok";
    await expect(breaker.call("probe")).resolves.toBe("ok:probe");
    expect(breaker.state).toBe("closed");
    await expect(breaker.call("after")).resolves.toBe("ok:after");
    breaker.shutdown();
  });

  it("opens again when the half-open probe fails", async () => {
    const dep = dependency();
    const breaker = breakerFor(dep, 100);
    dep.mode = "fail";
    for (let i = 0; i < 3; i++) await breaker.call("x").catch(() => {});
    await sleep(150);
    expect(breaker.state).toBe("half-open");
    await expect(breaker.call("probe")).rejects.toThrow("dependency down");
    expect(breaker.state).toBe("open");
    await expect(breaker.call("x")).rejects.toBeInstanceOf(BreakerOpenError);
    expect(dep.calls).toBe(4);
    breaker.shutdown();
  });

  it("does not count business errors, and passes them through unchanged", async () => {
    const dep = dependency();
    const breaker = breakerFor(dep);
    dep.mode = "decline";
    for (let i = 0; i < 10; i++) await expect(breaker.call("x")).rejects.toBeInstanceOf(Declined);
    expect(breaker.state).toBe("closed");
    expect(dep.calls).toBe(10);
    breaker.shutdown();
  });

  it("times out each call with its own AbortSignal, leaving other in-flight calls alone", async () => {
    const signals: AbortSignal[] = [];
    const breaker = createBreaker(
      "per-call",
      (signal: AbortSignal, workMs: number) => {
        signals.push(signal);
        return new Promise<number>((resolve, reject) => {
          const timer = setTimeout(() => resolve(workMs), workMs);
          signal.addEventListener("abort", () => {
            clearTimeout(timer);
            reject(signal.reason);
          });
        });
      },
      { timeoutMs: 100, volumeThreshold: 100 },
    );
    // The slow call starts first and times out at ~100 ms; the second starts at ~60 ms
    // and finishes at ~130 ms, after the first call's timeout but within its own.
    const slow = breaker.call(1_000);
    const slowResult = slow.then(
      () => "resolved",
      (e: unknown) => e,
    );
    await sleep(60);
    const quick = breaker.call(70);
    const timedOut = await slowResult;
    expect(timedOut).toBeInstanceOf(BreakerTimeoutError);
    expect((timedOut as BreakerTimeoutError).timeoutMs).toBe(100);
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[1]?.aborted).toBe(false);
    await expect(quick).resolves.toBe(70);
    expect(signals[1]?.aborted).toBe(false);
    expect(signals[0]).not.toBe(signals[1]);
    breaker.shutdown();
  });
});
