import { runService } from "#lib/host/service-host.ts";
import { createCarrierApp } from "./carrier-app.ts";
import { loadCarrierConfig } from "./config.ts";

// Simulated carrier API: a separate process, in memory (a restart forgets every booking).
await runService({
  name: "carrier",
  loadConfig: loadCarrierConfig,
  listen: (config) => ({ host: config.CARRIER_HOST, port: config.CARRIER_PORT }),
  compose(host, config) {
    const app = createCarrierApp({
      behaviour: {
        latencyMs: config.CARRIER_LATENCY_MS,
        errorRate: config.CARRIER_ERROR_RATE,
        outage: config.CARRIER_OUTAGE,
      },
      logger: host.logger,
    });
    host.http(app.handle);
    host.logger.info({ behaviour: app.behaviour }, "carrier behaviour");
  },
});
