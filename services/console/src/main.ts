import { existsSync } from "node:fs";
import path from "node:path";
import { ConsoleService } from "#gen/accord/console/v1/console_pb.js";
import { runService } from "#lib/host/service-host.ts";
import { consoleAuthorization } from "./authorization.ts";
import { loadConsoleConfig } from "./config.ts";
import { createConsoleService } from "./console-service.ts";
import { consoleConfigDocument, createFrontDoor, proxiedServices, watchedProcesses } from "./front-door.ts";
import { createProxy } from "./proxy.ts";
import { contentSecurityPolicy, createStaticSite, securityHeaders } from "./static-site.ts";

// The operations console: the built web app, same-origin forwarding of the
// browser's Connect calls to the services (which check the caller's token
// themselves), and ConsoleService (health and contracts) for operators.
await runService({
  name: "console",
  loadConfig: loadConsoleConfig,
  listen: (config) => ({ host: config.CONSOLE_HOST, port: config.CONSOLE_PORT }),
  compose(host, config) {
    const identityOrigin = new URL(config.OIDC_ISSUER).origin;
    const headers = securityHeaders(contentSecurityPolicy(identityOrigin));
    if (!existsSync(path.join(config.CONSOLE_WEB_DIR, "index.html"))) {
      host.logger.warn({ dir: config.CONSOLE_WEB_DIR }, "console web app not built (npm run console:build)");
    }
    const proxy = createProxy({
      services: proxiedServices(config),
      maxBodyBytes: config.CONSOLE_PROXY_MAX_BODY_BYTES,
      timeoutMs: config.CONSOLE_PROXY_TIMEOUT_MS,
      logger: host.logger,
    });
    host.onShutdown("upstream connections", () => proxy.close());
    host.http(
      createFrontDoor({
        proxy,
        site: createStaticSite({ root: config.CONSOLE_WEB_DIR, headers }),
        configDocument: consoleConfigDocument(config),
        headers,
      }),
    );
    host.serve(
      ConsoleService,
      createConsoleService({
        processes: watchedProcesses(config),
        prometheusUrl: config.PROMETHEUS_URL,
        brokerUrl: config.PACT_BROKER_BASE_URL,
        ...(config.PACT_BROKER_TOKEN ? { brokerToken: config.PACT_BROKER_TOKEN } : {}),
        timeoutMs: config.CONSOLE_READ_TIMEOUT_MS,
        logger: host.logger,
      }),
      consoleAuthorization,
    );
  },
});
