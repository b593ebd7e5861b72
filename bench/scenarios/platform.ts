import { randomUUID } from "node:crypto";
import http from "node:http";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { ChannelModel, ConfirmChannel } from "amqplib";
import type { EachMessagePayload } from "kafkajs";
import { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import { WebhookTaskSchema } from "#gen/accord/notifications/v1/tasks_pb.js";
import { OrderConfirmedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { decodeEvent, eventRegistry, isEventOf, normalizeHeaders } from "#lib/messaging/events.ts";
import { createKafka, kafkaAuthFrom, parseBrokers } from "#lib/messaging/kafka.ts";
import {
  connectRabbit,
  openConfirmChannel,
  publishTask,
  type TaskTopologyNames,
} from "#lib/messaging/rabbit.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { assertTaskTopology, consumeTasks, taskTopologyNames } from "#services/notifications/src/topology.ts";
import {
  PLATFORM_RETRY_DELAYS_MS,
  type Platform,
  queryDb,
  type ServiceName,
} from "#test/support/platform.ts";
import { stockBenchSku } from "../lib/bench-sku.ts";
import { createPoster } from "../lib/http.ts";
import { benchCaller } from "../lib/identity.ts";
import { type OpenLoopResult, openLoop } from "../lib/open-loop.ts";
import { PLACE_ORDER_PATH, platformOrderJson } from "../lib/place-order.ts";
import { type CpuReading, INFRA_GROUPS, pidOnPort, startCpuMeter } from "../lib/procs.ts";
import { requireServed } from "../lib/served.ts";
import { type LatencySummary, round, sleep, summarize } from "../lib/stats.ts";

const logger = createLogger("bench", "warn");

// ------------------------------------------------------------------ webhook receiver

interface Receiver {
  url: string;
  received(): number;
  /** Arrival times (ms, performance clock) and publish-to-arrival latencies. */
  arrivals: number[];
  latencies: number[];
  reset(): void;
  close(): void;
}

/** A partner's webhook endpoint: answers 204 at once and notes when each distinct event arrived. */
async function startReceiver(): Promise<Receiver> {
  const seen = new Set<string>();
  const arrivals: number[] = [];
  const latencies: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(204).end();
      try {
        // The bench puts the publish time (epoch ms) in orderId: "t<ms>".
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { eventId?: string; orderId?: string };
        if (!body.eventId || seen.has(body.eventId)) return;
        seen.add(body.eventId);
        arrivals.push(performance.now());
        const sent = Number(body.orderId?.slice(1));
        if (Number.isFinite(sent)) latencies.push(Date.now() - sent);
      } catch {
        // not ours
      }
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received: () => seen.size,
    arrivals,
    latencies,
    reset() {
      seen.clear();
      arrivals.length = 0;
      latencies.length = 0;
    },
    close() {
      server.close();
      server.closeAllConnections();
    },
  };
}

export interface WebhookRow {
  path: string;
  tasks: number;
  delivered: number;
  /** Publisher confirms per second while publishing (window of 256 unconfirmed). */
  publishConfirmedPerSec: number;
  /** Delivered / (last arrival - first publish). */
  deliveriesPerSec: number;
  /** Publish to arrival at the receiver. */
  latency: LatencySummary;
  workerCpu?: number;
  /** PostgreSQL and the whole machine over the same window. */
  postgresCpu?: number;
  machineBusy?: number;
}

export interface NotificationsResult {
  rows: WebhookRow[];
}

/** Publishes n WebhookTasks with confirms, round-robin over the subscriptions, at most `window` unconfirmed at a time. */
async function publishTasks(
  channel: ConfirmChannel,
  names: TaskTopologyNames,
  subscriptionIds: readonly string[],
  n: number,
  window = 256,
): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const subscriptionId = subscriptionIds[next % subscriptionIds.length] ?? "";
      next += 1;
      const taskId = randomUUID();
      const task = create(WebhookTaskSchema, {
        taskId,
        subscriptionId,
        payload: {
          eventId: randomUUID(),
          eventType: "accord.payments.v1.PaymentRefunded",
          occurredAt: timestampNow(),
          orderId: `t${Date.now()}`,
        },
      });
      await publishTask(
        channel,
        names.tasksExchange,
        names.queue("webhook"),
        Buffer.from(toBinary(WebhookTaskSchema, task)),
        {
          messageId: taskId,
          contentType: "application/protobuf",
          headers: { "event-type": "accord.payments.v1.PaymentRefunded" },
        },
      );
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  return n / ((performance.now() - t0) / 1000);
}

