import { fileURLToPath } from "node:url";
import type { Channel } from "amqplib";
import nodemailer from "nodemailer";
import { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import { createPool, ensureDatabase, migrate } from "#lib/db.ts";
import { dlqTopicFor } from "#lib/messaging/events.ts";
import {
  createIdempotentProducer,
  createKafka,
  ensureTopics,
  parseBrokers,
  type RunningConsumer,
  runEventConsumer,
} from "#lib/messaging/kafka.ts";
import {
  assertTaskTopology,
  connectRabbit,
  consumeTasks,
  openConfirmChannel,
  type Task,
  type TaskConsumer,
} from "#lib/messaging/rabbit.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { startRpcServer } from "#lib/rpc/server.ts";
import { loadNotificationsConfig } from "./config.ts";
import { createDispatcher } from "./dispatcher.ts";
import { createNotificationService } from "./notification-service.ts";
import { createAnalyticsHandler } from "./workers/analytics-worker.ts";
import { createEmailHandler } from "./workers/email-worker.ts";
import { createWebhookHandler } from "./workers/webhook-worker.ts";

// Composition root of the notifications service: Kafka dispatcher, RabbitMQ
// workers (email, webhook, analytics), the NotificationService RPCs.
const logger = createLogger("notifications");

async function main() {
  const config = loadNotificationsConfig();
  await ensureDatabase(config.databaseUrl);
  const pool = createPool(config.databaseUrl, config.NOTIFICATIONS_DB_POOL_SIZE);
  const applied = await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
  if (applied.length) logger.info({ applied }, "migrations applied");

  let stopping = false;
  let shutdown: (reason: string, exitCode: number) => Promise<void> = async (_reason, exitCode) => {
    process.exit(exitCode);
  };
  // No reconnect logic: a lost connection or channel ends the process so the
  // supervisor restarts it (unacked tasks and uncommitted events are redelivered).
  const failFast = (what: string) => (err?: unknown) => {
    if (stopping) return;
    logger.fatal({ err }, `${what} closed unexpectedly, shutting down`);
    void shutdown(`${what} closed`, 1);
  };

  const retryDelaysMs = config.NOTIFICATIONS_RETRY_DELAYS_MS;
  const prefix = config.NOTIFICATIONS_RABBIT_PREFIX;
  const rabbit = await connectRabbit(config.AMQP_URL, {
    logger,
    connectionName: "notifications",
    onClose: failFast("rabbitmq connection"),
  });
  const publishChannel = await openConfirmChannel(rabbit, logger);
  const { names } = await assertTaskTopology(publishChannel, { prefix, retryDelaysMs });
  const channels: Channel[] = [publishChannel];

  const transporter = nodemailer.createTransport({
    host: config.SMTP_HOST,
    port: config.SMTP_PORT,
    secure: false,
    pool: true,
    maxConnections: 5,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
    ...(config.SMTP_USER ? { auth: { user: config.SMTP_USER, pass: config.SMTP_PASSWORD ?? "" } } : {}),
  });

  const workerDeps = { pool, logger, retryDelaysMs };
  const handlers: Record<string, (task: Task) => Promise<void>> = {
    email: createEmailHandler({ ...workerDeps, transporter, from: config.SMTP_FROM }),
    webhook: createWebhookHandler({ ...workerDeps, timeoutMs: config.NOTIFICATIONS_WEBHOOK_TIMEOUT_MS }),
    analytics: createAnalyticsHandler(workerDeps),
  };
  const taskConsumers: TaskConsumer[] = [];
  for (const [queue, handle] of Object.entries(handlers)) {
    // One channel per queue: prefetch is per channel, and a channel error stays local.
    const channel = await openConfirmChannel(rabbit, logger);
    channels.push(channel);
    taskConsumers.push(
      await consumeTasks({
        channel,
        queue,
        prefix,
        prefetch: config.NOTIFICATIONS_PREFETCH,
        handle,
        retryDelaysMs,
        logger,
      }),
    );
  }
  for (const channel of channels) channel.on("close", failFast("rabbitmq channel"));

  const kafka = createKafka({
    clientId: "notifications",
    brokers: parseBrokers(config.KAFKA_BROKERS),
    logger,
  });
  const topics = config.NOTIFICATIONS_TOPICS;
  await ensureTopics(kafka, [...topics, ...topics.map((t) => dlqTopicFor(t))]);
  const dlqProducer = await createIdempotentProducer(kafka);
  let eventConsumer: RunningConsumer | undefined = await runEventConsumer({
    kafka,
    groupId: config.NOTIFICATIONS_CONSUMER_GROUP,
    topics,
    handle: createDispatcher({ pool, channel: publishChannel, names, logger }),
    logger,
    dlqProducer,
  });
  logger.info({ topics, groupId: config.NOTIFICATIONS_CONSUMER_GROUP, prefix }, "dispatcher consuming");

  const server = await startRpcServer({
    host: config.NOTIFICATIONS_HOST,
    port: config.NOTIFICATIONS_PORT,
    routes: (router) => router.service(NotificationService, createNotificationService({ pool, logger })),
    health: {
      readyz: async () => {
        if (stopping) throw new Error("shutting down");
        if (!eventConsumer) throw new Error("kafka consumer not running");
        await pool.query("SELECT 1");
        // A broker round trip proves the connection is alive, not just open.
        await publishChannel.checkExchange(names.tasksExchange);
      },
    },
  });
  logger.info({ port: server.port }, "notifications service listening (Connect, gRPC, gRPC-Web)");

  shutdown = async (reason: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    logger.info({ reason }, "shutting down");
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        logger.warn({ err }, `shutdown: ${what} failed`);
      }
    };
    await step("rpc server", () => server.close());
    // The event in hand finishes (its tasks are published) before the channels close.
    await step("kafka consumer", async () => {
      await eventConsumer?.stop();
      eventConsumer = undefined;
    });
    await step("task consumers", () => Promise.all(taskConsumers.map((c) => c.stop())));
    await step("kafka producer", () => dlqProducer.disconnect());
    await step("rabbitmq", () => rabbit.close());
    transporter.close();
    await step("postgres", () => pool.end());
    process.exit(exitCode);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM", 0));
  process.on("SIGINT", () => void shutdown("SIGINT", 0));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "notifications service failed to start");
  process.exit(1);
});
