import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ChannelModel, ConfirmChannel } from "amqplib";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MoneySchema } from "#gen/accord/common/v1/common_pb.js";
import { Channel, DeliveryStatus } from "#gen/accord/notifications/v1/notifications_pb.js";
import { OrderConfirmedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { dlqTopicFor, type EncodedEvent, encodeEvent, sourceFor } from "#lib/messaging/events.ts";
import {
  createIdempotentProducer,
  type EventProducer,
  ensureTopics,
  type KafkaClient,
  publishEvents,
} from "#lib/messaging/kafka.ts";
import { connectRabbit, openConfirmChannel } from "#lib/messaging/rabbit.ts";
import { DEV_NOTIFICATIONS_SECRET_KEY } from "#services/notifications/src/dev-secret-key.ts";
import { createSecretBox, parseSecretKey } from "#services/notifications/src/domain/secret-box.ts";
import { verifySignature } from "#services/notifications/src/domain/signature.ts";
import { TASK_QUEUES, taskTopologyNames } from "#services/notifications/src/topology.ts";
import { newTopicPrefix, prefixedTopic, testKafka } from "#test/support/kafka.ts";
import { shortId } from "#test/support/postgres.ts";
import { freePort, type ServiceProcess } from "#test/support/service-process.ts";
import {
  type ServiceUnderTest,
  startServiceUnderTest,
  startSimulator,
} from "#test/support/service-under-test.ts";

// Webhooks that cannot be turned inward, against real notifications
// processes with real tokens (acme and globex, partners; olivia, ops). Every
// receiver, redirector and bystander listens on 127.0.0.1; nothing here ever
// names another address except as a string the service refuses before it
// resolves or connects. Two processes: "guarded" runs as in production
// (no development setting: loopback refused) and "dev" with plain http to
// loopback allowed, for the send-path cases that need a reachable receiver.

const run = shortId();
const retryDelaysMs = [300, 600];
const WAIT = { timeout: 20_000, interval: 100 };

interface Hit {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}
const hits: Hit[] = [];
let bystanderHits = 0;
let receiver: http.Server;
let bystander: http.Server;
let receiverUrl: string;
let bystanderPort: number;
let slowInFlight = 0;
let slowMaxInFlight = 0;
let releaseSlow: () => void = () => {};
let slowGate = Promise.resolve();

let kafka: KafkaClient;
let producer: EventProducer;
let rabbit: ChannelModel;
let channel: ConfirmChannel;
let sink: ServiceProcess;
let sinkUrl: string;

interface Platform {
  prefix: string;
  topic: string;
  service: ServiceUnderTest<"notifications">;
}
let guarded: Platform;
let dev: Platform;

async function startNotifications(name: string, env: Record<string, string>): Promise<Platform> {
  const prefix = newTopicPrefix(`test-egress-${name}`, run);
  const topic = prefixedTopic(prefix, "orders");
  await ensureTopics(kafka, [topic, dlqTopicFor(topic)], 1);
  const smtpPort = new URL(sinkUrl).searchParams.get("smtp") ?? "";
  const service = await startServiceUnderTest("notifications", {
    topicPrefix: prefix,
    env: {
      NOTIFICATIONS_TOPICS: topic,
      NOTIFICATIONS_RABBIT_PREFIX: prefix,
      NOTIFICATIONS_RETRY_DELAYS_MS: retryDelaysMs.join(","),
      // Longer than the slow partner's POSTs are held: a POST the worker gave up
      // on would still count at the receiver (it never sees the abort) and
      // read as a third one in flight.
      NOTIFICATIONS_WEBHOOK_TIMEOUT_MS: "30000",
      SMTP_HOST: "127.0.0.1",
      SMTP_PORT: smtpPort,
      LOG_LEVEL: "info",
      ...env,
    },
  });
  return { prefix, topic, service };
}

beforeAll(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      hits.push({
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        at: Date.now(),
      });
      if (req.url === "/redirect") {
        res.writeHead(307, { location: `http://127.0.0.1:${bystanderPort}/stolen` }).end();
      } else if (req.url === "/slow") {
        slowInFlight++;
        slowMaxInFlight = Math.max(slowMaxInFlight, slowInFlight);
        await slowGate;
        slowInFlight--;
        res.writeHead(200).end();
      } else {
        res.writeHead(200).end();
      }
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  // The listener an attacker would aim at: it must receive nothing, ever.
  bystander = http.createServer((_req, res) => {
    bystanderHits++;
    res.writeHead(200).end();
  });
  await new Promise<void>((resolve) => bystander.listen(0, "127.0.0.1", resolve));
  bystanderPort = (bystander.address() as AddressInfo).port;

  kafka = testKafka(`notifications-egress-${run}`);
  producer = await createIdempotentProducer(kafka);
  rabbit = await connectRabbit(process.env.AMQP_URL ?? "");
  channel = await openConfirmChannel(rabbit);
  const smtpPort = await freePort();
  sink = await startSimulator("smtp-sink", { SMTP_SINK_PORT: String(smtpPort) });
  sinkUrl = `${sink.url}?smtp=${smtpPort}`;

  [guarded, dev] = await Promise.all([
    startNotifications("guarded", {}),
    startNotifications("dev", {
      NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_HTTP: "true",
      NOTIFICATIONS_WEBHOOK_MAX_IN_FLIGHT_PER_SUBSCRIPTION: "2",
      NOTIFICATIONS_PREFETCH: "6",
    }),
  ]);
}, 120_000);

