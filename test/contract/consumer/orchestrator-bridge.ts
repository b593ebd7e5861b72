import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { Client } from "@temporalio/client";
import type { DecodedEvent } from "#lib/messaging/events.ts";
import type { ConsumedRecord, EventHandler } from "#lib/messaging/kafka.ts";
import { createBridgeHandler } from "#services/orchestrator/src/bridge.ts";
import { EVENT_ID, EVENT_TIME, silentLogger } from "./fixtures.ts";

/** One call the bridge made on Temporal. */
export type TemporalCall =
  | { kind: "start"; workflowId: string; taskQueue: string; args: unknown[] }
  | { kind: "signal"; workflowId: string; signal: string; args: unknown[] };

/**
 * The orchestrator's real bridge handler over a recording stand-in for the
 * Temporal client: the consumer test checks what the bridge does with an
 * event, not Temporal itself.
 */
export function bridgeWithRecorder(): { handle: EventHandler; calls: TemporalCall[] } {
  const calls: TemporalCall[] = [];
  const fake = {
    workflow: {
      async start(_workflow: unknown, options: { workflowId: string; taskQueue: string; args: unknown[] }) {
        calls.push({
          kind: "start",
          workflowId: options.workflowId,
          taskQueue: options.taskQueue,
          args: options.args,
        });
        return { workflowId: options.workflowId, firstExecutionRunId: "run-1", eagerlyStarted: false };
      },
      getHandle(workflowId: string) {
        return {
          async signal(def: { name: string }, ...args: unknown[]) {
            calls.push({ kind: "signal", workflowId, signal: def.name, args });
          },
        };
      },
    },
  };
  const handle = createBridgeHandler({
    client: fake as unknown as Client,
    taskQueue: "orders",
    logger: silentLogger,
  });
  return { handle, calls };
}

/** An event as lib/events decodeEvent hands it to a consumer, with fixed envelope values. */
export function decodedEvent<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
): DecodedEvent {
  return {
    id: EVENT_ID,
    type: schema.typeName,
    source: "/accord/contract-test",
    time: EVENT_TIME,
    message: create(schema, message as never) as MessageShape<DescMessage>,
    schema,
  };
}

export function consumedRecord(topic: string, key: string): ConsumedRecord {
  return { topic, partition: 0, offset: "0", key, timestamp: "0", headers: {} };
}