/** The webhook phase's subscriptions: as many as one owner may have (NOTIFICATIONS_MAX_SUBSCRIPTIONS_PER_OWNER). */
const WEBHOOK_SUBSCRIPTIONS = 20;
/** Their in-flight caps together (4 each): the widest prefetch none of whose tasks is deferred. */
const WIDE_PREFETCH = WEBHOOK_SUBSCRIPTIONS * 4;

/**
 * Empties the webhook queue and its delay queues, so no task of the webhook
 * phase cycles on after it (a copy of a deleted subscription's task that comes
 * back is refused as gone, not deferred again).
 */
async function purgeWebhookQueues(rabbit: ChannelModel, names: TaskTopologyNames): Promise<void> {
  const channel = await rabbit.createChannel();
  try {
    for (const queue of [
      names.queue("webhook"),
      ...PLATFORM_RETRY_DELAYS_MS.map((ms) => names.delayQueue("webhook", ms)),
    ])
      await channel.purgeQueue(queue);
  } finally {
    await channel.close().catch(() => {});
  }
}

async function waitFor(done: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await sleep(100);
}

/**
 * Webhook deliveries: WebhookTasks published with confirms straight onto the
 * platform's task exchange and delivered by the notifications service's own
 * webhook worker (inbox claim + delivery row in PostgreSQL + signed POST per
 * task), then by a bare lib/rabbit consumeTasks -> POST loop in this process,
 * which is what the transport alone allows.
 */
