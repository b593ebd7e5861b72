import { ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
import { breakerOptionsFrom } from "#lib/breaker.ts";
import { runService } from "#lib/host/service-host.ts";
import { shippingAuthorization } from "./authorization.ts";
import { type CarrierBooking, createCarrierClient } from "./carrier-client.ts";
import { loadShippingConfig } from "./config.ts";
import { isCarrierBusinessError } from "./domain/carrier-errors.ts";
import { createShippingService } from "./shipping-service.ts";

// The shipping service: shipments booked at the carrier behind a breaker;
// events through its outbox.
await runService({
  name: "shipping",
  loadConfig: loadShippingConfig,
  listen: (config) => ({ host: config.SHIPPING_HOST, port: config.SHIPPING_PORT }),
  async compose(host, config) {
    // Readiness is PostgreSQL only: the carrier being down is the breaker's
    // business, and the outbox keeps events while Kafka is down.
    const pool = await host.database(config.database, new URL("../migrations", import.meta.url));
    const breaker = host.breaker(
      "carrier",
      (signal: AbortSignal, operation: (signal: AbortSignal) => Promise<CarrierBooking>) => operation(signal),
      { ...breakerOptionsFrom(config, "SHIPPING_CARRIER"), isBusinessError: isCarrierBusinessError },
    );
    host.outboxRelay({
      pool,
      kafka: host.kafka(config.KAFKA_BROKERS),
      topics: [config.SHIPPING_EVENTS_TOPIC],
    });
    host.serve(
      ShippingService,
      createShippingService({
        pool,
        logger: host.logger,
        carrier: createCarrierClient(config.CARRIER_URL),
        breaker,
        topic: config.SHIPPING_EVENTS_TOPIC,
      }),
      shippingAuthorization,
    );
  },
});
