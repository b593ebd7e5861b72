import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ChannelModel, ConfirmChannel } from "amqplib";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { DeadLetterQueueKind, DeadLetterService } from "#gen/accord/notifications/v1/dead_letters_pb.js";
import { Channel, DeliveryStatus } from "#gen/accord/notifications/v1/notifications_pb.js";
import { OrderCancelledSchema } from "#gen/accord/orders/v1/events_pb.js";
import { dlqTopicFor, encodeEvent, sourceFor } from "#lib/messaging/events.ts";
import {
  createIdempotentProducer,
  type EventProducer,
  ensureTopics,
  type KafkaClient,
  publishEvents,
} from "#lib/messaging/kafka.ts";
import { connectRabbit, openConfirmChannel } from "#lib/messaging/rabbit.ts";
import { rpcClient } from "#lib/rpc/clients.ts";
import { TASK_QUEUES, taskTopologyNames } from "#services/notifications/src/topology.ts";
import { callerAs } from "#test/support/identity.ts";
import { newTopicPrefix, prefixedTopic, testKafka } from "#test/support/kafka.ts";
import { shortId } from "#test/support/postgres.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// DeadLetterService on the real notifications process (own database,
// RabbitMQ prefix, Kafka topic and group), and through the real console:
// a webhook partner on loopback answers 500, so the task is retried at short
// delays and dead-lettered for real; the operator lists it, and replays it
// once the partner answers 200. Real tokens: olivia (ops), acme (partner),
// alice (customer).
const run = shortId();
const prefix = newTopicPrefix("test-dlsvc", run);
const topic = prefixedTopic(prefix, "orders");
const retryDelaysMs = [200, 300];
const names = taskTopologyNames(prefix);
const WAIT = { timeout: 20_000, interval: 100 };

let notifications: ServiceUnderTest<"notifications">;
let consoleProcess: ServiceUnderTest<"console">;
let kafka: KafkaClient;
let producer: EventProducer;
let rabbit: ChannelModel;
let channel: ConfirmChannel;
let receiver: http.Server;
let receiverUrl: string;
let failing = true;
const received: { eventId: string; status: number }[] = [];

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const status = failing ? 500 : 200;
      received.push({ eventId: String(req.headers["accord-event-id"] ?? ""), status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

  kafka = testKafka(`dead-letter-test-${run}`);
  await ensureTopics(kafka, [topic, dlqTopicFor(topic)], 1);
  producer = await createIdempotentProducer(kafka);
  rabbit = await connectRabbit(process.env.AMQP_URL ?? "");
  channel = await openConfirmChannel(rabbit);

  notifications = await startServiceUnderTest("notifications", {
    topicPrefix: prefix,
    env: {
      NOTIFICATIONS_TOPICS: topic,
      NOTIFICATIONS_RABBIT_PREFIX: prefix,
      NOTIFICATIONS_RETRY_DELAYS_MS: retryDelaysMs.join(","),
      NOTIFICATIONS_WEBHOOK_TIMEOUT_MS: "1000",
      NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_HTTP: "true",
      // Emails of this file's events go nowhere that answers: they are not what it tests.
      SMTP_HOST: "127.0.0.1",
      SMTP_PORT: "9",
    },
  });
  consoleProcess = await startServiceUnderTest("console", {
    tag: "dlsvc",
    env: { NOTIFICATIONS_URL: notifications.url },
  });
}, 120_000);

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => console.error(notifications.output().slice(-4000)));
});

afterAll(async () => {
  await consoleProcess?.stop();
  await notifications?.stop();
  receiver?.closeAllConnections();
  await new Promise((resolve) => receiver?.close(resolve));
  await producer?.disconnect();
  if (channel) {
    for (const queue of TASK_QUEUES) {
      for (const delay of retryDelaysMs) await channel.deleteQueue(names.delayQueue(queue, delay));
      await channel.deleteQueue(names.queue(queue));
      await channel.deleteQueue(names.dlq(queue));
    }
    for (const exchange of [names.tasksExchange, names.retryExchange, names.dlxExchange]) {
      await channel.deleteExchange(exchange);
    }
    await channel.close();
    await rabbit.close();
  }
});

const ops = () =>
  rpcClient(DeadLetterService, notifications.url, "connect-json", callerAs("olivia", "notifications"));

async function webhookDepth(): Promise<bigint> {
  const { queues } = await ops().listDeadLetterQueues({});
  return queues.find((q) => q.name === "webhook")?.depth ?? -1n;
}