export async function runNotifications(
  quick: boolean,
  runId: string,
  platform: Platform,
  log: (line: string) => void,
): Promise<NotificationsResult> {
  const n = quick ? 3000 : 15000;
  const receiver = await startReceiver();
  const rabbit = await connectRabbit(process.env.AMQP_URL ?? "", { logger, connectionName: "bench" });
  const rows: WebhookRow[] = [];
  // Olivia (ops) owns the subscription: the event type is a payments one, which no partner is entitled to.
  const ops = await benchCaller("olivia", "notifications");
  const notifications = createClient(
    NotificationService,
    createConnectTransport({
      baseUrl: platform.urls.notifications,
      httpVersion: "1.1",
      interceptors: [ops.interceptor],
    }),
  );
  const subscriptionIds: string[] = [];
  let subscriptionsDeleted = false;
  const deleteSubscriptions = async () => {
    for (const subscriptionId of subscriptionIds)
      await notifications.deleteWebhookSubscription({ subscriptionId }).catch(() => {});
    subscriptionsDeleted = true;
  };
  try {
    // Tasks spread over several subscriptions: each may have only
    // NOTIFICATIONS_WEBHOOK_MAX_IN_FLIGHT_PER_SUBSCRIPTION (4) deliveries posting
    // at once and defers the rest to its first delay queue, so with one subscription the cap, not
    // the worker, would be measured (4 / one delivery's ~20 ms = ~200/s), and the
    // deferred tasks would cycle through the delay queue long after this phase.
    for (let i = 0; i < WEBHOOK_SUBSCRIPTIONS; i++) {
      const { subscription } = await notifications.createWebhookSubscription({
        url: receiver.url,
        // An event type the end-to-end run never produces, so the dispatcher leaves these subscriptions alone.
        eventTypes: ["accord.payments.v1.PaymentRefunded"],
      });
      subscriptionIds.push(subscription?.subscriptionId ?? "");
    }
    const names = taskTopologyNames(platform.rabbitPrefix);
    // n tasks through the running notifications service's worker, metered with PostgreSQL.
    const throughWorker = async (path: string): Promise<WebhookRow> => {
      const row = await deliverThroughWorker(path);
      // None delivered: the worker refused every task (entitlement, a lost subscription), nothing was measured.
      if (row.delivered === 0) throw new Error(`${path}: no webhook of ${row.tasks} delivered`);
      return row;
    };
    const deliverThroughWorker = async (path: string): Promise<WebhookRow> => {
      const channel = await openConfirmChannel(rabbit, logger);
      const pid = pidOnPort(Number(new URL(platform.urls.notifications).port));
      const meter = startCpuMeter({
        worker: () => (pid ? [pid] : []),
        postgres: INFRA_GROUPS.postgres as () => number[],
      });
      const t0 = performance.now();
      const confirmed = await publishTasks(channel, names, subscriptionIds, n);
      await waitFor(() => receiver.received() >= n, quick ? 60_000 : 120_000);
      const cpu = meter.stop();
      const last = receiver.arrivals.at(-1) ?? performance.now();
      await channel.close();
      return {
        path,
        tasks: n,
        delivered: receiver.received(),
        publishConfirmedPerSec: Math.round(confirmed),
        deliveriesPerSec: Math.round(receiver.received() / ((last - t0) / 1000)),
        latency: summarize(receiver.latencies),
        workerCpu: cpu.groups.worker ?? 0,
        postgresCpu: cpu.groups.postgres ?? 0,
        machineBusy: cpu.machineBusy,
      };
    };

    // 1. The notifications service's webhook worker.
    log(`notifications: ${n} webhooks through the notifications service worker`);
    rows.push(
      await throughWorker(
        "notifications service webhook worker (prefetch 10, inbox + delivery row per task)",
      ),
    );

    // 1b. The same worker with a larger prefetch: is the in-flight limit what bounds it?
    log(`notifications: ${n} webhooks through the worker with NOTIFICATIONS_PREFETCH=${WIDE_PREFETCH}`);
    receiver.reset();
    await platform.restart("notifications", { NOTIFICATIONS_PREFETCH: String(WIDE_PREFETCH) });
    rows.push(await throughWorker(`the same worker with NOTIFICATIONS_PREFETCH=${WIDE_PREFETCH}`));
    // Back to the platform's own setting for the later phases, with nothing of this one left:
    // the capacity probe subtracts every process's idle use, and tasks still cycling would pass for idle.
    await deleteSubscriptions();
    await purgeWebhookQueues(rabbit, names);
    await platform.restart("notifications");
    // What the stopped process held unacknowledged went back to the queue.
    await purgeWebhookQueues(rabbit, names);

    // 2. Bare lib/rabbit: consumeTasks -> POST, no database.
    log(`notifications: ${n} webhooks through a bare consumeTasks -> POST loop`);
    receiver.reset();
    const prefix = `bench-${runId}.`;
    const pub = await openConfirmChannel(rabbit, logger);
    const topology = await assertTaskTopology(pub, { prefix, queues: ["webhook"], retryDelaysMs: [1000] });
    const consumerChannel = await openConfirmChannel(rabbit, logger);
    const poster = createPoster(new URL(receiver.url).origin);
    const consumer = await consumeTasks({
      channel: consumerChannel,
      queue: "webhook",
      prefix,
      prefetch: 100,
      retryDelaysMs: [1000],
      logger,
      handle: async (task) => {
        const { payload } = fromBinary(WebhookTaskSchema, task.body);
        await poster.post("/hook", JSON.stringify({ eventId: payload?.eventId, orderId: payload?.orderId }));
      },
    });
    const t1 = performance.now();
    // Deleted by now: the bare loop only names them in its payloads.
    const confirmedBare = await publishTasks(pub, topology.names, subscriptionIds, n);
    await waitFor(() => receiver.received() >= n, 60_000);
    const lastBare = receiver.arrivals.at(-1) ?? performance.now();
    rows.push({
      path: "bare lib/rabbit consumeTasks (prefetch 100) -> POST, no database",
      tasks: n,
      delivered: receiver.received(),
      publishConfirmedPerSec: Math.round(confirmedBare),
      deliveriesPerSec: Math.round(receiver.received() / ((lastBare - t1) / 1000)),
      latency: summarize(receiver.latencies),
    });
    await consumer.stop();
    poster.close();
    for (const q of topology.queues) await pub.deleteQueue(q).catch(() => {});
    for (const e of topology.exchanges) await pub.deleteExchange(e).catch(() => {});
    await pub.close().catch(() => {});
    await consumerChannel.close().catch(() => {});
    return { rows };
  } finally {
    // Left only when a step before their deletion failed.
    if (!subscriptionsDeleted) await deleteSubscriptions();
    receiver.close();
    await rabbit.close().catch(() => {});
  }
}

