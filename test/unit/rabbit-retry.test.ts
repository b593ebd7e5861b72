import { describe, expect, it } from "vitest";
import { attemptsFrom, nextRoute } from "#lib/messaging/rabbit.ts";
import { DEFAULT_RETRY_DELAYS_MS, taskTopologyNames } from "#services/notifications/src/topology.ts";

const withHeaders = (headers: Record<string, unknown> | undefined) =>
  ({ properties: { headers } }) as unknown as Parameters<typeof attemptsFrom>[0];

const death = (queue: string, reason: string, count: number) => ({
  queue,
  reason,
  count,
  exchange: "accord.tasks",
  "routing-keys": ["email"],
});

describe("nextRoute", () => {
  const delays = [5_000, 25_000, 125_000];

  it("sends the first failure to the first delay queue", () => {
    expect(nextRoute(1, delays)).toEqual({ kind: "retry", delayMs: 5_000, queueSuffix: ".retry.5000" });
  });

  it("walks the delays in order", () => {
    expect(nextRoute(2, delays)).toEqual({ kind: "retry", delayMs: 25_000, queueSuffix: ".retry.25000" });
    expect(nextRoute(3, delays)).toEqual({ kind: "retry", delayMs: 125_000, queueSuffix: ".retry.125000" });
  });

  it("dead-letters once the last delay has been used", () => {
    expect(nextRoute(4, delays)).toEqual({ kind: "dead-letter" });
    expect(nextRoute(40, delays)).toEqual({ kind: "dead-letter" });
  });

  it("dead-letters at once when no retries are configured", () => {
    expect(nextRoute(1, [])).toEqual({ kind: "dead-letter" });
  });

  it("treats nonsense attempt counts as the first attempt", () => {
    expect(nextRoute(0, delays)).toMatchObject({ kind: "retry", delayMs: 5_000 });
    expect(nextRoute(Number.NaN, delays)).toMatchObject({ kind: "retry", delayMs: 5_000 });
  });

  it("defaults to 5 s, 25 s, 125 s", () => {
    expect(DEFAULT_RETRY_DELAYS_MS).toEqual([5_000, 25_000, 125_000]);
  });

  it("names the delay queue the topology declares", () => {
    const route = nextRoute(1, [200, 400]);
    if (route.kind !== "retry") throw new Error("expected a retry");
    const names = taskTopologyNames("t.");
    expect(`${names.queue("email")}${route.queueSuffix}`).toBe(names.delayQueue("email", 200));
  });
});

describe("attemptsFrom", () => {
  it("is 1 for a fresh message", () => {
    expect(attemptsFrom(withHeaders(undefined))).toBe(1);
    expect(attemptsFrom(withHeaders({ "order-id": "o-1" }))).toBe(1);
  });

  it("reads the x-attempt header we republish with", () => {
    expect(attemptsFrom(withHeaders({ "x-attempt": 3 }))).toBe(3);
    expect(attemptsFrom(withHeaders({ "x-attempt": "2" }))).toBe(2);
  });

  it("prefers x-attempt over x-death", () => {
    const headers = { "x-attempt": 2, "x-death": [death("email.retry.5000", "expired", 7)] };
    expect(attemptsFrom(withHeaders(headers))).toBe(2);
  });

  it("falls back to counting expiries from delay queues in x-death", () => {
    const headers = {
      "x-death": [death("p.email.retry.25000", "expired", 1), death("p.email.retry.5000", "expired", 2)],
    };
    expect(attemptsFrom(withHeaders(headers))).toBe(4);
  });

  it("ignores x-death entries that are not a pass through a delay queue", () => {
    const headers = {
      "x-death": [
        death("email", "rejected", 1),
        death("email", "expired", 1),
        death("email.retry.5000", "rejected", 1),
      ],
    };
    expect(attemptsFrom(withHeaders(headers))).toBe(1);
  });

  it("ignores a malformed x-attempt and falls back", () => {
    const headers = { "x-attempt": "soon", "x-death": [death("email.retry.5000", "expired", 1)] };
    expect(attemptsFrom(withHeaders(headers))).toBe(2);
    expect(attemptsFrom(withHeaders({ "x-attempt": 0 }))).toBe(1);
    expect(attemptsFrom(withHeaders({ "x-attempt": 1.5 }))).toBe(1);
  });

  it("drives nextRoute to the dead-letter queue after every delay was tried", () => {
    const delays = [200, 400];
    const routes = [1, 2, 3].map((attempt) =>
      nextRoute(attemptsFrom(withHeaders({ "x-attempt": attempt })), delays),
    );
    expect(routes.map((r) => r.kind)).toEqual(["retry", "retry", "dead-letter"]);
  });
});
