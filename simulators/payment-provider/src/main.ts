import { runService } from "#lib/host/service-host.ts";
import { loadPaymentProviderConfig } from "./config.ts";
import { createProcessor } from "./processor.ts";
import { createProviderHandler } from "./server.ts";

// Simulated card processor: a separate process, state in memory only.
await runService({
  name: "payment-provider",
  loadConfig: loadPaymentProviderConfig,
  listen: (config) => ({ host: config.PAYMENT_PROVIDER_HOST, port: config.PAYMENT_PROVIDER_PORT }),
  compose(host, config) {
    const processor = createProcessor({
      latencyMs: config.PAYMENT_PROVIDER_LATENCY_MS,
      declineRate: config.PAYMENT_PROVIDER_DECLINE_RATE,
      outage: config.PAYMENT_PROVIDER_OUTAGE,
    });
    host.http(createProviderHandler(processor, host.logger));
    host.logger.info({ behaviour: processor.behaviour() }, "payment provider behaviour");
  },
});