// ------------------------------------------------------------------ end to end

export interface E2eResult {
  targetRate: number;
  seconds: number;
  placement: OpenLoopResult;
  placed: number;
  confirmed: number;
  failed: number;
  confirmedPerSec: number;
  /** Placement request sent -> OrderConfirmed's ce_time (the commit of CONFIRMED in orders). */
  placedToConfirmed: LatencySummary;
  /** Placement request sent -> OrderConfirmed read from Kafka by this bench (adds outbox relay + Kafka). */
  placedToConfirmedSeen: LatencySummary;
  /** Orchestrator group: age of the oldest uncommitted event per sample (0 when caught up), ms. */
  lagMs: LatencySummary;
  /** Orchestrator group: uncommitted messages per sample. */
  lagMessages: LatencySummary;
  lagSamples: number;
  /** Events the orchestrator group committed per second while sampling, over how many partitions. */
  bridge: { eventsPerSec: number; partitions: number; impliedMsPerEvent: number };
  statusesAtEnd: Record<string, number>;
  notTerminalAtEnd: number;
  drainedInMs: number;
  cpu: CpuReading;
  /** Per-second confirmed counts over the run (for the chart). */
  confirmedTimeline: number[];
}

/** CPU meter groups for every service process of the platform (found by port) and the infrastructure. */
export function platformCpuGroups(platform: Platform): Record<string, () => number[]> {
  const groups: Record<string, () => number[]> = { ...INFRA_GROUPS };
  const replicaUrls: Partial<Record<ServiceName, string>> = platform.replicaUrls;
  for (const [name, url] of Object.entries(platform.urls) as [ServiceName, string][]) {
    // A service's replicas count as the service: the cost of an order is what all of them spend.
    const pids = [url, replicaUrls[name]]
      .filter((u): u is string => u !== undefined)
      .map((u) => pidOnPort(Number(new URL(u).port)))
      .filter((p): p is number => p !== undefined);
    groups[name] = () => pids;
  }
  return groups;
}

/**
 * Orders at a fixed rate through the whole platform; CONFIRMED is taken from
 * the OrderConfirmed events on <prefix>orders.events (ce_time), and the
 * orchestrator's consumer lag is sampled from the broker (committed offsets
 * vs high watermarks; the age of the oldest uncommitted event comes from the
 * timestamps this bench's own consumer saw at those offsets).
 */
