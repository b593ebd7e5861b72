import { fileURLToPath } from "node:url";
import { PaymentService } from "#gen/accord/payments/v1/payments_pb.js";
import { createPool, ensureDatabase, migrate } from "#lib/db.ts";
import { createKafka, parseBrokers } from "#lib/messaging/kafka.ts";
import { startOutboxPublisher } from "#lib/messaging/outbox-relay.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { startRpcServer } from "#lib/rpc/server.ts";
import { loadPaymentsConfig } from "./config.ts";
import { createPaymentService } from "./payment-service.ts";
import { createProviderClient } from "./provider-client.ts";

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

  // Kafka is not needed to take payments (events wait in the outbox).
  const kafka = createKafka({ clientId: "payments", brokers: parseBrokers(config.KAFKA_BROKERS), logger });
  const publisher = startOutboxPublisher({ pool, kafka, topics: [config.PAYMENTS_EVENTS_TOPIC], logger });
  let stopping = false;

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
    await publisher.stop();
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
