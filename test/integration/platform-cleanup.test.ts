import { randomUUID } from "node:crypto";
import type { Client } from "@temporalio/client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { connectTemporalClient } from "#lib/temporal.ts";
import { terminateRunningWorkflows } from "#test/support/temporal.ts";

// What a stopped platform does to the sagas it leaves (test/support/platform.ts
// stop()): on the real Temporal dev server, workflows on a task queue no worker
// polls stay Running until terminated; one that already ended, and one on
// another queue, are left alone.
const queue = `test-cleanup-${randomUUID()}`;
const otherQueue = `test-cleanup-other-${randomUUID()}`;
let client: Client;

beforeAll(async () => {
  client = await connectTemporalClient({
    address: process.env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233",
    namespace: process.env.TEMPORAL_NAMESPACE ?? "default",
  });
});

afterAll(async () => {
  await terminateRunningWorkflows(otherQueue, "test cleanup").catch(() => undefined);
  await client?.connection.close();
});

const start = (taskQueue: string) =>
  client.workflow.start("orderWorkflow", { taskQueue, workflowId: `cleanup-${randomUUID()}`, args: [] });

describe("terminateRunningWorkflows", () => {
  it("terminates the running workflows of its task queue only, and leaves ended ones as they are", async () => {
    const running = await Promise.all([start(queue), start(queue), start(queue)]);
    const ended = await start(queue);
    await ended.terminate("ended before the cleanup");
    const elsewhere = await start(otherQueue);
    // Visibility answers a moment after the start.
    await vi.waitFor(
      async () =>
        expect(
          (await client.workflow.count(`TaskQueue = '${queue}' AND ExecutionStatus = 'Running'`)).count,
        ).toBe(3),
      { timeout: 15_000, interval: 200 },
    );

    expect(await terminateRunningWorkflows(queue, "its platform stopped")).toBe(3);

    for (const handle of running) {
      const described = await handle.describe();
      expect(described.status.name).toBe("TERMINATED");
    }
    const endedHistory = await ended.fetchHistory();
    const reasons = (endedHistory.events ?? [])
      .map((e) => e.workflowExecutionTerminatedEventAttributes?.reason)
      .filter((r): r is string => typeof r === "string");
    expect(reasons).toEqual(["ended before the cleanup"]);
    expect((await elsewhere.describe()).status.name).toBe("RUNNING");
  });

  it("refuses a task queue name that would break out of the visibility query", async () => {
    await expect(terminateRunningWorkflows("x' OR TaskQueue != '", "no")).rejects.toThrow(
      /cannot be queried/,
    );
  });
});
