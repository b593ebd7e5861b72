import { fileURLToPath } from "node:url";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { createPool, ensureDatabase, migrate } from "#lib/db.ts";
import { createKafka, parseBrokers } from "#lib/messaging/kafka.ts";
import { startOutboxPublisher } from "#lib/messaging/outbox-relay.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { startRpcServer } from "#lib/rpc/server.ts";
import { loadOrdersConfig } from "./config.ts";
import { createOrderService, ORDERS_TOPIC } from "./order-service.ts";

// Composition root of the orders service: config, adapters, handlers, server, shutdown.
const logger = createLogger("orders");

async function main() {
  const config = loadOrdersConfig();
  await ensureDatabase(config.databaseUrl);
  const pool = createPool(config.databaseUrl, config.ORDERS_DB_POOL_SIZE);
  const applied = await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
  if (applied.length) logger.info({ applied }, "migrations applied");

  // Checkout never waits for Kafka: the relay publishes what the transactions
  // wrote, and the service starts and takes orders while Kafka is down.
  const kafka = createKafka({ clientId: "orders", brokers: parseBrokers(config.KAFKA_BROKERS), logger });
  const publisher = startOutboxPublisher({
    pool,
    kafka,
    topics: [ORDERS_TOPIC],
    logger,
    pollIntervalMs: config.ORDERS_OUTBOX_POLL_MS,
  });

  const server = await startRpcServer({
    host: config.ORDERS_HOST,
    port: config.ORDERS_PORT,
    routes: (router) => router.service(OrderService, createOrderService({ pool, logger })),
    health: {
      readyz: async () => {
        await pool.query("SELECT 1");
      },
    },
  });
  logger.info({ port: server.port }, "orders service listening (Connect, gRPC, gRPC-Web)");

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    await server.close();
    await publisher.stop();
    await pool.end();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "orders service failed to start");
  process.exit(1);
});
