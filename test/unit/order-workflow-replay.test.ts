import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { bundleWorkflowCode, Worker, type WorkflowBundle } from "@temporalio/worker";
import { beforeAll, describe, expect, it } from "vitest";
import { installQuietRuntime } from "#lib/temporal.ts";

// Replays recorded histories of real OrderWorkflow runs against the current
// workflow code, without a server: a change that would make running sagas
// take a different path (reordered activities, a new timer, a changed
// condition) fails here as a non-determinism error before it is deployed.
// Re-record with: RECORD_ORDER_HISTORY=1 npx vitest run --project integration test/integration/orchestrator-workflow.test.ts
const workflowsPath = fileURLToPath(
  new URL("../../services/orchestrator/src/workflows/index.ts", import.meta.url),
);
const FIXTURES = [
  { file: "order-workflow-history.json", activities: 5, what: "happy path through delivery" },
  { file: "order-workflow-cancel-history.json", activities: 5, what: "cancel raced with a running charge" },
];

async function loadHistory(file: string): Promise<{ events: { eventType?: string }[] }> {
  return JSON.parse(await readFile(new URL(`../fixtures/${file}`, import.meta.url), "utf8"));
}

/**
 * The SDK's own historyFromJSON (used when runReplayHistory gets JSON) fails
 * with "type must be a Type" in this install: @temporalio/common, /proto and
 * /worker each carry their own protobufjs 8 (the root one is 7, for
 * @grpc/proto-loader), and common's JSON parser rejects proto's types. Parse
 * with the protobufjs copy that belongs to @temporalio/proto instead; the
 * result is a History object, which runReplayHistory takes as is.
 */
function historyFromCliJson(json: unknown): unknown {
  const require = createRequire(import.meta.url);
  const protoEntry = require.resolve("@temporalio/proto");
  const proto = require(protoEntry);
  const { patchProtobufRoot } = require("@temporalio/proto/lib/patch-protobuf-root") as {
    patchProtobufRoot: (root: unknown) => { lookupType(name: string): unknown };
  };
  const protojson = createRequire(protoEntry)("protobufjs/ext/protojson") as {
    fromJson(type: unknown, json: unknown, options: { ignoreUnknownFields: boolean }): unknown;
  };
  const historyType = patchProtobufRoot(proto).lookupType("temporal.api.history.v1.History");
  return protojson.fromJson(historyType, json, { ignoreUnknownFields: true });
}

function replay(history: unknown): Promise<void> {
  return Worker.runReplayHistory({ workflowBundle: bundle }, historyFromCliJson(history));
}

let bundle: WorkflowBundle;

beforeAll(async () => {
  installQuietRuntime();
  // One bundle for every replay: bundling is the slow part.
  bundle = await bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
}, 60_000);

describe("OrderWorkflow replay", () => {
  for (const fixture of FIXTURES) {
    it(`replays the recorded ${fixture.what} deterministically`, async () => {
      const history = await loadHistory(fixture.file);
      const scheduled = history.events.filter((e) => e.eventType === "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED");
      expect(scheduled).toHaveLength(fixture.activities);
      await expect(replay(history)).resolves.toBeUndefined();
    }, 30_000);
  }

  it("fails the replay when the history takes a path the code does not (the test can fail)", async () => {
    const history = await loadHistory("order-workflow-history.json");
    // Rename the first scheduled activity: the code schedules reserveInventory, the history says otherwise.
    const tampered = structuredClone(history) as {
      events: { activityTaskScheduledEventAttributes?: { activityType?: { name?: string } } }[];
    };
    const first = tampered.events.find((e) => e.activityTaskScheduledEventAttributes);
    if (!first?.activityTaskScheduledEventAttributes?.activityType)
      throw new Error("fixture has no activity");
    first.activityTaskScheduledEventAttributes.activityType.name = "chargePayment";
    await expect(replay(tampered)).rejects.toThrow(/[Nn]ondetermin/);
  }, 30_000);
});

const noop = () => undefined;
const quietBundlerLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };
