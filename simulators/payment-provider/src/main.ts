import type { AddressInfo } from "node:net";
import { createLogger } from "#lib/observability/logger.ts";
import { loadPaymentProviderConfig } from "./config.ts";
import { createProcessor } from "./processor.ts";
import { createProviderServer } from "./server.ts";

// Simulated card processor: a separate process, state in memory only.
const logger = createLogger("payment-provider");

async function main() {
  const config = loadPaymentProviderConfig();
  const processor = createProcessor({
    latencyMs: config.PAYMENT_PROVIDER_LATENCY_MS,
    declineRate: config.PAYMENT_PROVIDER_DECLINE_RATE,
    outage: config.PAYMENT_PROVIDER_OUTAGE,
  });
  const server = createProviderServer(processor, logger);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.PAYMENT_PROVIDER_PORT, config.PAYMENT_PROVIDER_HOST, () => resolve());
  });
  logger.info(
    { port: (server.address() as AddressInfo).port, behaviour: processor.behaviour() },
    "payment provider listening",
  );

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    // Slow (simulated latency) requests may hold connections; do not wait forever.
    setTimeout(() => process.exit(0), 3_000).unref();
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "payment provider failed to start");
  process.exit(1);
});
