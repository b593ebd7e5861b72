import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { runService } from "#lib/host/service-host.ts";
import { orderAuthorization } from "./authorization.ts";
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
    const pool = await host.database(config.database, new URL("../migrations", import.meta.url));
    host.outboxRelay({
      pool,
      kafka: host.kafka(config.KAFKA_BROKERS),
      topics: [config.ORDERS_EVENTS_TOPIC],
      pollIntervalMs: config.ORDERS_OUTBOX_POLL_MS,
    });
    host.serve(
      OrderService,
      createOrderService({ pool, logger: host.logger, topic: config.ORDERS_EVENTS_TOPIC }),
      orderAuthorization,
    );
  },
});
