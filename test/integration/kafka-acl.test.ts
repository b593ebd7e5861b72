import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { pino } from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { InventoryReleasedSchema } from "#gen/accord/inventory/v1/events_pb.js";
import { encodeEvent, sourceFor } from "#lib/messaging/events.ts";
import { createKafka, kafkaErrorCode, kafkaPasswordFor, parseBrokers } from "#lib/messaging/kafka.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { ensureProductionTopics, tryForgedPublish } from "#test/support/kafka-forgery.ts";

// The real broker's SASL/SCRAM and ACLs (infra/kafka/acl-table.ts) against
// the production topic names: only a topic's owner may write it. A denied
// publish writes nothing, so these run safely next to a running platform.
const WAIT_MS = 15_000;
function as(user: string, logger = createLogger("kafka-acl-test", "silent")) {
  return createKafka({
    clientId: `kafka-acl-test-${user}`,
    brokers: parseBrokers(process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"),
    auth: { mechanism: "scram-sha-256", username: user, password: kafkaPasswordFor(user) },
    logger,
    logLevel: "error",
    // A fresh broker creates __consumer_offsets on the first FindCoordinator: worth a retry.
    retries: 3,
  });
}

/**
 * The broker's error code for a call as `user`, or "ok". kafkajs reports a
 * FindCoordinator refused with GROUP_AUTHORIZATION_FAILED only as "Failed to
 * find group coordinator", so the code is taken from the response it logs.
 */
async function outcome(user: string, call: (admin: Admin) => Promise<unknown>): Promise<string> {
  const logged: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logged.push(String(chunk));
      done();
    },
  });
  const admin = as(user, pino({ level: "error" }, sink)).admin();
  try {
    await admin.connect();
    await call(admin);
    return "ok";
  } catch (error) {
    if (logged.some((line) => line.includes("Group authorization failed")))
      return "GROUP_AUTHORIZATION_FAILED";
    return kafkaErrorCode(error) ?? (error as Error).message;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

type Admin = ReturnType<ReturnType<typeof as>["admin"]>;

/** Answers of a topic whose partitions are still electing leaders (created a moment ago). */
const TRANSIENT = new Set(["NOT_LEADER_FOR_PARTITION", "LEADER_NOT_AVAILABLE", "UNKNOWN_TOPIC_OR_PARTITION"]);

/** The first answer that is not TRANSIENT, asking again for up to WAIT_MS. */
async function settled(attempt: () => Promise<string>): Promise<string> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const answer = await attempt();
    if (!TRANSIENT.has(answer) || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

// So that a refusal below is the ACLs' and not a missing topic's.
beforeAll(async () => {
  await ensureProductionTopics();
});

describe("Kafka authentication and ACLs (real broker)", () => {
  it("refuses a forged OrderPlaced on orders.events from the payments user", async () => {
    const denied = await tryForgedPublish({
      username: "payments",
      password: kafkaPasswordFor("payments"),
      topic: "orders.events",
    });
    expect(denied).toBe("TOPIC_AUTHORIZATION_FAILED");
  });

  it.each(["inventory", "shipping", "orchestrator", "notifications", "migrate", "test", "chaos", "bench"])(
    "refuses a forged OrderPlaced on orders.events from %s (a reader, a tool or a sandbox principal)",
    async (user) => {
      expect(
        await tryForgedPublish({ username: user, password: kafkaPasswordFor(user), topic: "orders.events" }),
      ).toBe("TOPIC_AUTHORIZATION_FAILED");
    },
  );

  it("refuses a wrong password, and an unknown user, at the SASL handshake", async () => {
    expect(await tryForgedPublish({ username: "orders", password: "orders", topic: "orders.events" })).toBe(
      "SASL_AUTHENTICATION_FAILED",
    );
    expect(
      await tryForgedPublish({ username: "mallory", password: "dev-kafka-mallory", topic: "orders.events" }),
    ).toBe("SASL_AUTHENTICATION_FAILED");
  });

  it("serves an unauthenticated (PLAINTEXT) client nothing: the broker hangs up", async () => {
    const started = Date.now();
    const denied = await tryForgedPublish({ topic: "orders.events" });
    expect(["CONNECTION_CLOSED", "CONNECTION_FAILED"]).toContain(denied);
    expect(Date.now() - started).toBeLessThan(WAIT_MS);
  });

  it("lets the owner produce to its own topic", async () => {
    // inventory.events has no consumer (docs/ARCHITECTURE.md), so the owner's
    // record starts nothing; the same rule row shape makes orders the only
    // writer of orders.events, whose metadata it alone of the writers may read.
    const reservationId = randomUUID();
    const released = encodeEvent(
      InventoryReleasedSchema,
      create(InventoryReleasedSchema, { reservationId, orderId: randomUUID() }),
      { source: sourceFor("inventory"), key: reservationId },
    );
    expect(
      await settled(() =>
        tryForgedPublish({
          username: "inventory",
          password: kafkaPasswordFor("inventory"),
          topic: "inventory.events",
          event: released,
        }),
      ),
    ).toBe("ACCEPTED");
    expect(
      await tryForgedPublish({
        username: "payments",
        password: kafkaPasswordFor("payments"),
        topic: "inventory.events",
        event: released,
      }),
    ).toBe("TOPIC_AUTHORIZATION_FAILED");
    expect(
      await settled(() =>
        outcome("orders", (admin) => admin.fetchTopicMetadata({ topics: ["orders.events"] })),
      ),
    ).toBe("ok");
    expect(
      await outcome("payments", (admin) => admin.fetchTopicMetadata({ topics: ["orders.events"] })),
    ).toBe("TOPIC_AUTHORIZATION_FAILED");
  });

  it("keeps each consumer group to its own principal", async () => {
    expect(
      await outcome("orchestrator", (admin) =>
        admin.fetchOffsets({ groupId: "orchestrator", topics: ["orders.events"] }),
      ),
    ).toBe("ok");
    expect(
      await outcome("orchestrator", (admin) =>
        admin.fetchOffsets({ groupId: "notifications", topics: ["orders.events"] }),
      ),
    ).toBe("GROUP_AUTHORIZATION_FAILED");
    expect(
      await outcome("test", (admin) =>
        admin.fetchOffsets({ groupId: "orchestrator", topics: ["orders.events"] }),
      ),
    ).toBe("GROUP_AUTHORIZATION_FAILED");
  });
});
