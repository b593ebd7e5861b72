import { randomUUID } from "node:crypto";
import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from "@temporalio/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { infraEnv, loadConfig } from "#lib/host/config.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { connectTemporalClient } from "#lib/temporal.ts";
import { type OrchestratorWorker, startOrchestratorWorker } from "#services/orchestrator/src/worker.ts";
import { pingStatusQuery, pingWorkflow } from "#services/orchestrator/src/workflows/ping.ts";

const cfg = loadConfig(
  z.object({ TEMPORAL_ADDRESS: infraEnv.TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE: infraEnv.TEMPORAL_NAMESPACE }),
);
const target = { address: cfg.TEMPORAL_ADDRESS, namespace: cfg.TEMPORAL_NAMESPACE };
// A queue of its own so a stray worker (a running orchestrator, another test) never takes these tasks.
const taskQueue = `test-ping-${randomUUID()}`;

let client: Client;
let orchestrator: OrchestratorWorker;

beforeAll(async () => {
  client = await connectTemporalClient(target);
  orchestrator = await startOrchestratorWorker({
    ...target,
    taskQueue,
    logger: createLogger("orchestrator-test", "warn"),
  });
});

afterAll(async () => {
  await orchestrator?.shutdown();
  await client?.connection.close();
});

describe("Temporal walking skeleton", () => {
  it("runs pingWorkflow to completion on the in-process worker, through a real activity", async () => {
    const workflowId = `ping-${randomUUID()}`;
    const handle = await client.workflow.start(pingWorkflow, {
      taskQueue,
      workflowId,
      args: [{ name: "Accord" }],
    });

    const result = await handle.result();
    expect(result).toEqual({ greeting: "Hello, Accord!", steps: ["started", "greeting", "completed"] });
    // Answered by the worker replaying the closed workflow's history.
    expect(await handle.query(pingStatusQuery)).toBe("completed");

    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes);
    const completed = events.filter((e) => e.activityTaskCompletedEventAttributes);
    expect(scheduled.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)).toEqual([
      "greet",
    ]);
    expect(completed).toHaveLength(1);
    expect(events.some((e) => e.workflowExecutionCompletedEventAttributes)).toBe(true);

    const described = await handle.describe();
    expect(described.status.name).toBe("COMPLETED");
    expect(described.taskQueue).toBe(taskQueue);
  });

  it("rejects a second start of a workflow id that is still running", async () => {
    // No worker polls this queue, so the first run stays open for as long as the test needs:
    // the uniqueness check is the server's, not the worker's.
    const idleQueue = `test-idle-${randomUUID()}`;
    const workflowId = `ping-dup-${randomUUID()}`;
    const options = { taskQueue: idleQueue, workflowId, args: [{ name: "first" }] as [{ name: string }] };
    const first = await client.workflow.start(pingWorkflow, options);
    try {
      const second = client.workflow.start(pingWorkflow, { ...options, args: [{ name: "second" }] });
      await expect(second).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
      await expect(second).rejects.toMatchObject({ workflowId, workflowType: "pingWorkflow" });
      // The original run is untouched.
      expect((await first.describe()).status.name).toBe("RUNNING");
    } finally {
      await first.terminate("test cleanup");
    }
  });

  it("allows reuse of a closed workflow id unless REJECT_DUPLICATE is set", async () => {
    const workflowId = `ping-reuse-${randomUUID()}`;
    const options = { taskQueue, workflowId, args: [{ name: "once" }] as [{ name: string }] };
    await (await client.workflow.start(pingWorkflow, options)).result();

    // What the saga must set so a Kafka event redelivered after the saga finished cannot start it again.
    await expect(
      client.workflow.start(pingWorkflow, {
        ...options,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      }),
    ).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);

    // The default (ALLOW_DUPLICATE) starts a fresh run under the same id.
    const again = await client.workflow.start(pingWorkflow, options);
    expect((await again.result()).greeting).toBe("Hello, once!");
  });
});
