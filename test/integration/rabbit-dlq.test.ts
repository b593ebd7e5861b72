import { randomUUID } from "node:crypto";
import type { ChannelModel, ConfirmChannel, ConsumeMessage, GetMessage } from "amqplib";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  connectRabbit,
  DependencyUnavailableError,
  openConfirmChannel,
  PoisonMessageError,
  publishTask,
  type Task,
  type TaskTopology,
  UnroutableTaskError,
} from "#lib/messaging/rabbit.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { assertTaskTopology, consumeTasks } from "#services/notifications/src/topology.ts";

// Every name carries this prefix, so the test neither collides with the
// running platform's queues nor with a parallel run.
const prefix = `test-${randomUUID()}.`;
const retryDelaysMs = [200, 400];
const logger = createLogger("rabbit-dlq-test", process.env.TEST_LOG_LEVEL ?? "silent");

let connection: ChannelModel;
let channel: ConfirmChannel;
let topology: TaskTopology;

beforeAll(async () => {
  const url = process.env.AMQP_URL;
  if (!url) throw new Error("AMQP_URL is not set; the integration globalSetup should provide it");
  connection = await connectRabbit(url, { logger, connectionName: "rabbit-dlq.test" });
  channel = await openConfirmChannel(connection, logger);
  topology = await assertTaskTopology(channel, { prefix, retryDelaysMs });
});

afterAll(async () => {
  if (!channel) return;
  for (const queue of topology?.queues ?? []) await channel.deleteQueue(queue);
  for (const exchange of topology?.exchanges ?? []) await channel.deleteExchange(exchange);
  await channel.close();
  await connection.close();
});

/** The next message in a queue once it arrived, acked (taken out); fails when none came in time. */
function takeOne(queue: string, timeoutMs = 5_000): Promise<GetMessage> {
  return vi.waitFor(
    async () => {
      const message = await channel.get(queue, { noAck: false });
      if (!message) throw new Error(`no message arrived in ${queue} within ${timeoutMs} ms`);
      channel.ack(message);
      return message;
    },
    { timeout: timeoutMs, interval: 25 },
  );
}

async function depth(queue: string): Promise<number> {
  return (await channel.checkQueue(queue)).messageCount;
}

type Death = { queue: string; reason: string; count: number; exchange: string; "routing-keys": string[] };
const deathsOf = (message: GetMessage) => (message.properties.headers?.["x-death"] ?? []) as Death[];

