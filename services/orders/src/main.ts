import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { breakerOptionsFrom } from "#lib/breaker.ts";
import { runService } from "#lib/host/service-host.ts";
import { watchConsumerLag } from "#lib/observability/kafka-lag.ts";
import { orderAuthorization } from "./authorization.ts";
import { createCatalogPrices } from "./catalog-prices.ts";
import { loadOrdersConfig } from "./config.ts";
import { createOrderService } from "./order-service.ts";
import { startPaymentEventsConsumer } from "./payment-events.ts";

// The orders service: checkout prices the order at the catalog, then writes
// the order and its event in one transaction; the outbox relay publishes the
// events. Checkout never waits for Kafka, so the service starts and takes
// orders while Kafka is down.
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
    // An ops refund (PaymentRefunded, initiator OPS) makes a confirmed order REFUNDED; started in
    // the background like the relay, so a Kafka outage does not keep orders from serving.
    const eventsKafka = host.kafka(config.KAFKA_BROKERS);
    const paymentEvents = startPaymentEventsConsumer({
      kafka: eventsKafka,
      pool,
      logger: host.logger,
      ordersTopic: config.ORDERS_EVENTS_TOPIC,
      paymentsTopic: config.ORDERS_PAYMENTS_TOPIC,
      groupId: config.ORDERS_CONSUMER_GROUP,
      commitIntervalMs: config.KAFKA_COMMIT_INTERVAL_MS,
    });
    host.onShutdown("payment events consumer", () => paymentEvents.stop());
    const lag = {
      kafka: eventsKafka,
      groupId: config.ORDERS_CONSUMER_GROUP,
      topics: [config.ORDERS_PAYMENTS_TOPIC],
    };
    host.onShutdown("consumer lag gauge", watchConsumerLag(lag).stop);
    // Readiness stays PostgreSQL only: a catalog outage is answered per
    // call (Unavailable from the breaker), GetOrder and ListOrders go on.
    const tokens = host.tokens();
    // The catalog token before the first checkout, so its breaker does not
    // time a token fetch (renewals happen in the background).
    await tokens
      .token("catalog")
      .catch((err: unknown) =>
        host.logger.warn({ err }, "catalog token not fetched yet; the first checkout will"),
      );
    const catalog = createCatalogPrices({
      baseUrl: config.CATALOG_URL,
      protocol: config.ORDERS_CATALOG_RPC_PROTOCOL,
      tokens,
      breaker: breakerOptionsFrom(config, "ORDERS_CATALOG"),
      logger: host.logger,
    });
    host.onShutdown("catalog breaker", () => catalog.shutdown());
    host.serve(
      OrderService,
      createOrderService({ pool, logger: host.logger, topic: config.ORDERS_EVENTS_TOPIC, catalog }),
      orderAuthorization,
    );
  },
});
