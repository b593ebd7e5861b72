import { createLogger } from "#lib/observability/logger.ts";
import { createCarrierApp } from "./carrier-app.ts";
import { loadCarrierConfig } from "./config.ts";

// Composition root of the simulated carrier: config, in-memory app, HTTP server, shutdown.
const logger = createLogger("carrier");

async function main() {
  const config = loadCarrierConfig();
  const app = createCarrierApp({
    behaviour: {
      latencyMs: config.CARRIER_LATENCY_MS,
      errorRate: config.CARRIER_ERROR_RATE,
      outage: config.CARRIER_OUTAGE,
    },
    logger,
  });
  await new Promise<void>((resolve, reject) => {
    app.server.once("error", reject);
    app.server.listen(config.CARRIER_PORT, config.CARRIER_HOST, () => resolve());
  });
  logger.info(
    { port: config.CARRIER_PORT, behaviour: app.behaviour },
    "carrier simulator listening (in memory: a restart forgets every booking)",
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    await app.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "carrier failed to start");
  process.exit(1);
});