describe("rabbit task topology", () => {
  it("declares idempotently: a second assert with the same arguments succeeds", async () => {
    const again = await assertTaskTopology(channel, { prefix, retryDelaysMs });
    expect(again.queues).toEqual(topology.queues);
    expect(again.exchanges).toEqual([
      `${prefix}accord.tasks`,
      `${prefix}accord.retry`,
      `${prefix}accord.dlx`,
    ]);
    expect(topology.queues).toContain(`${prefix}email.retry.200`);
    expect(topology.queues).toContain(`${prefix}analytics.dlq`);
  });

  it("(a) a message nacked without requeue lands in <queue>.dlq with x-death", async () => {
    const { names } = topology;
    const messageId = randomUUID();
    const body = Buffer.from(JSON.stringify({ to: "ada@example.com", template: "order-confirmed" }));
    await publishTask(channel, names.tasksExchange, names.queue("email"), body, {
      messageId,
      headers: { "order-id": "o-1" },
      priority: 5,
    });

    const consumer = await connection.createChannel();
    consumer.on("error", () => {});
    const delivered = await new Promise<ConsumeMessage>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no delivery within 5 s")), 5_000);
      void consumer.consume(
        names.queue("email"),
        (message) => {
          if (!message) return;
          clearTimeout(timer);
          resolve(message);
        },
        { noAck: false },
      );
    });
    expect(delivered.properties.deliveryMode).toBe(2); // persistent
    consumer.nack(delivered, false, false);
    await consumer.close();

    const dead = await takeOne(names.dlq("email"));
    expect(dead.content.equals(body)).toBe(true);
    expect(dead.properties.messageId).toBe(messageId);
    expect(dead.properties.headers?.["order-id"]).toBe("o-1");
    const [death] = deathsOf(dead);
    expect(death).toMatchObject({
      queue: names.queue("email"),
      reason: "rejected",
      count: 1,
      exchange: names.tasksExchange,
      "routing-keys": [names.queue("email")],
    });
    expect(await depth(names.queue("email"))).toBe(0);
  });

  it("(b) a task that keeps failing passes every delay queue, then is dead-lettered intact", async () => {
    const { names } = topology;
    const consumerChannel = await openConfirmChannel(connection, logger);
    const seen: { attempt: number; at: number; orderId: unknown }[] = [];
    const consumer = await consumeTasks({
      channel: consumerChannel,
      queue: "email",
      prefix,
      prefetch: 4,
      retryDelaysMs,
      logger,
      handle: async (task: Task) => {
        seen.push({ attempt: task.attempt, at: Date.now(), orderId: task.headers["order-id"] });
        throw new Error("smtp unavailable");
      },
    });
    try {
      const messageId = randomUUID();
      const body = Buffer.from("hello");
      await publishTask(channel, names.tasksExchange, names.queue("email"), body, {
        messageId,
        headers: {
          "order-id": "o-42",
          traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        },
        priority: 7,
        contentType: "text/plain",
      });

      const dead = await takeOne(names.dlq("email"), 10_000);
      expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3]);
      expect(seen.every((s) => s.orderId === "o-42")).toBe(true);
      // Each retry sat out its delay queue's TTL (small slack for timer granularity).
      const gaps = seen.slice(1).map((s, i) => s.at - (seen[i]?.at ?? 0));
      expect(gaps[0]).toBeGreaterThanOrEqual(180);
      expect(gaps[1]).toBeGreaterThanOrEqual(380);

      expect(dead.content.equals(body)).toBe(true);
      expect(dead.properties.messageId).toBe(messageId);
      expect(dead.properties.priority).toBe(7);
      expect(dead.properties.contentType).toBe("text/plain");
      expect(dead.properties.headers).toMatchObject({
        "order-id": "o-42",
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "x-attempt": 3,
      });
      const deaths = deathsOf(dead);
      expect(deaths[0]).toMatchObject({ queue: names.queue("email"), reason: "rejected" });
      expect(deaths).toContainEqual(
        expect.objectContaining({ queue: names.delayQueue("email", 400), reason: "expired" }),
      );

      for (const queue of [
        names.queue("email"),
        names.dlq("email"),
        names.delayQueue("email", 200),
        names.delayQueue("email", 400),
      ]) {
        expect(await depth(queue), queue).toBe(0);
      }
    } finally {
      await consumer.stop();
      await consumerChannel.close();
    }
  });

  it("(c) a poison message goes straight to the DLQ and the consumer goes on", async () => {
    const { names } = topology;
    const consumerChannel = await openConfirmChannel(connection, logger);
    const calls: string[] = [];
    let resolveGood: (value: unknown) => void = () => {};
    const goodProcessed = new Promise((resolve) => {
      resolveGood = resolve;
    });
    const consumer = await consumeTasks({
      channel: consumerChannel,
      queue: "analytics",
      prefix,
      prefetch: 1,
      retryDelaysMs,
      logger,
      handle: async (task: Task) => {
        calls.push(`${task.messageId}#${task.attempt}`);
        let event: unknown;
        try {
          event = JSON.parse(task.body.toString("utf8"));
        } catch (err) {
          throw new PoisonMessageError("body is not JSON", { cause: err });
        }
        resolveGood(event);
      },
    });
    try {
      const send = (messageId: string, body: string) =>
        publishTask(channel, names.tasksExchange, names.queue("analytics"), Buffer.from(body), { messageId });
      await send("bad", "{not json");
      await send("good", JSON.stringify({ event: "order.viewed" }));

      await expect(
        Promise.race([
          goodProcessed,
          new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 5_000)),
        ]),
      ).resolves.toEqual({ event: "order.viewed" });

      const dead = await takeOne(names.dlq("analytics"));
      expect(dead.properties.messageId).toBe("bad");
      expect(dead.content.toString()).toBe("{not json");
      expect(dead.properties.headers?.["x-attempt"]).toBeUndefined();
      expect(deathsOf(dead)[0]).toMatchObject({
        queue: names.queue("analytics"),
        reason: "rejected",
        count: 1,
      });
      // No retries for poison: one call each, and nothing waits in the delay queues.
      expect(calls).toEqual(["bad#1", "good#1"]);
      expect(await depth(names.delayQueue("analytics", 200))).toBe(0);
      expect(await channel.get(names.dlq("analytics"))).toBe(false);
      expect(await depth(names.queue("analytics"))).toBe(0);
    } finally {
      await consumer.stop();
      await consumerChannel.close();
    }
  });

  it("(c2) a task whose handler's database is down goes back on its queue without using up an attempt", async () => {
    const { names } = topology;
    const consumerChannel = await openConfirmChannel(connection, logger);
    const calls: string[] = [];
    let done: (value: unknown) => void = () => {};
    const delivered = new Promise((resolve) => {
      done = resolve;
    });
    const consumer = await consumeTasks({
      channel: consumerChannel,
      queue: "email",
      prefix,
      prefetch: 1,
      retryDelaysMs,
      unavailablePauseMs: 50,
      logger,
      handle: async (task: Task) => {
        calls.push(`${task.messageId}#${task.attempt}`);
        // More outages than there are retries: counted as attempts, they would dead-letter it.
        if (calls.length <= retryDelaysMs.length + 2) throw new DependencyUnavailableError("database down");
        done(task.messageId);
      },
    });
    try {
      await publishTask(channel, names.tasksExchange, names.queue("email"), Buffer.from("{}"), {
        messageId: "outage",
      });
      await expect(
        Promise.race([
          delivered,
          new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 10_000)),
        ]),
      ).resolves.toBe("outage");
      expect(calls).toEqual(Array.from({ length: retryDelaysMs.length + 3 }, () => "outage#1"));
      expect(await channel.get(names.dlq("email"))).toBe(false);
      expect(await depth(names.delayQueue("email", 200))).toBe(0);
    } finally {
      await consumer.stop();
      await consumerChannel.close();
    }
  });

  it("(d) a publish no queue takes is reported, not silently confirmed", async () => {
    const { names } = topology;
    await expect(
      publishTask(channel, names.tasksExchange, `${prefix}no-such-queue`, Buffer.from("x"), {
        messageId: "lost",
      }),
    ).rejects.toBeInstanceOf(UnroutableTaskError);
    // The channel stays usable.
    await publishTask(channel, names.tasksExchange, names.queue("webhook"), Buffer.from("y"), {
      messageId: "kept",
    });
    expect((await takeOne(names.queue("webhook"))).properties.messageId).toBe("kept");
  });

  it("(e) a header AMQP cannot encode fails that publish only; later confirms still line up", async () => {
    const { names } = topology;
    await expect(
      publishTask(channel, names.tasksExchange, names.queue("webhook"), Buffer.from("x"), {
        messageId: "bigint",
        headers: { amount: 10n },
      }),
    ).rejects.toThrow(/amount/);
    const next = publishTask(channel, names.tasksExchange, names.queue("webhook"), Buffer.from("z"), {
      messageId: "after",
    });
    const timeout = new Promise((_, reject) =>
      setTimeout(() => reject(new Error("confirm never came")), 2_000),
    );
    await expect(Promise.race([next, timeout])).resolves.toBeUndefined();
    expect((await takeOne(names.queue("webhook"))).properties.messageId).toBe("after");
  });
});
