import { PaymentService } from "#gen/accord/payments/v1/payments_pb.js";
import { breakerOptionsFrom } from "#lib/breaker.ts";
import { runService } from "#lib/host/service-host.ts";
import { paymentAuthorization } from "./authorization.ts";
import { loadPaymentsConfig } from "./config.ts";
import { createPaymentService } from "./payment-service.ts";
import { createProviderClient } from "./provider-client.ts";

// The payments service: charges and refunds at the payment provider, behind a
// breaker, each bound to an idempotency key; events through its outbox.
await runService({
  name: "payments",
  loadConfig: loadPaymentsConfig,
  listen: (config) => ({ host: config.PAYMENTS_HOST, port: config.PAYMENTS_PORT }),
  async compose(host, config) {
    // Readiness is PostgreSQL only: a provider outage must not make payments
    // unready (the breaker answers Unavailable per call instead), and events
    // wait in the outbox while Kafka is down.
    const pool = await host.database(config.database, new URL("../migrations", import.meta.url));
    const provider = createProviderClient({
      baseUrl: config.PAYMENT_PROVIDER_URL,
      breaker: breakerOptionsFrom(config, "PAYMENTS_PROVIDER"),
      logger: host.logger,
    });
    host.onShutdown("payment provider breaker", () => provider.shutdown());
    host.outboxRelay({
      pool,
      kafka: host.kafka(config.KAFKA_BROKERS),
      topics: [config.PAYMENTS_EVENTS_TOPIC],
    });
    host.serve(
      PaymentService,
      createPaymentService({ pool, provider, logger: host.logger, topic: config.PAYMENTS_EVENTS_TOPIC }),
      paymentAuthorization,
    );
  },
});
