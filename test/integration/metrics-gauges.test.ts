import { randomUUID } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ChannelModel, ConfirmChannel } from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderCancelledSchema, OrderDeliveredSchema } from "#gen/accord/orders/v1/events_pb.js";
import { FailureCode } from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { dlqTopicFor, encodeEvent, sourceFor } from "#lib/messaging/events.ts";
import {
  createIdempotentProducer,
  type EventProducer,
  ensureTopics,
  type KafkaClient,
  publishEvents,
} from "#lib/messaging/kafka.ts";
import { connectRabbit, openConfirmChannel } from "#lib/messaging/rabbit.ts";
import { DISPATCHER_CONSUMER } from "#services/notifications/src/dispatcher.ts";
import { TASK_QUEUES, taskTopologyNames } from "#services/notifications/src/topology.ts";
import { ensureProducts } from "#test/support/catalog.ts";
import { newTopicPrefix, prefixedTopic, testKafka } from "#test/support/kafka.ts";
import { shortId } from "#test/support/postgres.ts";
import { BOOK, placeOrderRequest, shipmentRequest } from "#test/support/requests.ts";
import { freePort, type ServiceProcess } from "#test/support/service-process.ts";
import {
  type ServiceUnderTest,
  setSimulatorBehaviour,
  startServiceUnderTest,
  startSimulator,
} from "#test/support/service-under-test.ts";

// The operator gauges read back through the real Prometheus that infra.sh
// starts (infra/prometheus/prometheus.yml): this file registers every
// process it starts as a target of the 1 s "tests" job (a file_sd file under
// .accord/run/prometheus-targets, labelled with this run), provokes each
// condition for real, and queries /api/v1/query until the value shows.
// Real processes, real tokens, real Kafka, RabbitMQ and PostgreSQL.
const run = shortId();
const PROMETHEUS = `http://${process.env.PROMETHEUS_HOST ?? "127.0.0.1"}:${process.env.PROMETHEUS_PORT ?? "9090"}`;
let targetsFile: string | undefined;

/**
 * Where the running Prometheus reads the "tests" job's targets: asked from
 * its loaded config (paths there are absolute), because the Prometheus that
 * answers may have been started from another checkout on this machine.
 */
async function targetsFileOfRunningPrometheus(): Promise<string> {
  if (targetsFile) return targetsFile;
  const res = await fetch(`${PROMETHEUS}/api/v1/status/config`, { signal: AbortSignal.timeout(5_000) });
  const { data } = (await res.json()) as { data: { yaml: string } };
  // Prometheus writes its config back in one fixed layout: each job a "- job_name:" item.
  const job = data.yaml.split(/\n- job_name: /).find((block) => block.startsWith("tests\n"));
  const glob = /files:\n\s+- (\S+)/.exec(job ?? "")?.[1];
  if (!glob?.endsWith("*.json")) {
    throw new Error(
      `the Prometheus at ${PROMETHEUS} has no "tests" job reading *.json targets: start Accord's (npm run infra:up)`,
    );
  }
  targetsFile = path.join(path.dirname(glob), `metrics-gauges-${run}.json`);
  return targetsFile;
}
// Scrape 1 s, file_sd refresh 1 s, rules every 10 s: a recording rule may take two rounds.
const SEEN = { timeout: 30_000, interval: 500 };
// Several such waits in a row, on a busy machine: more than the project's 60 s.
const TEST_TIMEOUT_MS = 150_000;

const targets = new Map<string, { port: number; service: string }>();

