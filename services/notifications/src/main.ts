import nodemailer from "nodemailer";
import { DeadLetterService } from "#gen/accord/notifications/v1/dead_letters_pb.js";
import { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import { runService } from "#lib/host/service-host.ts";
import { dlqTopicFor } from "#lib/messaging/events.ts";
import { createIdempotentProducer, ensureTopics, runEventConsumer } from "#lib/messaging/kafka.ts";
import { connectRabbit, openConfirmChannel, type Task } from "#lib/messaging/rabbit.ts";
import { watchConsumerLag } from "#lib/observability/kafka-lag.ts";
import { watchDeadLetterDepth } from "#lib/observability/rabbit-dlq-depth.ts";
import { notificationAuthorization } from "./authorization.ts";
import { loadNotificationsConfig } from "./config.ts";
import { sealPlaintextSecrets } from "./db/notifications-repo.ts";
import { deadLetterAuthorization } from "./dead-letter-authorization.ts";
import { createDeadLetterService } from "./dead-letter-service.ts";
import { createDispatcher } from "./dispatcher.ts";
import { createSecretBox, parseSecretKey } from "./domain/secret-box.ts";
import { createEgressGuard, guardedDispatcher } from "./egress/guard.ts";
import { createNotificationService } from "./notification-service.ts";
import { assertTaskTopology, consumeTasks } from "./topology.ts";
import { createAnalyticsHandler } from "./workers/analytics-worker.ts";
import { createEmailHandler } from "./workers/email-worker.ts";
import { createWebhookHandler } from "./workers/webhook-worker.ts";

// The notifications service: a Kafka dispatcher turns domain events into
// RabbitMQ tasks; workers send emails, webhooks and analytics; the
// NotificationService RPCs manage webhook subscriptions and read deliveries.
await runService({
  name: "notifications",
  loadConfig: loadNotificationsConfig,
  listen: (config) => ({ host: config.NOTIFICATIONS_HOST, port: config.NOTIFICATIONS_PORT }),
  async compose(host, config) {
    const { logger } = host;
    const pool = await host.database(config.database, new URL("../migrations", import.meta.url));
    const box = createSecretBox(parseSecretKey(config.NOTIFICATIONS_SECRET_KEY));
    // Before serving or delivering: no secret stays in plaintext (migration 003 says why here).
    const sealed = await sealPlaintextSecrets(pool, box);
    if (sealed > 0) logger.info({ sealed, keyId: box.keyId }, "sealed plaintext webhook secrets");
    const guard = createEgressGuard({ allowLoopbackHttp: config.NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_HTTP });
    if (guard.allowLoopbackHttp) logger.warn("webhooks may use plain http to loopback (development setting)");
    const webhookDispatcher = guardedDispatcher(guard, {
      timeoutMs: config.NOTIFICATIONS_WEBHOOK_TIMEOUT_MS,
    });
    host.onShutdown("webhook dispatcher", () => webhookDispatcher.close());

    // No reconnect logic: a lost connection or channel ends the process so the
    // supervisor restarts it (unacked tasks and uncommitted events are redelivered).
    const retryDelaysMs = config.NOTIFICATIONS_RETRY_DELAYS_MS;
    const prefix = config.NOTIFICATIONS_RABBIT_PREFIX;
    const rabbit = await connectRabbit(config.AMQP_URL, {
      logger,
      connectionName: "notifications",
      onClose: (err) => host.fail("rabbitmq connection closed", err),
    });
    host.onShutdown("rabbitmq", () => rabbit.close());
    const publishChannel = await openConfirmChannel(rabbit, logger);
    publishChannel.on("close", () => host.fail("rabbitmq channel closed"));
    const { names } = await assertTaskTopology(publishChannel, { prefix, retryDelaysMs });
    // A broker round trip proves the connection is alive, not just open.
    host.ready("rabbitmq", () => publishChannel.checkExchange(names.tasksExchange));

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
    host.onShutdown("smtp transport", () => transporter.close());

    const workerDeps = { pool, logger, retryDelaysMs };
    const handlers: Record<string, (task: Task) => Promise<void>> = {
      email: createEmailHandler({ ...workerDeps, transporter, from: config.SMTP_FROM }),
      webhook: createWebhookHandler({
        ...workerDeps,
        timeoutMs: config.NOTIFICATIONS_WEBHOOK_TIMEOUT_MS,
        guard,
        dispatcher: webhookDispatcher,
        box,
        maxInFlightPerSubscription: config.NOTIFICATIONS_WEBHOOK_MAX_IN_FLIGHT_PER_SUBSCRIPTION,
        maxResponseBytes: config.NOTIFICATIONS_WEBHOOK_MAX_RESPONSE_BYTES,
        defer: {
          channel: publishChannel,
          names,
          queue: names.delayQueue("webhook", retryDelaysMs[0] ?? 1_000),
        },
      }),
      analytics: createAnalyticsHandler(workerDeps),
    };
    for (const [queue, handle] of Object.entries(handlers)) {
      // One channel per queue: prefetch is per channel, and a channel error stays local.
      const channel = await openConfirmChannel(rabbit, logger);
      channel.on("close", () => host.fail(`rabbitmq channel of ${queue} closed`));
      const consumer = await consumeTasks({
        channel,
        queue,
        prefix,
        prefetch: config.NOTIFICATIONS_PREFETCH,
        handle,
        retryDelaysMs,
        logger,
      });
      host.onShutdown(`${queue} worker`, () => consumer.stop());
    }
    const dlqs = Object.keys(handlers).map((queue) => names.dlq(queue));
    host.onShutdown("dlq depth gauge", watchDeadLetterDepth({ connection: rabbit, queues: dlqs }).stop);

    const kafka = host.kafka(config.KAFKA_BROKERS);
    const topics = config.NOTIFICATIONS_TOPICS;
    await ensureTopics(kafka, [...topics, ...topics.map((t) => dlqTopicFor(t))]);
    const dlqProducer = await createIdempotentProducer(kafka);
    host.onShutdown("kafka dlq producer", () => dlqProducer.disconnect());
    // Stops before the workers and channels: the event in hand finishes (its
    // tasks are published) first.
    const eventConsumer = await runEventConsumer({
      kafka,
      groupId: config.NOTIFICATIONS_CONSUMER_GROUP,
      topics,
      handle: createDispatcher({ pool, channel: publishChannel, names, logger }),
      logger,
      dlqProducer,
      commitIntervalMs: config.KAFKA_COMMIT_INTERVAL_MS,
      onStoppedForGood: (err) => host.fail("kafka consumer stopped", err),
    });
    host.onShutdown("kafka consumer", () => eventConsumer.stop());
    host.onShutdown(
      "consumer lag gauge",
      watchConsumerLag({ kafka, groupId: config.NOTIFICATIONS_CONSUMER_GROUP, topics }).stop,
    );
    logger.info({ topics, groupId: config.NOTIFICATIONS_CONSUMER_GROUP, prefix }, "dispatcher consuming");

    host.serve(
      NotificationService,
      createNotificationService({
        pool,
        logger,
        guard,
        box,
        maxSubscriptionsPerOwner: config.NOTIFICATIONS_MAX_SUBSCRIPTIONS_PER_OWNER,
        secretOverlapSeconds: config.NOTIFICATIONS_SECRET_OVERLAP_SECONDS,
      }),
      notificationAuthorization,
    );
    host.serve(
      DeadLetterService,
      createDeadLetterService({
        rabbit,
        names,
        prefix,
        queues: Object.keys(handlers),
        kafka,
        kafkaDlqTopics: topics.map((t) => dlqTopicFor(t)),
        logger,
      }),
      deadLetterAuthorization,
    );
  },
});
