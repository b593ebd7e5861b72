import { fileURLToPath } from "node:url";
import { PaymentService } from "../../../gen/accord/payments/v1/payments_pb.js";
import { startRpcServer } from "../../../lib/connect-server.js";
import { createPool, ensureDatabase, migrate } from "../../../lib/db.js";
import {
  createIdempotentProducer,
  createKafka,
  type EventProducer,
  ensureTopics,
  parseBrokers,
} from "../../../lib/kafka.js";
import { createLogger } from "../../../lib/logger.js";
import { type OutboxRelay, startOutboxRelay } from "../../../lib/outbox-relay.js";
import { loadPaymentsConfig } from "./config.js";
import { createPaymentService } from "./payment-service.js";
import { createProviderClient } from "./provider-client.js";

// Composition root of the payments service: config, database, provider client
// behind a breaker, outbox relay, server, shutdown.
const logger = createLogger("payments");

async function main() {
  const config = loadPaymentsConfig();
  await ensureDatabase(config.databaseUrl);
  const pool = createPool(config.databaseUrl, config.PAYMENTS_DB_POOL_SIZE);
  const applied = await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
  if (applied.length) logger.info({ applied }, "migrations applied");

  const provider = createProviderClient({
    baseUrl: config.PAYMENT_PROVIDER_URL,
    breaker: {
      timeoutMs: config.PAYMENTS_PROVIDER_TIMEOUT_MS,
      errorThresholdPercentage: config.PAYMENTS_BREAKER_ERROR_PERCENT,
      resetTimeoutMs: config.PAYMENTS_BREAKER_RESET_MS,
      volumeThreshold: config.PAYMENTS_BREAKER_VOLUME_THRESHOLD,
      rollingCountTimeoutMs: config.PAYMENTS_BREAKER_WINDOW_MS,
    },
    logger,
  });

  // Kafka is not needed to take payments (events wait in the outbox), so it is
  // set up in the background and retried until it answers.
  const kafka = createKafka({ clientId: "payments", brokers: parseBrokers(config.KAFKA_BROKERS), logger });
  let producer: EventProducer | undefined;
  let relay: OutboxRelay | undefined;
  let stopping = false;
  const kafkaReady = (async () => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await ensureTopics(kafka, [config.PAYMENTS_EVENTS_TOPIC]);
        producer = await createIdempotentProducer(kafka);
        if (stopping) return;
        relay = startOutboxRelay({ pool, producer, logger });
        logger.info({ topic: config.PAYMENTS_EVENTS_TOPIC }, "outbox relay running");
        return;
      } catch (error) {
        if (attempt === 1 || attempt % 10 === 0)
          logger.warn({ err: error, attempt }, "kafka not ready; retrying");
        await producer?.disconnect().catch(() => {});
        producer = undefined;
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * attempt)));
      }
    }
  })();

  const server = await startRpcServer({
    host: config.PAYMENTS_HOST,
    port: config.PAYMENTS_PORT,
    routes: (router) =>
      router.service(
        PaymentService,
        createPaymentService({ pool, provider, logger, topic: config.PAYMENTS_EVENTS_TOPIC }),
      ),
    health: {
      // Postgres only: a provider outage must not make payments unready (the
      // breaker answers Unavailable per call instead).
      readyz: async () => {
        await pool.query("SELECT 1");
      },
    },
  });
  logger.info({ port: server.port }, "payments service listening (Connect, gRPC, gRPC-Web)");

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    await server.close();
    // A Kafka setup still retrying must not hold the shutdown for long.
    await Promise.race([kafkaReady, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    await relay?.stop();
    await producer?.disconnect().catch(() => {});
    provider.shutdown();
    await pool.end();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "payments service failed to start");
  process.exit(1);
});