afterAll(async () => {
  releaseSlow();
  const codes = await Promise.all([guarded?.service.stop(), dev?.service.stop()]);
  await sink?.stop();
  for (const server of [receiver, bystander]) {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  }
  await producer?.disconnect();
  if (channel) {
    for (const p of [guarded, dev]) {
      if (!p) continue;
      const names = taskTopologyNames(p.prefix);
      for (const queue of TASK_QUEUES) {
        for (const delay of retryDelaysMs) await channel.deleteQueue(names.delayQueue(queue, delay));
        await channel.deleteQueue(names.queue(queue));
        await channel.deleteQueue(names.dlq(queue));
      }
      for (const exchange of [names.tasksExchange, names.retryExchange, names.dlxExchange]) {
        await channel.deleteExchange(exchange);
      }
    }
    await channel.close();
    await rabbit.close();
  }
  expect(codes.filter((c) => c !== undefined)).toEqual(codes.filter((c) => c !== undefined).map(() => 0));
  expect(bystanderHits).toBe(0);
});

function confirmed(orderId: string, email = `egress-${orderId.slice(0, 8)}@example.com`): EncodedEvent {
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

const failure = (e: unknown) => ConnectError.from(e);
const hitsOn = (path: string, orderId: string) =>
  hits.filter((h) => h.path === path && h.body.includes(orderId));

async function webhookDelivery(p: Platform, orderId: string, status: DeliveryStatus) {
  const { deliveries } = await p.service.client.listDeliveries({ orderId });
  const found = deliveries.find((d) => d.channel === Channel.WEBHOOK && d.status === status);
  if (!found) throw new Error(`no ${DeliveryStatus[status]} webhook delivery for ${orderId} yet`);
  return found;
}

async function clearSubscriptions(p: Platform) {
  for (const who of ["acme", "globex"] as const) {
    const client = p.service.clientAs(who);
    for (const s of (await client.listWebhookSubscriptions({})).subscriptions) {
      await client.deleteWebhookSubscription({ subscriptionId: s.subscriptionId });
    }
  }
}

describe("without the development setting (as in production)", () => {
  it("refuses webhooks to 127.0.0.1, [::1] and localhost at subscription, naming the url; nothing is stored or sent", async () => {
    for (const url of [
      `http://127.0.0.1:${bystanderPort}/hook`,
      `http://[::1]:${bystanderPort}/hook`,
      `http://localhost:${bystanderPort}/hook`,
      `https://127.0.0.1:${bystanderPort}/hook`,
      `https://[::1]:${bystanderPort}/hook`,
      `https://localhost:${bystanderPort}/hook`,
      `https://[::ffff:127.0.0.1]:${bystanderPort}/hook`,
      `https://2130706433:${bystanderPort}/hook`,
      // Never resolved nor connected: refused on their address alone.
      "https://10.0.0.1/hook",
      "https://169.254.169.254/latest/meta-data/",
      "https://[fd00::1]/hook",
    ]) {
      const err = (await guarded.service.client
        .createWebhookSubscription({ url })
        .catch(failure)) as ConnectError;
      expect(err.code, url).toBe(Code.InvalidArgument);
      expect(err.rawMessage, url).toMatch(/^url: refused by egress policy: /);
    }
    const { rows } = await guarded.service.pool.query("SELECT count(*)::int AS n FROM webhook_subscriptions");
    expect(rows[0].n).toBe(0);
    expect(bystanderHits).toBe(0);
  });

  it("a stored subscription that now points inward (stored before the guard, or rebound) is refused at send", async () => {
    // Written as a pre-guard row would be: the create path refuses this URL.
    const subscriptionId = randomUUID();
    const box = createSecretBox(parseSecretKey(DEV_NOTIFICATIONS_SECRET_KEY));
    await guarded.service.pool.query(
      `INSERT INTO webhook_subscriptions (subscription_id, url, signing_secret_sealed, owner_id, owner_role)
       VALUES ($1, $2, $3, $4, 'partner')`,
      [
        subscriptionId,
        `http://localhost:${bystanderPort}/stale`,
        box.seal("whsec_stale", subscriptionId),
        DEMO_USERS.acme.id,
      ],
    );
    const orderId = randomUUID();
    await publishEvents(producer, guarded.topic, [confirmed(orderId)]);
    const dead = await vi.waitFor(
      () => webhookDelivery(guarded, orderId, DeliveryStatus.DEAD_LETTERED),
      WAIT,
    );
    // acme sees the category, not the socket's text.
    expect(dead.lastError).toBe("refused by egress policy");
    expect(dead.attempts).toBe(retryDelaysMs.length + 1);
    expect(bystanderHits).toBe(0);
    await guarded.service.pool.query("DELETE FROM webhook_subscriptions WHERE subscription_id = $1", [
      subscriptionId,
    ]);
  });
});

describe("with the development setting (loopback receivers)", () => {
  it("does not follow a redirect: the target gets nothing, the partner sees the category", async () => {
    await clearSubscriptions(dev);
    await dev.service.client.createWebhookSubscription({ url: `${receiverUrl}/redirect` });
    const orderId = randomUUID();
    await publishEvents(producer, dev.topic, [confirmed(orderId)]);
    const dead = await vi.waitFor(() => webhookDelivery(dev, orderId, DeliveryStatus.DEAD_LETTERED), WAIT);
    expect(dead.lastError).toBe("http 307 (redirects are not followed)");
    expect(hitsOn("/redirect", orderId)).toHaveLength(retryDelaysMs.length + 1);
    expect(bystanderHits).toBe(0);
  });

  it("shows a closed port as a category, never the socket's error text", async () => {
    await clearSubscriptions(dev);
    const closedPort = await freePort();
    await dev.service.client.createWebhookSubscription({ url: `http://127.0.0.1:${closedPort}/gone` });
    const orderId = randomUUID();
    await publishEvents(producer, dev.topic, [confirmed(orderId)]);
    const dead = await vi.waitFor(() => webhookDelivery(dev, orderId, DeliveryStatus.DEAD_LETTERED), WAIT);
    expect(dead.lastError).toBe("connection refused");
    expect(dead.lastError).not.toContain(String(closedPort));
  });

  it("signs with both secrets during a rotation's overlap, each verifying", async () => {
    await clearSubscriptions(dev);
    const created = await dev.service.client.createWebhookSubscription({ url: `${receiverUrl}/rotated` });
    const subscriptionId = created.subscription?.subscriptionId ?? "";
    const rotated = await dev.service.client.rotateWebhookSecret({ subscriptionId, overlapSeconds: 600 });
    const orderId = randomUUID();
    await publishEvents(producer, dev.topic, [confirmed(orderId)]);
    const [hit] = await vi.waitFor(() => {
      const found = hitsOn("/rotated", orderId);
      if (found.length === 0) throw new Error("not yet");
      return found;
    }, WAIT);
    const header = String(hit?.headers["accord-signature"]);
    expect(header.split(",")).toHaveLength(2);
    const ts = String(hit?.headers["accord-timestamp"]);
    expect(verifySignature(rotated.signingSecret, ts, hit?.body ?? "", header, 300)).toBe(true);
    expect(verifySignature(created.signingSecret, ts, hit?.body ?? "", header, 300)).toBe(true);
    // Overlap over: only the new secret signs.
    await dev.service.client.rotateWebhookSecret({ subscriptionId, overlapSeconds: 0 });
    expect(dev.service.output()).not.toContain(rotated.signingSecret);
    expect(dev.service.output()).not.toContain(created.signingSecret);
  });

  it("a slow partner holds at most its cap, no transaction stays open during its POSTs, and others are not delayed", async () => {
    await clearSubscriptions(dev);
    slowGate = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    slowInFlight = 0;
    slowMaxInFlight = 0;
    await dev.service.client.createWebhookSubscription({ url: `${receiverUrl}/slow` });
    await dev.service.clientAs("globex").createWebhookSubscription({ url: `${receiverUrl}/fast` });
    const orders = Array.from({ length: 8 }, () => randomUUID());
    await publishEvents(
      producer,
      dev.topic,
      orders.map((id) => confirmed(id)),
    );
    // globex gets every one of its webhooks while acme's receiver answers none.
    await vi.waitFor(() => {
      for (const id of orders)
        if (hitsOn("/fast", id).length === 0) throw new Error(`globex has no ${id} yet`);
    }, WAIT);
    expect(slowInFlight).toBe(2);
    expect(slowMaxInFlight).toBe(2);
    // And the customers' emails went out.
    await vi.waitFor(async () => {
      const res = await fetch(
        `${sink.url}/messages?to=${encodeURIComponent(`egress-${orders[7]?.slice(0, 8)}@example.com`)}`,
      );
      expect(((await res.json()) as unknown[]).length).toBe(1);
    }, WAIT);
    // Two POSTs have been hanging for over a second now; no transaction is that old (claims and
    // deferrals of acme's other deliveries keep opening short ones meanwhile).
    await new Promise((r) => setTimeout(r, 1500));
    expect(slowInFlight).toBe(2);
    const { rows } = await dev.service.pool.query(
      `SELECT count(*)::int AS n, string_agg(state || ': ' || query, ' | ') AS q FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start < now() - interval '1 second'`,
    );
    expect(rows[0].n, rows[0].q).toBe(0);
    releaseSlow();
    await vi.waitFor(
      () => {
        for (const id of orders)
          if (hitsOn("/slow", id).length === 0) throw new Error(`acme has no ${id} yet`);
      },
      { timeout: 40_000, interval: 200 },
    );
    expect(slowMaxInFlight).toBe(2);
    for (const id of orders) {
      await vi.waitFor(() => webhookDelivery(dev, id, DeliveryStatus.DELIVERED), WAIT);
    }
  }, 90_000);
});
