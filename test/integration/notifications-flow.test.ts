import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { create, type DescMessage, type MessageShape, toBinary, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ChannelModel, ConfirmChannel } from "amqplib";
import type pg from "pg";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { MoneySchema } from "#gen/accord/common/v1/common_pb.js";
import {
  Channel,
  DeliveryStatus,
  ListWebhookSubscriptionsResponseSchema,
} from "#gen/accord/notifications/v1/notifications_pb.js";
import { EmailTaskSchema } from "#gen/accord/notifications/v1/tasks_pb.js";
import {
  OrderCancelledSchema,
  OrderConfirmedSchema,
  OrderDeliveredSchema,
  OrderFailedSchema,
  OrderPlacedSchema,
} from "#gen/accord/orders/v1/events_pb.js";
import { OrderSchema, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentCapturedSchema } from "#gen/accord/payments/v1/events_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { dlqTopicFor, type EncodedEvent, encodeEvent, sourceFor } from "#lib/messaging/events.ts";
import {
  createIdempotentProducer,
  type EventProducer,
  ensureTopics,
  type KafkaClient,
  publishEvents,
} from "#lib/messaging/kafka.ts";
import { connectRabbit, openConfirmChannel, publishTask } from "#lib/messaging/rabbit.ts";
import { verifySignature } from "#services/notifications/src/domain/signature.ts";
import { TASK_QUEUES, taskTopologyNames } from "#services/notifications/src/topology.ts";
import { newTopicPrefix, prefixedTopic, testKafka } from "#test/support/kafka.ts";
import { shortId } from "#test/support/postgres.ts";
import { freePort, ROOT, type ServiceProcess } from "#test/support/service-process.ts";
import {
  type ServiceUnderTest,
  startServiceUnderTest,
  startSimulator,
} from "#test/support/service-under-test.ts";

// The real smtp-sink and notifications processes, on their own database,
// RabbitMQ prefix, Kafka topic and consumer group, with a webhook receiver
// in this file. Retry delays are short so the retry path runs in a second.
// Calls carry real tokens from the realm: acme (a partner) by default,
// globex (another partner), olivia (ops) and alice (a customer) where named.
const run = shortId();
// One prefix for both: the Kafka topics and group, and the RabbitMQ exchanges and queues.
const prefix = newTopicPrefix("test-notif", run);
const topic = prefixedTopic(prefix, "orders");
const retryDelaysMs = [300, 600];
const names = taskTopologyNames(prefix);
const exec = promisify(execFile);
const WAIT = { timeout: 15_000, interval: 100 };

let sink: ServiceProcess;
let notifications: ServiceUnderTest<"notifications">;
let sinkUrl: string;
let kafka: KafkaClient;
let producer: EventProducer;
let rabbit: ChannelModel;
let channel: ConfirmChannel;
let db: pg.Pool;
let receiver: http.Server;
let receiverUrl: string;
let client: ServiceUnderTest<"notifications">["client"];
let globex: ServiceUnderTest<"notifications">["client"];
let olivia: ServiceUnderTest<"notifications">["client"];

interface Hit {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
  status: number;
}
const hits: Hit[] = [];
let failing = true;

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const status = req.url === "/fail" && failing ? 500 : 200;
      // Answers after the service's webhook timeout (500 ms here).
      const delayMs = req.url === "/slow" ? 1000 : 0;
      hits.push({
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        at: Date.now(),
        status,
      });
      setTimeout(() => res.writeHead(status).end(), delayMs);
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

  kafka = testKafka(`notifications-test-${run}`);
  // One partition: "a following event" is processed after the one before it.
  await ensureTopics(kafka, [topic, dlqTopicFor(topic)], 1);
  producer = await createIdempotentProducer(kafka);

  rabbit = await connectRabbit(process.env.AMQP_URL ?? "");
  channel = await openConfirmChannel(rabbit);

  const smtpPort = await freePort();
  sink = await startSimulator("smtp-sink", { SMTP_SINK_PORT: String(smtpPort) });
  sinkUrl = sink.url;
  // Its consumer group is "<prefix>notifications"; stop() deletes it with the topics.
  notifications = await startServiceUnderTest("notifications", {
    topicPrefix: prefix,
    env: {
      NOTIFICATIONS_TOPICS: topic,
      NOTIFICATIONS_RABBIT_PREFIX: prefix,
      NOTIFICATIONS_RETRY_DELAYS_MS: retryDelaysMs.join(","),
      NOTIFICATIONS_WEBHOOK_TIMEOUT_MS: "500",
      // The receiver listens on loopback.
      NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_HTTP: "true",
      SMTP_HOST: "127.0.0.1",
      SMTP_PORT: String(smtpPort),
      // Info: the tests read the dispatcher's "duplicate event skipped" lines and check no secret is logged.
      LOG_LEVEL: "info",
    },
  });
  client = notifications.client;
  globex = notifications.clientAs("globex");
  olivia = notifications.clientAs("olivia");
  db = notifications.pool;
});

