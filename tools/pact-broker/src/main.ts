import { createTokenVerifier } from "#lib/auth/verifier.ts";
import { createPool } from "#lib/db.ts";
import { runService } from "#lib/host/service-host.ts";
import { brokerAccess } from "./access.ts";
import { createApi } from "./api.ts";
import { loadPactBrokerConfig } from "./config.ts";
import { createStore } from "./db/store.ts";
import { brokerHttpHandler } from "./http-handler.ts";
import { createBroker } from "./routes/context.ts";
import { createWebhookRunner } from "./webhooks/runner.ts";
import { webhookSettings } from "./webhooks/settings.ts";

// Composition root of Accord's own Pact Broker on the shared service host,
// which also serves /healthz, /readyz (PostgreSQL checked), /metrics and shuts
// down on SIGTERM.
await runService({
  name: "pact-broker",
  loadConfig: loadPactBrokerConfig,
  listen: (config) => ({ host: config.PACT_BROKER_HOST, port: config.PACT_BROKER_PORT }),
  compose: async (host, config) => {
    const pool = await host.database(
      { url: config.databaseUrl, poolSize: config.PACT_BROKER_DB_POOL_SIZE },
      new URL("../migrations", import.meta.url),
    );
    host.http(
      brokerHttpHandler({
        router: createApi(createStore(pool), {
          webhooks: { settings: webhookSettings(config) },
          publish: {
            allowDangerousContractModification: config.PACT_BROKER_ALLOW_DANGEROUS_CONTRACT_MODIFICATION,
          },
        }),
        logger: host.logger,
        publicUrl: config.PACT_BROKER_PUBLIC_URL,
        listenAddress: `${config.PACT_BROKER_HOST}:${config.PACT_BROKER_PORT}`,
        access: brokerAccess({
          verifier: createTokenVerifier({
            issuer: config.OIDC_ISSUER,
            audience: config.AUTH_AUDIENCE ?? "pact-broker",
            jwksUrl: config.OIDC_JWKS_URL,
            clockToleranceSec: config.AUTH_CLOCK_SKEW_SEC,
          }),
          publicRead: config.PACT_BROKER_PUBLIC_READ,
          logger: host.logger,
        }),
      }),
    );
    // Webhooks fire after the publishing transaction commits, outside the request.
    // The runner has a small pool of its own (one connection LISTENs), so it
    // never competes with requests, whatever PACT_BROKER_DB_POOL_SIZE says.
    const runnerPool = createPool(config.databaseUrl, 4);
    host.onShutdown("webhook runner pool", () => runnerPool.end());
    const store = createStore(runnerPool);
    const webhooks = createWebhookRunner({
      pool: runnerPool,
      webhooks: store.webhooks,
      data: createBroker(store).data,
      settings: webhookSettings(config),
      logger: host.logger,
    });
    await webhooks.start();
    host.onShutdown("webhook runner", () => webhooks.stop());
  },
});
