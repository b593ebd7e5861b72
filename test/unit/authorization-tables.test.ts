import { readdir } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { DescService } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { type Caller, type MethodRule, missingRules } from "#lib/auth/authorization.ts";
import { SERVICE_IDENTITIES, USER_ROLES } from "#lib/auth/principal.ts";
import { healthAuthorization } from "#lib/rpc/grpc-health.ts";
import { reflectionAuthorization } from "#lib/rpc/reflection.ts";
import { catalogAuthorization } from "#services/catalog/src/authorization.ts";
import { consoleAuthorization } from "#services/console/src/authorization.ts";
import { inventoryAuthorization } from "#services/inventory/src/authorization.ts";
import { notificationAuthorization } from "#services/notifications/src/authorization.ts";
import { deadLetterAuthorization } from "#services/notifications/src/dead-letter-authorization.ts";
import { sagaAuthorization } from "#services/orchestrator/src/authorization.ts";
import { orderAuthorization } from "#services/orders/src/authorization.ts";
import { paymentAuthorization } from "#services/payments/src/authorization.ts";
import { shippingAuthorization } from "#services/shipping/src/authorization.ts";

// The interceptor refuses a method without a rule, so a forgotten rule is an
// outage rather than a hole; this finds it before any process starts.

/** Every table a process serves with, by the full name of the service it is for. */
const TABLES: ReadonlyMap<string, Readonly<Record<string, MethodRule>>> = new Map<
  string,
  Readonly<Record<string, MethodRule>>
>([
  ["accord.catalog.v1.CatalogService", catalogAuthorization],
  ["accord.orders.v1.OrderService", orderAuthorization],
  ["accord.inventory.v1.InventoryService", inventoryAuthorization],
  ["accord.payments.v1.PaymentService", paymentAuthorization],
  ["accord.shipping.v1.ShippingService", shippingAuthorization],
  ["accord.notifications.v1.NotificationService", notificationAuthorization],
  ["accord.notifications.v1.DeadLetterService", deadLetterAuthorization],
  ["accord.orchestrator.v1.SagaService", sagaAuthorization],
  ["accord.console.v1.ConsoleService", consoleAuthorization],
  ["grpc.health.v1.Health", healthAuthorization],
  ["grpc.reflection.v1.ServerReflection", reflectionAuthorization.v1],
  ["grpc.reflection.v1alpha.ServerReflection", reflectionAuthorization.v1alpha],
]);

const GEN = path.resolve(import.meta.dirname, "../../gen");

/** Every service generated from proto/ (and the gRPC ones the host serves), found by walking gen/. */
async function generatedServices(): Promise<DescService[]> {
  const files = (await readdir(GEN, { recursive: true })).filter((f) => f.endsWith("_pb.js"));
  const services: DescService[] = [];
  for (const file of files.sort()) {
    const module = (await import(pathToFileURL(path.join(GEN, file)).href)) as Record<string, unknown>;
    for (const value of Object.values(module)) {
      if ((value as { kind?: unknown } | null)?.kind === "service") services.push(value as DescService);
    }
  }
  return services;
}

const KNOWN_CALLERS: ReadonlySet<Caller> = new Set<Caller>([
  "anyone",
  ...USER_ROLES,
  ...SERVICE_IDENTITIES.map((s) => `service:${s}` as const),
]);

describe("authorization tables", () => {
  it("cover every generated service", async () => {
    const services = await generatedServices();
    // The walk itself must find the services, or the checks below prove nothing.
    expect(services.map((s) => s.typeName)).toEqual(expect.arrayContaining([...TABLES.keys()]));
    const withoutTable = services.map((s) => s.typeName).filter((name) => !TABLES.has(name));
    expect(withoutTable).toEqual([]);
  });

  it("have a rule for every method of every service", async () => {
    for (const service of await generatedServices()) {
      const table = TABLES.get(service.typeName) ?? {};
      expect({ service: service.typeName, missing: missingRules(service, table) }).toEqual({
        service: service.typeName,
        missing: [],
      });
    }
  });

  it("name only methods that exist and callers the realm has, and let someone in on each", async () => {
    for (const service of await generatedServices()) {
      const table = TABLES.get(service.typeName) ?? {};
      const methods = new Set(service.methods.map((m) => m.localName));
      expect(Object.keys(table).filter((m) => !methods.has(m))).toEqual([]);
      for (const [method, rule] of Object.entries(table)) {
        expect({ method, allow: rule.allow.length > 0 }).toEqual({ method, allow: true });
        expect(rule.allow.filter((c) => !KNOWN_CALLERS.has(c))).toEqual([]);
      }
    }
  });

  it("keep the console's services (saga, dead letters, health and contracts) to operators", () => {
    for (const table of [sagaAuthorization, deadLetterAuthorization, consoleAuthorization]) {
      for (const [method, rule] of Object.entries(table)) {
        expect({ method, allow: rule.allow }).toEqual({ method, allow: ["ops"] });
      }
    }
  });

  it("keep the catalog's writes to ops and checkout's price lookup from customers and partners", () => {
    expect(catalogAuthorization.upsertProduct.allow).toEqual(["ops"]);
    expect([...catalogAuthorization.lookupPrices.allow].sort()).toEqual(["ops", "service:orders"]);
    for (const read of [catalogAuthorization.listProducts, catalogAuthorization.getProduct]) {
      expect([...read.allow].sort()).toEqual(["customer", "ops", "partner", "service:orders"]);
    }
  });

  it("missingRules names a method the table forgot", () => {
    const { confirmOrder: _dropped, ...withoutConfirm } = orderAuthorization;
    expect(missingRules(OrderService, withoutConfirm)).toEqual(["ConfirmOrder"]);
    expect(missingRules(OrderService, orderAuthorization)).toEqual([]);
  });
});