export async function runE2e(
  quick: boolean,
  runId: string,
  platform: Platform,
  orchestratorGroup: string,
  log: (line: string) => void,
  // Issue 15's target rate: 15 orders/s for 10 minutes.
  load: { rate: number; seconds: number } = { rate: 15, seconds: quick ? 30 : 600 },
): Promise<E2eResult> {
  const { rate, seconds } = load;
  const sku = `BENCH-E2E-${runId}-${rate}`.toUpperCase();
  // Olivia (ops) sets the stock and places the orders for many customers.
  const ops = await benchCaller("olivia", "orders");

  await stockBenchSku(platform, sku);

  const kafka = createKafka({
    clientId: "bench",
    brokers: parseBrokers(process.env.KAFKA_BROKERS ?? ""),
    auth: kafkaAuthFrom(),
    logger,
  });
  const ordersTopic = `${platform.topicPrefix}orders.events`;
  const shippingTopic = `${platform.topicPrefix}shipping.events`;
  const topics = [ordersTopic, shippingTopic];
  const offsetTime = new Map<string, number>();
  const placedAt = new Map<string, number>();
  const confirmedAt = new Map<string, { ce: number; seen: number }>();
  const failed = new Set<string>();
  const consumer = kafka.consumer({ groupId: `bench-${runId}-${rate}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    eachMessage: async ({ topic, partition, message }: EachMessagePayload) => {
      offsetTime.set(`${topic}/${partition}/${message.offset}`, Number(message.timestamp));
      if (topic !== ordersTopic) return;
      const type = normalizeHeaders(message.headers).ce_type;
      if (type === "accord.orders.v1.OrderConfirmed") {
        const event = decodeEvent(eventRegistry, message);
        if (isEventOf(event, OrderConfirmedSchema))
          confirmedAt.set(event.message.orderId, { ce: Date.parse(event.time), seen: Date.now() });
      } else if (type === "accord.orders.v1.OrderFailed" || type === "accord.orders.v1.OrderCancelled") {
        failed.add(message.key?.toString() ?? "");
      }
    },
  });
  await Promise.race([joined, sleep(15_000)]);

  // Lag sampler.
  const admin = kafka.admin();
  await admin.connect();
  const pending: { key: string; sampledAt: number; messages: number; committed: number }[] = [];
  let partitions = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const started = Date.now();
      try {
        const committed = await admin.fetchOffsets({ groupId: orchestratorGroup, topics });
        let messages = 0;
        let committedSum = 0;
        let parts = 0;
        let oldest: string | undefined;
        let oldestOffsetAge = -1;
        for (const topic of topics) {
          const high = await admin.fetchTopicOffsets(topic);
          const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
          for (const p of high) {
            const c = Number(mine.find((m) => m.partition === p.partition)?.offset ?? "-1");
            const from = c < 0 ? Number(p.low) : c;
            committedSum += from;
            parts += 1;
            const behind = Number(p.high) - from;
            if (behind > 0) {
              messages += behind;
              // The oldest uncommitted event of this partition; the oldest over partitions is resolved later.
              const key = `${topic}/${p.partition}/${from}`;
              const age = offsetTime.has(key) ? started - (offsetTime.get(key) as number) : 0;
              if (oldest === undefined || age > oldestOffsetAge) {
                oldest = key;
                oldestOffsetAge = age;
              }
            }
          }
        }
        partitions = parts;
        pending.push({ key: oldest ?? "", sampledAt: started, messages, committed: committedSum });
      } catch {
        // a slow admin call: skip this sample
      }
      await sleep(Math.max(0, 250 - (Date.now() - started)));
    }
  })();

  // CPU of every process of the platform and of the infrastructure.
  const groups = platformCpuGroups(platform);
  groups.bench = () => [process.pid];
  const meter = startCpuMeter(groups);

  log(`e2e: ${rate} orders/s for ${seconds} s through the whole platform`);
  const poster = createPoster(platform.urls.orders);
  const loadStart = Date.now();
  const placement = await openLoop({
    rate,
    durationMs: seconds * 1000,
    send: async (i) => {
      const sentAt = Date.now();
      const body = platformOrderJson(`bench-e2e-${runId}-${rate}-${i}`, sku, i);
      const res = JSON.parse(
        (await poster.post(PLACE_ORDER_PATH, body, "application/json", ops.headers)).toString(),
      ) as {
        order: { orderId: string };
      };
      placedAt.set(res.order.orderId, sentAt);
    },
  });
  const cpu = meter.stop();
  const loadEnd = Date.now();

  // Drain: every placed order reaches an end (or the deadline passes).
  const drainStart = Date.now();
  const finished = () => [...placedAt.keys()].every((id) => confirmedAt.has(id) || failed.has(id));
  await waitFor(finished, quick ? 30_000 : 120_000);
  const drainedInMs = Date.now() - drainStart;
  sampling = false;
  await sampler;
  poster.close();

  const statuses = await queryDb<{ status: string; n: number }>(
    platform.databases.orders,
    `SELECT o.status, count(*)::int AS n FROM orders o
      WHERE EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.order_id AND l.sku = $1)
      GROUP BY o.status`,
    [sku],
  );
  const statusesAtEnd = Object.fromEntries(statuses.map((r) => [r.status, r.n]));
  const notTerminal = (statusesAtEnd.PENDING ?? 0) + (statusesAtEnd.CANCELLING ?? 0);

  let lastConfirmed = loadStart;
  const toConfirmed: number[] = [];
  const toSeen: number[] = [];
  const timeline: number[] = new Array(Math.ceil((Date.now() - loadStart) / 1000)).fill(0);
  for (const [id, sent] of placedAt) {
    const c = confirmedAt.get(id);
    if (!c) continue;
    toConfirmed.push(c.ce - sent);
    lastConfirmed = Math.max(lastConfirmed, c.ce);
    toSeen.push(c.seen - sent);
    const second = Math.floor((c.ce - loadStart) / 1000);
    if (second >= 0 && second < timeline.length) timeline[second] = (timeline[second] ?? 0) + 1;
  }
  // Lag per sample: age of the oldest uncommitted event, from the timestamp seen at that offset.
  const lagMs: number[] = [];
  for (const s of pending) {
    if (s.key === "") lagMs.push(0);
    else {
      const t = offsetTime.get(s.key);
      if (t !== undefined) lagMs.push(Math.max(0, s.sampledAt - t));
    }
  }
  await admin.disconnect();
  await consumer.disconnect();
  const loadSeconds = (loadEnd - loadStart) / 1000;
  requireServed(`e2e placement at ${rate}/s`, placement);
  return {
    targetRate: rate,
    seconds,
    placement,
    placed: placedAt.size,
    confirmed: [...placedAt.keys()].filter((id) => confirmedAt.has(id)).length,
    failed: failed.size,
    // Over the load window, or until the last confirmation if that came later.
    confirmedPerSec: round(toConfirmed.length / Math.max(loadSeconds, (lastConfirmed - loadStart) / 1000), 1),
    placedToConfirmed: summarize(toConfirmed),
    placedToConfirmedSeen: summarize(toSeen),
    lagMs: summarize(lagMs),
    lagMessages: summarize(pending.map((p) => p.messages)),
    lagSamples: pending.length,
    bridge: bridgeRate(pending, partitions),
    statusesAtEnd,
    notTerminalAtEnd: notTerminal,
    drainedInMs,
    cpu,
    confirmedTimeline: timeline,
  };
}

/** The orchestrator's own pace: committed offsets over time, and the time per event that pace implies per partition. */
function bridgeRate(samples: { sampledAt: number; committed: number }[], partitions: number) {
  const first = samples[0];
  const last = samples.at(-1);
  if (!first || !last || last.sampledAt === first.sampledAt)
    return { eventsPerSec: 0, partitions, impliedMsPerEvent: 0 };
  const eventsPerSec = (last.committed - first.committed) / ((last.sampledAt - first.sampledAt) / 1000);
  return {
    eventsPerSec: round(eventsPerSec, 1),
    partitions,
    impliedMsPerEvent: eventsPerSec > 0 ? round((partitions * 1000) / eventsPerSec, 1) : 0,
  };
}