beforeEach(({ onTestFailed }) => {
  // What the service said is the first thing to read when a wait timed out.
  onTestFailed(() => console.error(notifications.output().slice(-4000)));
});

afterAll(async () => {
  const code = await notifications?.stop();
  await sink?.stop();
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
  // Graceful shutdown on SIGTERM exits 0.
  expect(code).toBe(0);
});

// ---------------------------------------------------------------- helpers

interface SinkMessage {
  to: string[];
  subject: string;
  text: string;
  messageId: string;
  headers: Record<string, string>;
}
async function emailsTo(address: string): Promise<SinkMessage[]> {
  const res = await fetch(`${sinkUrl}/messages?to=${encodeURIComponent(address)}`);
  return (await res.json()) as SinkMessage[];
}

const hitsFor = (p: string, eventId: string) =>
  hits.filter((h) => h.path === p && h.headers["accord-event-id"] === eventId);

function confirmedEvent(orderId: string, email: string): EncodedEvent {
  const message = create(OrderConfirmedSchema, {
    orderId,
    customerId: "cust-1",
    customerEmail: email,
    total: create(MoneySchema, { currencyCode: "EUR", amountMinor: 4250n }),
    paymentId: "pay-1",
    shipmentId: "ship-1",
  });
  return encodeEvent(OrderConfirmedSchema, message, { source: sourceFor("orders"), key: orderId });
}

function logLines(): Record<string, unknown>[] {
  return notifications
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** An event published on the test topic, keyed by its order. */
function orderEvent<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, orderId: string) {
  return encodeEvent(schema, message, { source: sourceFor("orders"), key: orderId });
}

/** The first POST of an event to a receiver path (throws until it arrived, for vi.waitFor). */
function firstHit(p: string, event: EncodedEvent): Hit {
  const [first] = hitsFor(p, eventId(event));
  if (!first) throw new Error(`no webhook for ${eventId(event)} on ${p} yet`);
  return first;
}

/** The order's webhook delivery once it is DEAD_LETTERED (throws until then, for vi.waitFor). */
async function deadWebhookDelivery(orderId: string) {
  const { deliveries } = await client.listDeliveries({ orderId });
  const dead = deliveries.find(
    (d) => d.channel === Channel.WEBHOOK && d.status === DeliveryStatus.DEAD_LETTERED,
  );
  if (!dead) throw new Error(`no dead-lettered webhook delivery for ${orderId} yet`);
  return dead;
}

const eventId = (e: EncodedEvent) => e.headers.ce_id as string;
const depth = async (queue: string) => (await channel.checkQueue(queue)).messageCount;

function encode<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Buffer {
  return Buffer.from(toBinary(schema, message));
}

// ---------------------------------------------------------------- tests

let okSecret: string;

