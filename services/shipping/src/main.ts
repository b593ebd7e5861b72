import { fileURLToPath } from "node:url";
import { ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
import { createBreaker } from "#lib/breaker.ts";
import { createPool, ensureDatabase, migrate } from "#lib/db.ts";
import { createKafka, parseBrokers } from "#lib/messaging/kafka.ts";
import { startOutboxPublisher } from "#lib/messaging/outbox-relay.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { startRpcServer } from "#lib/rpc/server.ts";
import { type CarrierBooking, createCarrierClient } from "./carrier-client.ts";
import { loadShippingConfig } from "./config.ts";
import { isCarrierBusinessError } from "./domain/carrier-errors.ts";
import { createShippingService } from "./shipping-service.ts";

// Composition root of the shipping service: config, database, carrier client
// behind a breaker, outbox relay, RPC server, graceful shutdown.
const logger = createLogger("shipping");

async function main() {
  const config = loadShippingConfig();
  await ensureDatabase(config.databaseUrl);
  const pool = createPool(config.databaseUrl, config.SHIPPING_DB_POOL_SIZE);
  const applied = await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
  if (applied.length) logger.info({ applied }, "migrations applied");

  const breaker = createBreaker(
    "carrier",
    (signal: AbortSignal, operation: (signal: AbortSignal) => Promise<CarrierBooking>) => operation(signal),
    {
      timeoutMs: config.SHIPPING_CARRIER_TIMEOUT_MS,
      errorThresholdPercentage: config.SHIPPING_BREAKER_ERROR_PERCENT,
      resetTimeoutMs: config.SHIPPING_BREAKER_RESET_MS,
      volumeThreshold: config.SHIPPING_BREAKER_VOLUME_THRESHOLD,
      rollingCountTimeoutMs: config.SHIPPING_BREAKER_WINDOW_MS,
      isBusinessError: isCarrierBusinessError,
      logger,
    },
  );

  const server = await startRpcServer({
    host: config.SHIPPING_HOST,
    port: config.SHIPPING_PORT,
    routes: (router) =>
      router.service(
        ShippingService,
        createShippingService({
          pool,
          logger,
          carrier: createCarrierClient(config.CARRIER_URL),
          breaker,
          topic: config.SHIPPING_EVENTS_TOPIC,
        }),
      ),
    // Postgres only: the carrier being down is the breaker's business, and the
    // outbox keeps events while Kafka is down.
    health: {
      readyz: async () => {
        await pool.query("SELECT 1");
      },
    },
  });
  logger.info({ port: server.port, carrier: config.CARRIER_URL }, "shipping service listening");

  // Kafka in the background: the service answers RPCs without it, events wait in the outbox.
  const kafka = createKafka({ clientId: "shipping", brokers: parseBrokers(config.KAFKA_BROKERS), logger });
  const publisher = startOutboxPublisher({ pool, kafka, topics: [config.SHIPPING_EVENTS_TOPIC], logger });
  let stopping = false;

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    await server.close();
    await publisher.stop();
    breaker.shutdown();
    await pool.end();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "shipping service failed to start");
  process.exit(1);
});