/** Makes Prometheus scrape the process (written whole, then renamed, so it never reads half a file). */
async function scrape(name: string, port: number, service: string) {
  targets.set(name, { port, service });
  const groups = [...targets].map(([process, t]) => ({
    targets: [`127.0.0.1:${t.port}`],
    labels: { service: t.service, process, test: "metrics-gauges", run },
  }));
  const file = await targetsFileOfRunningPrometheus();
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, JSON.stringify(groups, null, 2));
  await rename(`${file}.tmp`, file);
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(expr: string): Promise<Sample[]> {
  const res = await fetch(`${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(expr)}`, {
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await res.json()) as { status: string; error?: string; data?: { result: Sample[] } };
  if (body.status !== "success") throw new Error(`Prometheus refused ${expr}: ${body.error}`);
  return body.data?.result ?? [];
}

/** The single value of an instant query, undefined while it has no series. */
async function value(expr: string): Promise<number | undefined> {
  const result = await query(expr);
  if (result.length > 1) throw new Error(`${expr} has ${result.length} series: ${JSON.stringify(result)}`);
  return result[0] ? Number(result[0].value[1]) : undefined;
}

/** The series of a metric from one process this run started, with more label matchers. */
const ours = (process: string, metric: string, matchers = "") =>
  `${metric}{run="${run}", process="${process}"${matchers ? `, ${matchers}` : ""}}`;

beforeAll(async () => {
  // Prometheus must be Accord's (with the tests job), not just anything on the port.
  const config = await fetch(`${PROMETHEUS}/api/v1/status/config`, { signal: AbortSignal.timeout(3_000) })
    .then((r) => r.json() as Promise<{ data?: { yaml?: string } }>)
    .catch((error: unknown) => {
      throw new Error(
        `Prometheus does not answer at ${PROMETHEUS} (${(error as Error).message}); start it with: bash infra/infra.sh up prometheus`,
      );
    });
  if (!config.data?.yaml?.includes("job_name: tests")) {
    throw new Error(
      `the Prometheus at ${PROMETHEUS} has no "tests" job: it is not running infra/prometheus/prometheus.yml`,
    );
  }
});

afterAll(async () => {
  if (targetsFile) await rm(targetsFile, { force: true });
});

describe("breaker gauges", () => {
  const TIMEOUT_MS = 300;
  const VOLUME = 3;
  // Long enough for the recording rules (evaluated every 10 s) to see the breaker open.
  const RESET_MS = 12_000;
  let carrier: ServiceProcess;
  let shipping: ServiceUnderTest<"shipping">;

  beforeAll(async () => {
    carrier = await startSimulator("carrier");
    shipping = await startServiceUnderTest("shipping", {
      env: {
        CARRIER_URL: carrier.url,
        SHIPPING_CARRIER_BREAKER_TIMEOUT_MS: String(TIMEOUT_MS),
        SHIPPING_CARRIER_BREAKER_VOLUME_THRESHOLD: String(VOLUME),
        SHIPPING_CARRIER_BREAKER_ERROR_PERCENT: "50",
        SHIPPING_CARRIER_BREAKER_RESET_MS: String(RESET_MS),
      },
    });
    await scrape("shipping", shipping.port, "shipping");
  });

  afterAll(async () => {
    const code = await shipping?.stop();
    await carrier?.stop();
    expect(code).toBe(0);
  });

  it(
    "breaker_state goes 0 -> 2 when the carrier times out, opens are counted, and it closes again",
    async () => {
      const state = ours("shipping", "breaker_state", 'breaker="carrier"');
      await expect.poll(() => value(state), SEEN).toBe(0);
      expect(await value(ours("shipping", "breaker_opens_total", 'breaker="carrier"'))).toBe(0);

      await setSimulatorBehaviour(carrier, { latencyMs: 1_000 });
      const failedCall = async () => {
        const error = await shipping.client.createShipment(shipmentRequest()).catch((e: unknown) => e);
        expect(ConnectError.from(error).code).toBe(Code.Unavailable);
      };
      // rate() cannot see a series' first value as an increase: if every failure landed before the
      // first scrape of the new code="unavailable" series, the error ratio would read 0/0. So the
      // first failure is scraped on its own before the rest, as a later failure would be in service.
      await failedCall();
      await expect
        .poll(
          () =>
            value(
              ours(
                "shipping",
                "rpc_server_duration_seconds_count",
                'method="/accord.shipping.v1.ShippingService/CreateShipment", code="unavailable"',
              ),
            ),
          SEEN,
        )
        .toBe(1);
      for (let i = 1; i < VOLUME; i++) await failedCall();
      await expect.poll(() => value(state), SEEN).toBe(2);
      await expect
        .poll(() => value(ours("shipping", "breaker_opens_total", 'breaker="carrier"')), SEEN)
        .toBe(1);
      // The recording rule the BreakerOpen alert reads, over every shipping process.
      await expect
        .poll(() => value('service_breaker:breaker_state:max{service="shipping", breaker="carrier"}'), SEEN)
        .toBe(2);
      // The failed calls are in the RPC error ratio, by method and code.
      await expect
        .poll(
          () =>
            value(
              'service_method_code:rpc_server_errors:ratio_rate5m{service="shipping", method="/accord.shipping.v1.ShippingService/CreateShipment", code="unavailable"}',
            ),
          SEEN,
        )
        .toBeGreaterThan(0);

      // Carrier fast again: after the reset time the breaker is half-open, and the probe call closes it.
      await setSimulatorBehaviour(carrier, { latencyMs: 0 });
      await expect.poll(() => value(state), { timeout: RESET_MS + 10_000, interval: 250 }).toBe(1);
      await shipping.client.createShipment(shipmentRequest());
      await expect.poll(() => value(state), SEEN).toBe(0);
      expect(await value(ours("shipping", "breaker_opens_total", 'breaker="carrier"'))).toBe(1);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("outbox and saga gauges", () => {
  let orders: ServiceUnderTest<"orders">;
  let catalog: ServiceUnderTest<"catalog">;

  beforeAll(async () => {
    // The catalog prices the orders placed here.
    catalog = await startServiceUnderTest("catalog");
    await ensureProducts(catalog.url, [{ sku: BOOK.sku, prices: { [BOOK.currencyCode]: BOOK.amountMinor } }]);
    // Nothing listens on this loopback port: the relay can never publish, so rows wait.
    const closedPort = await freePort();
    orders = await startServiceUnderTest("orders", {
      env: { KAFKA_BROKERS: `127.0.0.1:${closedPort}`, CATALOG_URL: catalog.url },
    });
    await scrape("orders", orders.port, "orders");
  }, 120_000);

  afterAll(async () => {
    const code = await orders?.stop();
    await catalog?.stop();
    expect(code).toBe(0);
  });

  it(
    "counts the rows waiting while Kafka is unreachable, ages the oldest, and counts a failed saga",
    async () => {
      const backlog = ours("orders", "outbox_unpublished_rows");
      const oldest = ours("orders", "outbox_oldest_unpublished_age_seconds");
      await expect.poll(() => value(backlog), SEEN).toBe(0);
      expect(await value(oldest)).toBe(0);

      const alice = DEMO_USERS.alice.id;
      const first = await orders.client.placeOrder(placeOrderRequest({ customerId: alice }));
      await orders.client.placeOrder(placeOrderRequest({ customerId: alice }));
      const orderId = first.order?.orderId ?? "";
      // The saga's terminal transition, as the orchestrator calls it: a third outbox row.
      await orders.clientAs("orchestrator").failOrder({
        orderId,
        failureCode: FailureCode.OUT_OF_STOCK,
        reason: "metrics test",
      });

      await expect.poll(() => value(backlog), SEEN).toBe(3);
      const { rows } = await orders.pool.query<{ waiting: string }>(
        "SELECT count(*) AS waiting FROM outbox WHERE published_at IS NULL",
      );
      expect(Number(rows[0]?.waiting)).toBe(3);
      const age = (await value(oldest)) ?? 0;
      expect(age).toBeGreaterThan(0);
      // It keeps growing while nothing is published.
      await expect.poll(() => value(oldest), SEEN).toBeGreaterThan(age + 1);
      await expect
        .poll(() => value('service:outbox_unpublished_rows:sum{service="orders"}'), SEEN)
        .toBeGreaterThanOrEqual(3);

      await expect.poll(() => value(ours("orders", "saga_outcomes_total", 'result="failed"')), SEEN).toBe(1);
      expect(await value(ours("orders", "saga_outcomes_total", 'result="confirmed"'))).toBeUndefined();
      expect(await value(ours("orders", "saga_duration_seconds_count", 'result="failed"'))).toBe(1);
      // Failing the same order again is the saga's retry: not a second outcome.
      await orders.clientAs("orchestrator").failOrder({
        orderId,
        failureCode: FailureCode.OUT_OF_STOCK,
        reason: "metrics test",
      });
      await new Promise((r) => setTimeout(r, 2_000));
      expect(await value(ours("orders", "saga_outcomes_total", 'result="failed"'))).toBe(1);
    },
    TEST_TIMEOUT_MS,
  );
});

describe("consumer lag and dead-letter gauges", () => {
  const prefix = newTopicPrefix("test-metrics", run);
  const topic = prefixedTopic(prefix, "orders");
  const group = `${prefix}notifications`;
  const names = taskTopologyNames(prefix);
  const retryDelaysMs = [200, 400];
  let sink: ServiceProcess;
  let notifications: ServiceUnderTest<"notifications">;
  let kafka: KafkaClient;
  let producer: EventProducer;
  let rabbit: ChannelModel;
  let channel: ConfirmChannel;
  let receiver: http.Server;
  let receiverUrl: string;

  beforeAll(async () => {
    // The partner's endpoint: always 500, so its webhook tasks end in the DLQ.
    receiver = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(500).end());
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

    kafka = testKafka(`metrics-gauges-${run}`);
    // One partition: an event stuck in the handler holds back every event after it.
    await ensureTopics(kafka, [topic, dlqTopicFor(topic)], 1);
    producer = await createIdempotentProducer(kafka);
    rabbit = await connectRabbit(process.env.AMQP_URL ?? "");
    channel = await openConfirmChannel(rabbit);

    const smtpPort = await freePort();
    sink = await startSimulator("smtp-sink", { SMTP_SINK_PORT: String(smtpPort) });
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
      },
    });
    await scrape("notifications", notifications.port, "notifications");
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
    expect(code).toBe(0);
  });

  const cancelled = (orderId: string) =>
    encodeEvent(
      OrderCancelledSchema,
      create(OrderCancelledSchema, {
        orderId,
        customerEmail: `m-${run}@example.com`,
        reason: "metrics test",
      }),
      { source: sourceFor("orders"), key: orderId },
    );
  const delivered = (orderId: string) =>
    encodeEvent(OrderDeliveredSchema, create(OrderDeliveredSchema, { orderId, customerId: "c-metrics" }), {
      source: sourceFor("orders"),
      key: orderId,
    });

  it(
    "a webhook that fails until its retries run out shows in the RabbitMQ dead-letter depth",
    async () => {
      const webhookDlq = ours(
        "notifications",
        "rabbitmq_dlq_depth_messages",
        `queue="${names.dlq("webhook")}"`,
      );
      await expect.poll(() => value(webhookDlq), SEEN).toBe(0);
      await notifications.client.createWebhookSubscription({
        url: `${receiverUrl}/hook`,
        eventTypes: [OrderCancelledSchema.typeName],
      });
      await publishEvents(producer, topic, [cancelled(randomUUID())]);
      await expect.poll(() => value(webhookDlq), SEEN).toBe(1);
      expect((await channel.checkQueue(names.dlq("webhook"))).messageCount).toBe(1);
      await expect
        .poll(() => value(`queue:rabbitmq_dlq_depth_messages:max{queue="${names.dlq("webhook")}"}`), SEEN)
        .toBe(1);
      // The other dead-letter queues are exported too, and empty.
      expect(
        await value(
          ours("notifications", "rabbitmq_dlq_depth_messages", `queue="${names.dlq("analytics")}"`),
        ),
      ).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "an undecodable event on the topic shows in the Kafka dead-letter depth",
    async () => {
      const kafkaDlq = ours("notifications", "kafka_dlq_depth_messages", `topic="${dlqTopicFor(topic)}"`);
      await expect.poll(() => value(kafkaDlq), SEEN).toBe(0);
      await producer.send({
        topic,
        acks: -1,
        messages: [{ key: "garbage", value: Buffer.from("not an event") }],
      });
      await expect.poll(() => value(kafkaDlq), SEEN).toBe(1);
      await expect
        .poll(() => value(`topic:kafka_dlq_depth_messages:max{topic="${dlqTopicFor(topic)}"}`), SEEN)
        .toBe(1);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "a consumer stuck on one event lags by the events behind it, and catches up once it is freed",
    async () => {
      const lag = ours(
        "notifications",
        "kafka_consumer_lag_messages",
        `group="${group}", topic="${topic}", partition="0"`,
      );
      await expect.poll(() => value(lag), SEEN).toBe(0);

      // Claim the first event's inbox row in a transaction left open: the
      // dispatcher's own claim waits on it, so the consumer stalls on that event.
      const stuck = delivered(randomUUID());
      const blocker = await notifications.pool.connect();
      try {
        await blocker.query("BEGIN");
        await blocker.query("INSERT INTO inbox (event_id, consumer) VALUES ($1, $2)", [
          stuck.headers.ce_id,
          DISPATCHER_CONSUMER,
        ]);
        const behind = Array.from({ length: 5 }, () => delivered(randomUUID()));
        await publishEvents(producer, topic, [stuck, ...behind]);

        // Uncommitted: the stuck event and the five behind it.
        await expect.poll(() => value(lag), SEEN).toBe(6);
        await expect
          .poll(() => value(`group:kafka_consumer_lag_messages:sum{group="${group}"}`), SEEN)
          .toBe(6);
        await blocker.query("ROLLBACK");
      } finally {
        blocker.release();
      }
      await expect.poll(() => value(lag), SEEN).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );
});
