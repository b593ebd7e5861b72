import type http from "node:http";
import type http2 from "node:http2";
import { CatalogService } from "#gen/accord/catalog/v1/catalog_pb.js";
import { ConsoleService } from "#gen/accord/console/v1/console_pb.js";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { DeadLetterService } from "#gen/accord/notifications/v1/dead_letters_pb.js";
import { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import { SagaService } from "#gen/accord/orchestrator/v1/saga_pb.js";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentService } from "#gen/accord/payments/v1/payments_pb.js";
import { ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
import type { ConsoleConfig } from "./config.ts";
import type { WatchedProcess } from "./console-service.ts";
import { type ProxiedService, type ProxyRouter, sendError } from "./proxy.ts";
import type { StaticSite } from "./static-site.ts";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** The allow-list: the only services whose methods the console forwards, and where each runs. */
export function proxiedServices(config: ConsoleConfig): ProxiedService[] {
  return [
    { service: OrderService, upstream: "orders", url: config.ORDERS_URL },
    { service: PaymentService, upstream: "payments", url: config.PAYMENTS_URL },
    { service: InventoryService, upstream: "inventory", url: config.INVENTORY_URL },
    { service: ShippingService, upstream: "shipping", url: config.SHIPPING_URL },
    { service: NotificationService, upstream: "notifications", url: config.NOTIFICATIONS_URL },
    { service: DeadLetterService, upstream: "notifications", url: config.NOTIFICATIONS_URL },
    { service: SagaService, upstream: "orchestrator", url: config.ORCHESTRATOR_URL },
    { service: CatalogService, upstream: "catalog", url: config.CATALOG_URL },
  ];
}

/** Every process whose readiness the health page shows, in a fixed order. */
export function watchedProcesses(config: ConsoleConfig): WatchedProcess[] {
  return [
    { name: "orders", url: config.ORDERS_URL },
    { name: "inventory", url: config.INVENTORY_URL },
    { name: "payments", url: config.PAYMENTS_URL },
    { name: "shipping", url: config.SHIPPING_URL },
    { name: "notifications", url: config.NOTIFICATIONS_URL },
    { name: "orchestrator", url: config.ORCHESTRATOR_URL },
    { name: "catalog", url: config.CATALOG_URL },
    { name: "payment-provider", url: config.PAYMENT_PROVIDER_URL },
    { name: "carrier", url: config.CARRIER_URL },
    { name: "smtp-sink", url: config.SMTP_SINK_URL },
    { name: "pact-broker", url: config.PACT_BROKER_BASE_URL },
  ];
}

/**
 * /console-config.json: what the browser app needs to know (where to log
 * in, as which client, which services it may call and where traces are),
 * so the app has no address built in. Nothing secret: the client is public.
 */
export function consoleConfigDocument(config: ConsoleConfig) {
  return {
    issuer: config.OIDC_ISSUER,
    clientId: config.CONSOLE_OIDC_CLIENT_ID,
    requiredRole: "ops",
    zipkinUrl: config.CONSOLE_ZIPKIN_URL,
    services: Object.fromEntries(
      [...proxiedServices(config).map((p) => p.service), ConsoleService].map((s) => [s.name, s.typeName]),
    ),
  };
}

/**
 * The console's plain HTTP (what the host's RPC routes leave over): the
 * config document, the forwarded RPCs of the allow-list, the web app for
 * GET and HEAD, and 404 for anything else (a POST to any other path).
 */
export function createFrontDoor(options: {
  proxy: ProxyRouter;
  site: StaticSite;
  configDocument: unknown;
  headers: Record<string, string>;
}): (req: Request, res: Response) => void {
  const configBody = JSON.stringify(options.configDocument);
  return (req, res) => {
    const pathname = (req.url ?? "").split("?")[0] ?? "";
    if (pathname === "/console-config.json" && (req.method === "GET" || req.method === "HEAD")) {
      (res as http.ServerResponse).writeHead(200, {
        ...options.headers,
        "content-type": "application/json",
        "content-length": Buffer.byteLength(configBody),
        "cache-control": "no-store",
      });
      if (req.method === "HEAD") res.end();
      else res.end(configBody);
      return;
    }
    if (options.proxy.handle(req, res)) return;
    if (req.method === "GET" || req.method === "HEAD") {
      options.site.serve(req, res);
      return;
    }
    req.resume();
    sendError(res, 404, "not_found", "not found");
  };
}
