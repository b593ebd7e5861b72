import type { Store } from "./db/store.ts";
import { createRouter, type Router } from "./router.ts";
import { createBroker } from "./routes/context.ts";
import { deploymentRoutes } from "./routes/deployments.ts";
import { environmentRoutes } from "./routes/environments.ts";
import { forVerificationRoutes } from "./routes/for-verification.ts";
import { indexRoutes } from "./routes/index-resource.ts";
import { matrixRoutes } from "./routes/matrix.ts";
import { pacticipantRoutes } from "./routes/pacticipants.ts";
import { pactRoutes } from "./routes/pacts.ts";
import { type PublishSettings, publishRoutes } from "./routes/publish.ts";
import { verificationRoutes } from "./routes/verification-results.ts";
import { versionRoutes } from "./routes/versions.ts";
import { DEFAULT_WEBHOOK_ROUTE_OPTIONS, type WebhookRouteOptions, webhookRoutes } from "./routes/webhooks.ts";

/** Settings of route modules that need more than the store (main.ts passes them from the config). */
export interface ApiOptions {
  webhooks?: WebhookRouteOptions;
  /** PACT_BROKER_ALLOW_DANGEROUS_CONTRACT_MODIFICATION (false by default). */
  publish?: PublishSettings;
}

// The Pact Broker HTTP API subset used by the official pact-broker CLI and the
// pact-js (Rust core) Verifier, one module per resource under routes/.
// Resource shapes and relation names follow the real broker, so the same
// scripts work against either.

export function createApi(store: Store, options: ApiOptions = {}): Router {
  const router = createRouter();
  const broker = createBroker(store);
  indexRoutes(router);
  publishRoutes(router, broker, options.publish);
  pactRoutes(router, broker);
  verificationRoutes(router, broker);
  forVerificationRoutes(router, broker);
  pacticipantRoutes(router, broker);
  versionRoutes(router, broker);
  environmentRoutes(router, broker);
  deploymentRoutes(router, broker);
  matrixRoutes(router, broker);
  webhookRoutes(router, broker, options.webhooks ?? DEFAULT_WEBHOOK_ROUTE_OPTIONS);
  return router;
}