describe("notifications", () => {
  it("CreateWebhookSubscription validates, returns the secret once, and lists without it", async () => {
    const bad = await client
      .createWebhookSubscription({ url: "ftp://x.example", eventTypes: ["Nope"] })
      .catch((e) => e);
    expect(bad).toBeInstanceOf(ConnectError);
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    expect((bad as ConnectError).rawMessage).toBe(
      'url: must use http or https; event_types[0]: unknown event type "Nope" (use a full name such as accord.orders.v1.OrderConfirmed)',
    );

    const created = await client.createWebhookSubscription({ url: `${receiverUrl}/ok` });
    expect(created.signingSecret).toMatch(/^whsec_/);
    okSecret = created.signingSecret;
    const listed = await client.listWebhookSubscriptions({});
    expect(listed.subscriptions.map((s) => s.subscriptionId)).toEqual([created.subscription?.subscriptionId]);
    expect(toJsonString(ListWebhookSubscriptionsResponseSchema, listed)).not.toContain(okSecret);
    expect(notifications.output()).not.toContain(okSecret);

    expect(created.subscription?.ownerId).toBe(DEMO_USERS.acme.id);

    const missing = await client.deleteWebhookSubscription({ subscriptionId: randomUUID() }).catch((e) => e);
    expect((missing as ConnectError).code).toBe(Code.NotFound);
    const empty = await client.listDeliveries({ orderId: "" }).catch((e) => e);
    expect((empty as ConnectError).code).toBe(Code.InvalidArgument);
  });

  it("a partner's subscription is its own: another partner neither lists nor deletes it, ops sees it", async () => {
    const acmes = await client.listWebhookSubscriptions({});
    const acmeId = acmes.subscriptions[0]?.subscriptionId ?? "";
    expect(acmeId).not.toBe("");

    const globexs = await globex.listWebhookSubscriptions({});
    expect(globexs.subscriptions.map((s) => s.subscriptionId)).not.toContain(acmeId);
    const stolen = await globex.deleteWebhookSubscription({ subscriptionId: acmeId }).catch((e) => e);
    expect((stolen as ConnectError).code).toBe(Code.NotFound);
    expect((await client.listWebhookSubscriptions({})).subscriptions.map((s) => s.subscriptionId)).toContain(
      acmeId,
    );

    const all = await olivia.listWebhookSubscriptions({});
    expect(all.subscriptions.find((s) => s.subscriptionId === acmeId)?.ownerId).toBe(DEMO_USERS.acme.id);
  });

  it("a customer may not subscribe, nobody without a token, and a partner not to payments events", async () => {
    const asAlice = await notifications
      .clientAs("alice")
      .createWebhookSubscription({ url: `${receiverUrl}/alice` })
      .catch((e) => e);
    expect((asAlice as ConnectError).code).toBe(Code.PermissionDenied);
    const anonymous = await notifications
      .clientAs(undefined)
      .createWebhookSubscription({ url: `${receiverUrl}/anonymous` })
      .catch((e) => e);
    expect((anonymous as ConnectError).code).toBe(Code.Unauthenticated);

    const payments = await client
      .createWebhookSubscription({
        url: `${receiverUrl}/payments`,
        eventTypes: [PaymentCapturedSchema.typeName],
      })
      .catch((e) => e);
    expect((payments as ConnectError).code).toBe(Code.PermissionDenied);
    expect((payments as ConnectError).rawMessage).toContain("event_types[0]");
    // Nothing of the refused attempts was stored.
    const { rows } = await db.query("SELECT url FROM webhook_subscriptions WHERE url LIKE $1", [
      `${receiverUrl}/%`,
    ]);
    expect(rows).toEqual([{ url: `${receiverUrl}/ok` }]);
  });

  it("OrderConfirmed -> email in the sink, signed webhook, analytics row, deliveries DELIVERED", async () => {
    const orderId = randomUUID();
    const email = `ada-${run}@example.com`;
    const event = confirmedEvent(orderId, email);
    await publishEvents(producer, topic, [event]);

    const [mail] = await vi.waitFor(async () => {
      const list = await emailsTo(email);
      expect(list, "the email").not.toEqual([]);
      return list;
    }, WAIT);
    expect(mail?.subject).toBe(`Your order ${orderId} is confirmed`);
    expect(mail?.text).toContain("Amount charged: 42.50 EUR.");

    const hit = await vi.waitFor(() => firstHit("/ok", event), WAIT);
    expect(hit.headers["content-type"]).toBe("application/json");
    const timestamp = String(hit.headers["accord-timestamp"]);
    expect(verifySignature(okSecret, timestamp, hit.body, String(hit.headers["accord-signature"]), 300)).toBe(
      true,
    );
    expect(
      verifySignature(okSecret, timestamp, `${hit.body} `, String(hit.headers["accord-signature"]), 300),
    ).toBe(false);
    const payload = JSON.parse(hit.body);
    // Minimized: the order, its total and shipment; not the customer, nor the payment.
    expect(payload).toEqual({
      eventId: eventId(event),
      eventType: "accord.orders.v1.OrderConfirmed",
      occurredAt: expect.any(String),
      orderId,
      data: { orderId, total: { currencyCode: "EUR", amountMinor: "4250" }, shipmentId: "ship-1" },
    });
    expect(hit.body).not.toContain(email);
    expect(hit.body).not.toContain("cust-1");
    expect(hit.body).not.toContain("pay-1");

    await expect
      .poll(async () => {
        const { rows } = await db.query(
          "SELECT event_type, order_id FROM analytics_events WHERE event_id = $1",
          [eventId(event)],
        );
        return rows[0];
      }, WAIT)
      .toEqual({ event_type: "accord.orders.v1.OrderConfirmed", order_id: orderId });

    // Ops sees every channel; acme its webhook only; globex, with no subscription here, nothing.
    const deliveries = await vi.waitFor(async () => {
      const { deliveries } = await olivia.listDeliveries({ orderId });
      expect(deliveries.map((d) => d.status)).toEqual(Array(3).fill(DeliveryStatus.DELIVERED));
      return deliveries;
    }, WAIT);
    expect(deliveries.map((d) => d.channel).sort()).toEqual(
      [Channel.EMAIL, Channel.WEBHOOK, Channel.ANALYTICS].sort(),
    );
    const acmes = await client.listDeliveries({ orderId });
    expect(acmes.deliveries.map((d) => [d.channel, d.status])).toEqual([
      [Channel.WEBHOOK, DeliveryStatus.DELIVERED],
    ]);
    expect(acmes.deliveries[0]?.subscriptionId).toBe(
      (await client.listWebhookSubscriptions({})).subscriptions[0]?.subscriptionId,
    );
    expect((await globex.listDeliveries({ orderId })).deliveries).toEqual([]);
  });

  it("OrderPlaced reaches a partner as lines and totals, without the customer's email, id or address", async () => {
    const orderId = randomUUID();
    const email = `placed-${run}@example.com`;
    const customerId = `cust-${run}`;
    const event = orderEvent(
      OrderPlacedSchema,
      create(OrderPlacedSchema, {
        order: create(OrderSchema, {
          orderId,
          customerId,
          customerEmail: email,
          lines: [{ sku: "SKU-1", quantity: 2, unitPrice: { currencyCode: "EUR", amountMinor: 1000n } }],
          total: { currencyCode: "EUR", amountMinor: 2000n },
          shippingAddress: {
            recipientName: "Ada Lovelace",
            line1: "12 Analytical Row",
            city: "London",
            postalCode: "NW1 6XE",
            countryCode: "GB",
          },
          status: OrderStatus.PENDING,
        }),
      }),
      orderId,
    );
    await publishEvents(producer, topic, [event]);
    const hit = await vi.waitFor(() => firstHit("/ok", event), WAIT);
    expect(JSON.parse(hit.body).data).toEqual({
      order: {
        orderId,
        lines: [{ sku: "SKU-1", quantity: 2, unitPrice: { currencyCode: "EUR", amountMinor: "1000" } }],
        total: { currencyCode: "EUR", amountMinor: "2000" },
        status: "ORDER_STATUS_PENDING",
      },
    });
    for (const personal of [email, customerId, "Ada Lovelace", "Analytical", "London", "NW1 6XE"]) {
      expect(hit.body).not.toContain(personal);
    }
    expect(
      verifySignature(
        okSecret,
        String(hit.headers["accord-timestamp"]),
        hit.body,
        String(hit.headers["accord-signature"]),
        300,
      ),
    ).toBe(true);
  });

  it("a partner's catch-all subscription gets no payments events; an ownerless one gets nothing", async () => {
    // A row as migration 002 leaves one from before ownership: catch-all, owned by no one.
    await db.query(
      "INSERT INTO webhook_subscriptions (subscription_id, url, signing_secret) VALUES ($1, $2, $3)",
      [randomUUID(), `${receiverUrl}/legacy`, "whsec_legacy"],
    );
    const orderId = randomUUID();
    const payment = encodeEvent(
      PaymentCapturedSchema,
      create(PaymentCapturedSchema, {
        paymentId: "pay-3",
        orderId,
        amount: { currencyCode: "EUR", amountMinor: 500n },
      }),
      { source: sourceFor("payments"), key: orderId },
    );
    // Same key, one partition: once the marker's webhook arrived, the payment was dispatched.
    const marker = orderEvent(
      OrderDeliveredSchema,
      create(OrderDeliveredSchema, { orderId, customerId: "cust-3" }),
      orderId,
    );
    await publishEvents(producer, topic, [payment, marker]);
    const hit = await vi.waitFor(() => firstHit("/ok", marker), WAIT);
    expect(JSON.parse(hit.body).data).toEqual({ orderId });
    await new Promise((r) => setTimeout(r, 500));
    expect(hitsFor("/ok", eventId(payment))).toEqual([]);
    expect(hits.filter((h) => h.path === "/legacy")).toEqual([]);
    const { deliveries } = await olivia.listDeliveries({ orderId });
    expect(deliveries.map((d) => d.channel).sort()).toEqual(
      [Channel.ANALYTICS, Channel.ANALYTICS, Channel.WEBHOOK].sort(),
    );
  });

  it("the same event twice -> one email, one webhook (inbox)", async () => {
    const orderId = randomUUID();
    const email = `twice-${run}@example.com`;
    const event = confirmedEvent(orderId, email);
    // A later event on the same key (same partition): once its webhook arrived, both copies were handled.
    const marker = orderEvent(OrderDeliveredSchema, create(OrderDeliveredSchema, { orderId }), orderId);
    await publishEvents(producer, topic, [event, event]);
    await publishEvents(producer, topic, [marker]);

    await expect.poll(() => hitsFor("/ok", eventId(marker)).length, WAIT).toBeGreaterThan(0);
    await expect.poll(async () => (await emailsTo(email)).length, WAIT).toBeGreaterThan(0);
    // Room for a duplicate task to show up, were one published.
    await new Promise((r) => setTimeout(r, 700));
    expect(await emailsTo(email)).toHaveLength(1);
    expect(hitsFor("/ok", eventId(event))).toHaveLength(1);
    const { rows } = await db.query("SELECT consumer FROM inbox WHERE event_id = $1", [eventId(event)]);
    expect(rows).toEqual([{ consumer: "notifications-dispatcher" }]);
    // The dispatcher's inbox caught the copy: no second set of tasks was even published
    // (the workers' own dedupe by task id is the second line of defence).
    const skipped = logLines().filter(
      (l) => l.msg === "duplicate event skipped" && l.eventId === eventId(event),
    );
    expect(skipped).toHaveLength(1);
    expect(logLines().filter((l) => l.msg === "duplicate task skipped")).toHaveLength(0);
  });

  it("a failing receiver is retried at the configured delays, dead-lettered, then replayed by the dlq command", async () => {
    const created = await client.createWebhookSubscription({
      url: `${receiverUrl}/fail`,
      eventTypes: [OrderCancelledSchema.typeName],
    });
    const failSecret = created.signingSecret;
    const orderId = randomUUID();
    const event = encodeEvent(
      OrderCancelledSchema,
      create(OrderCancelledSchema, { orderId, customerEmail: `cancel-${run}@example.com`, reason: "test" }),
      { source: sourceFor("orders"), key: orderId },
    );
    failing = true;
    const dlqBefore = await depth(names.dlq("webhook"));
    await publishEvents(producer, topic, [event]);

    await expect.poll(() => depth(names.dlq("webhook")), WAIT).toBeGreaterThan(dlqBefore);
    const attempts = hitsFor("/fail", eventId(event));
    expect(attempts.map((h) => h.status)).toEqual([500, 500, 500]);
    const gaps = attempts.slice(1).map((h, i) => h.at - (attempts[i] as Hit).at);
    // Each retry waits out its delay queue; an upper bound catches a missed delay queue too.
    expect(gaps[0]).toBeGreaterThanOrEqual(280);
    expect(gaps[0]).toBeLessThan(1500);
    expect(gaps[1]).toBeGreaterThanOrEqual(580);
    expect(gaps[1]).toBeLessThan(1800);

    const dead = await vi.waitFor(() => deadWebhookDelivery(orderId), WAIT);
    expect(dead.attempts).toBe(3);
    expect(dead.lastError).toBe("http 500");

    const listed = await exec(process.execPath, ["scripts/dlq.ts", "list", "webhook", "--prefix", prefix], {
      cwd: ROOT,
    });
    expect(listed.stdout).toContain(dead.deliveryId);
    expect(listed.stdout).toMatch(/reason=rejected\s+attempts=3/);

    failing = false;
    const replayed = await exec(
      process.execPath,
      ["scripts/dlq.ts", "replay", "webhook", "--prefix", prefix, "--id", dead.deliveryId],
      {
        cwd: ROOT,
      },
    );
    expect(replayed.stdout).toContain("replayed 1 message(s)");
    const ok = await vi.waitFor(() => {
      const replayedHit = hitsFor("/fail", eventId(event)).find((h) => h.status === 200);
      if (!replayedHit) throw new Error("the replayed delivery has not arrived");
      return replayedHit;
    }, WAIT);
    expect(
      verifySignature(
        failSecret,
        String(ok.headers["accord-timestamp"]),
        ok.body,
        String(ok.headers["accord-signature"]),
        300,
      ),
    ).toBe(true);
    await expect
      .poll(async () => {
        const { deliveries } = await client.listDeliveries({ orderId });
        return deliveries.find((d) => d.deliveryId === dead.deliveryId)?.status;
      }, WAIT)
      .toBe(DeliveryStatus.DELIVERED);
    expect(await depth(names.dlq("webhook"))).toBe(dlqBefore);
  });

  it("a receiver slower than the webhook timeout is retried, then dead-lettered", async () => {
    await client.createWebhookSubscription({
      url: `${receiverUrl}/slow`,
      eventTypes: [OrderFailedSchema.typeName],
    });
    const orderId = randomUUID();
    const event = encodeEvent(
      OrderFailedSchema,
      create(OrderFailedSchema, { orderId, customerEmail: `failed-${run}@example.com`, reason: "test" }),
      { source: sourceFor("orders"), key: orderId },
    );
    await publishEvents(producer, topic, [event]);
    const dead = await vi.waitFor(() => deadWebhookDelivery(orderId), WAIT);
    expect(dead.attempts).toBe(3);
    expect(dead.lastError).toBe("timeout");
    expect(hitsFor("/slow", eventId(event))).toHaveLength(3);
  });

  it("garbage bytes on the topic go to <topic>.dlq and the next event is still processed", async () => {
    await producer.send({
      topic,
      acks: -1,
      messages: [{ key: "garbage", value: Buffer.from("definitely not protobuf") }],
    });
    const orderId = randomUUID();
    const email = `after-garbage-${run}@example.com`;
    await publishEvents(producer, topic, [confirmedEvent(orderId, email)]);

    await expect.poll(async () => (await emailsTo(email)).length, WAIT).toBe(1);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(dlqTopicFor(topic));
      expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBe(1);
    } finally {
      await admin.disconnect();
    }
  });

  it("a malformed AMQP message on the email queue goes to the email DLQ; the next task is delivered", async () => {
    const before = await depth(names.dlq("email"));
    await publishTask(channel, names.tasksExchange, names.queue("email"), Buffer.from([0xff, 0xff, 0xff]), {
      messageId: "garbage-task",
    });
    const to = `direct-${run}@example.com`;
    const task = create(EmailTaskSchema, {
      taskId: randomUUID(),
      eventId: `manual-${run}`,
      orderId: randomUUID(),
      to,
      subject: "after poison",
      textBody: "still working",
    });
    await publishTask(channel, names.tasksExchange, names.queue("email"), encode(EmailTaskSchema, task), {
      messageId: task.taskId,
    });
    const [mail] = await vi.waitFor(async () => {
      const list = await emailsTo(to);
      expect(list, "the good email").not.toEqual([]);
      return list;
    }, WAIT);
    expect(mail?.subject).toBe("after poison");
    await expect.poll(() => depth(names.dlq("email")), WAIT).toBeGreaterThan(before);
    const inspected = await exec(
      process.execPath,
      ["scripts/dlq.ts", "inspect", "email", "--prefix", prefix, "--id", "garbage-task"],
      { cwd: ROOT },
    );
    expect(JSON.parse(inspected.stdout)).toMatchObject({
      messageId: "garbage-task",
      reason: "rejected",
      attempts: 1,
      bodyBase64: Buffer.from([0xff, 0xff, 0xff]).toString("base64"),
    });
    // inspect put it back: it is still there to take.
    const dead = await channel.get(names.dlq("email"), { noAck: false });
    if (!dead) throw new Error("the email DLQ is empty after inspect");
    expect(dead.properties.messageId).toBe("garbage-task");
    channel.ack(dead);
  });
});
