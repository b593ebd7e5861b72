import { fileURLToPath } from "node:url";
import { ShippingService } from "../../../gen/accord/shipping/v1/shipping_pb.js";
import { createBreaker } from "../../../lib/breaker.js";
import { startRpcServer } from "../../../lib/connect-server.js";
import { createPool, ensureDatabase, migrate } from "../../../lib/db.js";
import { dlqTopicFor } from "../../../lib/events.js";
import {
  createIdempotentProducer,
  createKafka,
  type EventProducer,
  ensureTopics,
  parseBrokers,
} from "../../../lib/kafka.js";
import { createLogger } from "../../../lib/logger.js";
import { type OutboxRelay, startOutboxRelay } from "../../../lib/outbox-relay.js";
import { type CarrierBooking, createCarrierClient } from "./carrier-client.js";
import { loadShippingConfig } from "./config.js";
import { isCarrierBusinessError } from "./domain/carrier-errors.js";
import { createShippingService } from "./shipping-service.js";

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
  let producer: EventProducer | undefined;
  let relay: OutboxRelay | undefined;
  let stopping = false;
  const kafkaReady = (async () => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await ensureTopics(kafka, [config.SHIPPING_EVENTS_TOPIC, dlqTopicFor(config.SHIPPING_EVENTS_TOPIC)]);
        producer = await createIdempotentProducer(kafka);
        if (stopping) return;
        relay = startOutboxRelay({ pool, producer, logger });
        logger.info({ topic: config.SHIPPING_EVENTS_TOPIC }, "outbox relay started");
        return;
      } catch (error) {
        await producer?.disconnect().catch(() => {});
        producer = undefined;
        if (attempt === 1 || attempt % 10 === 0) {
          logger.warn({ err: error, attempt }, "kafka not reachable yet; events wait in the outbox");
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * attempt)));
      }
    }
  })();

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    await server.close();
    // A Kafka connect in progress may take a while to give up; do not wait for it forever.
    await Promise.race([kafkaReady, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    await relay?.stop();
    await producer?.disconnect().catch(() => {});
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
