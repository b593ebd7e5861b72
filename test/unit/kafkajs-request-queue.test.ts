import { createRequire } from "node:module";
import { afterEach, describe, expect, it, vi } from "vitest";

// kafkajs's per-connection request queue as patches/kafkajs+2.2.4.patch
// leaves it: idle, it arms no timer (unpatched it re-armed one every
// millisecond for the life of the connection); a request that has to wait
// is still sent once it may go.
const require = createRequire(import.meta.url);

interface PushedRequest {
  entry: { correlationId: number; resolve(response: unknown): void; reject(error: unknown): void };
  expectResponse: boolean;
  sendRequest(): void;
}
interface RequestQueue {
  pending: unknown[];
  inflight: Map<number, unknown>;
  throttledUntil: number;
  checkPendingRequests(): void;
  maybeThrottle(ms: number): void;
  push(request: PushedRequest): void;
  destroy(): void;
}
const RequestQueueClass = require("kafkajs/src/network/requestQueue/index.js") as new (
  options: Record<string, unknown>,
) => RequestQueue;

const silent = { debug() {}, info() {}, warn() {}, error() {} };
const queue = () =>
  new RequestQueueClass({
    maxInFlightRequests: 1,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: "test",
    broker: "127.0.0.1:9092",
    logger: silent,
  });

afterEach(() => {
  vi.useRealTimers();
});

describe("kafkajs request queue (patched)", () => {
  it("arms no timer when nothing is pending", () => {
    vi.useFakeTimers();
    const q = queue();
    q.checkPendingRequests();
    expect(vi.getTimerCount()).toBe(0);
    q.destroy();
  });

  it("sends a request held back by client-side throttling once the throttle ends, then goes quiet", () => {
    vi.useFakeTimers();
    const q = queue();
    const sent: number[] = [];
    q.maybeThrottle(50);
    q.push({
      entry: { correlationId: 1, resolve() {}, reject() {} },
      expectResponse: false,
      sendRequest: () => sent.push(1),
    });
    expect(sent).toEqual([]);
    expect(q.pending).toHaveLength(1);
    vi.advanceTimersByTime(60);
    expect(sent).toEqual([1]);
    expect(q.pending).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
    q.destroy();
  });
});