describe("DeadLetterService", () => {
  it("lists a really dead-lettered webhook without personal data, then replays it by id", async () => {
    const partner = notifications.client; // acme
    const { subscription } = await partner.createWebhookSubscription({
      url: `${receiverUrl}/hook`,
      eventTypes: [OrderCancelledSchema.typeName],
    });
    const orderId = randomUUID();
    const email = `dl-${run}@example.com`;
    const event = encodeEvent(
      OrderCancelledSchema,
      create(OrderCancelledSchema, { orderId, customerEmail: email, reason: "test" }),
      { source: sourceFor("orders"), key: orderId },
    );
    failing = true;
    await publishEvents(producer, topic, [event]);
    await expect.poll(webhookDepth, WAIT).toBe(1n);

    const { queues } = await ops().listDeadLetterQueues({});
    expect(queues.find((q) => q.name === "webhook")).toMatchObject({
      kind: DeadLetterQueueKind.RABBITMQ,
      address: names.dlq("webhook"),
      replayable: true,
      error: "",
    });
    expect(queues.find((q) => q.name === dlqTopicFor(topic))).toMatchObject({
      kind: DeadLetterQueueKind.KAFKA,
      depth: 0n,
      replayable: false,
      error: "",
    });

    const listed = await ops().listDeadLetters({ queue: "webhook", limit: 10 });
    expect(listed.depth).toBe(1n);
    const [dead] = listed.deadLetters;
    expect(dead).toMatchObject({
      reason: "rejected",
      attempts: retryDelaysMs.length + 1,
      routingKey: names.queue("webhook"),
      orderId,
      eventType: OrderCancelledSchema.typeName,
      subscriptionId: subscription?.subscriptionId,
    });
    expect(dead?.messageId).not.toBe("");
    expect(dead?.firstDeathAt).toBeDefined();
    // Listing put it back, and nothing in the answer is the customer's.
    expect(await webhookDepth()).toBe(1n);
    expect(JSON.stringify(listed, (_k, v) => (typeof v === "bigint" ? String(v) : v))).not.toContain(email);

    failing = false;
    const unknown = `missing-${run}`;
    const replay = await ops().replayDeadLetters({
      queue: "webhook.dlq",
      messageIds: [dead?.messageId ?? "", unknown],
    });
    expect(replay.replayedIds).toEqual([dead?.messageId]);
    expect(replay.notFoundIds).toEqual([unknown]);
    await vi.waitFor(() => {
      if (!received.some((r) => r.eventId === event.headers.ce_id && r.status === 200))
        throw new Error("the replayed webhook has not arrived");
    }, WAIT);
    await expect
      .poll(async () => {
        const { deliveries } = await notifications.clientAs("olivia").listDeliveries({ orderId });
        return deliveries.find((d) => d.channel === Channel.WEBHOOK)?.status;
      }, WAIT)
      .toBe(DeliveryStatus.DELIVERED);
    expect(await webhookDepth()).toBe(0n);
  });

  it("answers the same through the console, and refuses a partner, a customer and an anonymous caller", async () => {
    const viaConsole = rpcClient(
      DeadLetterService,
      consoleProcess.url,
      "connect-json",
      callerAs("olivia", "notifications"),
    );
    const { queues } = await viaConsole.listDeadLetterQueues({});
    expect(queues.map((q) => q.name)).toEqual(expect.arrayContaining([...TASK_QUEUES, dlqTopicFor(topic)]));

    for (const who of ["acme", "alice"] as const) {
      const caller = rpcClient(
        DeadLetterService,
        consoleProcess.url,
        "connect-json",
        callerAs(who, "notifications"),
      );
      await expect(caller.replayDeadLetters({ queue: "webhook", all: true })).rejects.toMatchObject({
        code: Code.PermissionDenied,
      });
    }
    const anonymous = rpcClient(DeadLetterService, consoleProcess.url);
    await expect(anonymous.listDeadLetterQueues({})).rejects.toMatchObject({ code: Code.Unauthenticated });
  });

  it("names the bad field: an unknown queue, a limit out of range, ids and all together, a Kafka topic", async () => {
    const field = async (call: Promise<unknown>) => {
      const error = await call.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      return { code: (error as ConnectError).code, message: (error as ConnectError).rawMessage };
    };
    expect(await field(ops().listDeadLetters({ queue: "payments" }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringContaining("queue"),
    });
    expect(await field(ops().listDeadLetters({ queue: "webhook", limit: 100_000 }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringContaining("limit"),
    });
    expect(
      await field(ops().replayDeadLetters({ queue: "webhook", all: true, messageIds: ["x"] })),
    ).toMatchObject({ code: Code.InvalidArgument, message: expect.stringContaining("message_ids") });
    expect(await field(ops().replayDeadLetters({ queue: "webhook" }))).toMatchObject({
      code: Code.InvalidArgument,
      message: expect.stringContaining("message_ids"),
    });
    expect(await field(ops().listDeadLetters({ queue: dlqTopicFor(topic) }))).toMatchObject({
      code: Code.FailedPrecondition,
    });
  });
});
