import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { runService } from "#lib/host/service-host.ts";
import { startOutboxPublisher } from "#lib/messaging/outbox-relay.ts";
import { loadOrdersConfig } from "./config.ts";
import { createOrderService } from "./order-service.ts";

// The orders service: checkout writes the order and its event in one
// transaction; the outbox relay publishes the events. Checkout never waits for
// Kafka, so the service starts and takes orders while Kafka is down.
await runService({
  name: "orders",
  loadConfig: loadOrdersConfig,
  listen: (config) => ({ host: config.ORDERS_HOST, port: config.ORDERS_PORT }),
  async compose(host, config) {
    const pool = await host.database({
      url: config.databaseUrl,
      poolSize: config.ORDERS_DB_POOL_SIZE,
      migrations: new URL("../migrations", import.meta.url),
    });
    const relay = startOutboxPublisher({
      pool,
      kafka: host.kafka(config.KAFKA_BROKERS),
      topics: [config.ORDERS_EVENTS_TOPIC],
      logger: host.logger,
      pollIntervalMs: config.ORDERS_OUTBOX_POLL_MS,
    });
    host.onShutdown("outbox relay", () => relay.stop());
    host.serve(
      OrderService,
      createOrderService({ pool, logger: host.logger, topic: config.ORDERS_EVENTS_TOPIC }),
    );
  },
});
