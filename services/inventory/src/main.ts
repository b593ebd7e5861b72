import { fileURLToPath } from "node:url";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { createPool, ensureDatabase, migrate } from "#lib/db.ts";
import { createKafka, parseBrokers } from "#lib/messaging/kafka.ts";
import { startOutboxPublisher } from "#lib/messaging/outbox-relay.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { startRpcServer } from "#lib/rpc/server.ts";
import { loadInventoryConfig } from "./config.ts";
import { seedStock } from "./db/inventory-repo.ts";
import { createInventoryService, INVENTORY_TOPIC } from "./inventory-service.ts";

// Composition root of the inventory service: config, database, Kafka, outbox relay, server, shutdown.
const logger = createLogger("inventory");

async function main() {
  const config = loadInventoryConfig();
  await ensureDatabase(config.databaseUrl);
  const pool = createPool(config.databaseUrl, config.INVENTORY_DB_POOL_SIZE);
  const applied = await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
  if (applied.length) logger.info({ applied }, "migrations applied");
  const seeded = await seedStock(pool, config.INVENTORY_SEED_STOCK);
  if (seeded.length) logger.info({ seeded }, "stock seeded");

  const kafka = createKafka({ clientId: "inventory", brokers: parseBrokers(config.KAFKA_BROKERS), logger });
  const publisher = startOutboxPublisher({
    pool,
    kafka,
    topics: [INVENTORY_TOPIC],
    logger: logger.child({ component: "outbox-relay" }),
  });
  // A real round trip for readiness: kafkajs reports no disconnect of its
  // own, so a flag alone would stay true with the broker gone.
  const probe = kafka.admin({ retry: { retries: 0 } });
  await probe.connect();

  const server = await startRpcServer({
    host: config.INVENTORY_HOST,
    port: config.INVENTORY_PORT,
    routes: (router) => router.service(InventoryService, createInventoryService({ pool, logger })),
    health: {
      readyz: async () => {
        await pool.query("SELECT 1");
        if (!publisher.running()) throw new Error("outbox relay is not running (kafka not reached yet)");
        await withTimeout(probe.describeCluster(), 2_000, "kafka did not answer within 2 s");
      },
    },
  });
  logger.info({ port: server.port }, "inventory service listening (Connect, gRPC, gRPC-Web)");

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    let code = 0;
    // Intake first, then the relay (it finishes its round: committed rows stay
    // in the outbox for the next start), then the clients it used.
    for (const [name, step] of [
      ["server", () => server.close()],
      ["outbox relay", () => publisher.stop()],
      ["kafka admin", () => probe.disconnect()],
      ["postgres pool", () => pool.end()],
    ] as const) {
      try {
        await step();
      } catch (error) {
        code = 1;
        logger.error({ err: error }, `closing the ${name} failed`);
      }
    }
    process.exit(code);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "inventory service failed to start");
  process.exit(1);
});
