import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { runService } from "#lib/host/service-host.ts";
import { inventoryAuthorization } from "./authorization.ts";
import { loadInventoryConfig } from "./config.ts";
import { seedStock } from "./db/inventory-repo.ts";
import { createInventoryService } from "./inventory-service.ts";

// The inventory service: stock per SKU and reservations, events through its outbox.
await runService({
  name: "inventory",
  loadConfig: loadInventoryConfig,
  listen: (config) => ({ host: config.INVENTORY_HOST, port: config.INVENTORY_PORT }),
  async compose(host, config) {
    const pool = await host.database(config.database, new URL("../migrations", import.meta.url));
    const seeded = await seedStock(pool, config.INVENTORY_SEED_STOCK);
    if (seeded.length) host.logger.info({ seeded }, "stock seeded");

    const kafka = host.kafka(config.KAFKA_BROKERS);
    const relay = host.outboxRelay({
      pool,
      kafka,
      topics: [config.INVENTORY_EVENTS_TOPIC],
      logger: host.logger.child({ component: "outbox-relay" }),
    });
    // A real round trip for readiness: kafkajs reports no disconnect of its
    // own, so a flag alone would stay true with the broker gone.
    const probe = kafka.admin({ retry: { retries: 0 } });
    await probe.connect();
    host.onShutdown("kafka admin", () => probe.disconnect());
    host.ready("outbox relay", () => {
      if (!relay.running()) throw new Error("not running (kafka not reached yet)");
    });
    host.ready("kafka", () => probe.describeCluster());

    host.serve(
      InventoryService,
      createInventoryService({ pool, logger: host.logger, topic: config.INVENTORY_EVENTS_TOPIC }),
      inventoryAuthorization,
    );
  },
});
