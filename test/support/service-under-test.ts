import type { DescService } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import type pg from "pg";
import { CatalogService } from "#gen/accord/catalog/v1/catalog_pb.js";
import { ConsoleService } from "#gen/accord/console/v1/console_pb.js";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import { SagaService } from "#gen/accord/orchestrator/v1/saga_pb.js";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentService } from "#gen/accord/payments/v1/payments_pb.js";
import { ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
import { devClientSecret } from "#lib/auth/dev-identities.ts";
import type { EventDomain } from "#lib/messaging/events.ts";
import { type RpcProtocol, rpcClient } from "#lib/rpc/clients.ts";
import { DEV_NOTIFICATIONS_SECRET_KEY } from "#services/notifications/src/dev-secret-key.ts";
import { callerAs, type TestCaller } from "./identity.ts";
import { type PublishedEvents, publishedEvents } from "./kafka.ts";
import { createSandbox } from "./sandbox.ts";
import { entryPoint, freePort, type ServiceProcess, startServiceProcess } from "./service-process.ts";

/**
 * The fixture of every test that runs a service as its real process: a free
 * port, a database and an ACCORD_TOPIC_PREFIX of its own, the generated
 * Connect client, a pool on its database, the events it published, and a
 * stop() that ends the process and removes what it left behind.
 *
 *   const orders = await startServiceUnderTest("orders");
 *   const { order } = await orders.client.placeOrder(...);
 *   await orders.pool.query("SELECT ... FROM outbox ...");
 *   await expect.poll(async () => (await orders.events.received(order.orderId)).length).toBe(1);
 *   expect(await orders.stop()).toBe(0); // graceful shutdown on SIGTERM exits 0
 */

interface ServiceSpec {
  /** The prefix of its variables: <P>_PORT, <P>_DATABASE. */
  env: string;
  /** The Connect service it serves, if any. */
  rpc: DescService | undefined;
  database: boolean;
  /** The domains whose event topic it publishes to (ACCORD_TOPIC_PREFIX + "<domain>.events"). */
  publishes: readonly EventDomain[];
  /** Who `client` calls as unless the test says otherwise: the caller most of its methods are for. */
  caller: TestCaller | undefined;
}

const SERVICES = {
  orders: { env: "ORDERS", rpc: OrderService, database: true, publishes: ["orders"], caller: "alice" },
  // Its writes are ops' alone; checkout's lookups come from orders.
  catalog: { env: "CATALOG", rpc: CatalogService, database: true, publishes: [], caller: "olivia" },
  inventory: {
    env: "INVENTORY",
    rpc: InventoryService,
    database: true,
    publishes: ["inventory"],
    caller: "orchestrator",
  },
  payments: {
    env: "PAYMENTS",
    rpc: PaymentService,
    database: true,
    publishes: ["payments"],
    caller: "orchestrator",
  },
  shipping: {
    env: "SHIPPING",
    rpc: ShippingService,
    database: true,
    publishes: ["shipping"],
    caller: "orchestrator",
  },
  notifications: {
    env: "NOTIFICATIONS",
    rpc: NotificationService,
    database: true,
    publishes: [],
    caller: "acme",
  },
  // SagaService (ops) besides the worker and the bridge; no database of its own.
  orchestrator: { env: "ORCHESTRATOR", rpc: SagaService, database: false, publishes: [], caller: "olivia" },
  // The operations console: ConsoleService, the web app and the forwarding; reads only.
  console: { env: "CONSOLE", rpc: ConsoleService, database: false, publishes: [], caller: "olivia" },
} as const satisfies Record<string, ServiceSpec>;

export type ServiceName = keyof typeof SERVICES;
type RpcOf<N extends ServiceName> = (typeof SERVICES)[N]["rpc"];
export type ClientOf<N extends ServiceName> = RpcOf<N> extends DescService ? Client<RpcOf<N>> : undefined;
export type PoolOf<N extends ServiceName> = (typeof SERVICES)[N]["database"] extends true
  ? pg.Pool
  : undefined;

export interface ServiceUnderTestOptions {
  /** More environment for the process: simulator URLs, breaker settings, retry delays. */
  env?: Record<string, string>;
  /** Names what the run owns: database accord_<service>_<tag>_<id>, topic prefix <tag>-<id>. */
  tag?: string;
  /** A prefix chosen beforehand (newTopicPrefix), e.g. to create a topic before the service starts. */
  topicPrefix?: string;
  /** The protocol of `client` (default Connect JSON over HTTP/1.1); clientOver() gives the others. */
  protocol?: RpcProtocol;
  /**
   * Who `client` calls as (a real token from the realm): a demo person or
   * one of Accord's clients; defaults to the service's usual caller
   * (orders: alice; inventory, payments, shipping: orchestrator; notifications: acme; catalog: olivia).
   */
  caller?: TestCaller;
  timeoutMs?: number;
}

export interface ServiceUnderTest<N extends ServiceName> {
  readonly name: N;
  readonly url: string;
  readonly port: number;
  /** The generated client (#gen descriptors) at the service's URL, calling as the test's caller. */
  readonly client: ClientOf<N>;
  clientOver(protocol: RpcProtocol): ClientOf<N>;
  /** A client calling as someone else (a person or a client of the realm), or anonymously (undefined). */
  clientAs(caller: TestCaller | undefined, protocol?: RpcProtocol): ClientOf<N>;
  /** A pool on the service's own database (created by the service at start). */
  readonly pool: PoolOf<N>;
  /** The database's name, undefined for a service without one. */
  readonly database: string | undefined;
  /** The process's ACCORD_TOPIC_PREFIX. */
  readonly topicPrefix: string;
  /** The events the service published on its prefixed topics, decoded. */
  readonly events: PublishedEvents;
  /** What the current process wrote to stdout and stderr. */
  output(): string;
  /** Stops the process with SIGTERM (resolves with its exit code) and starts it again: same port, same database. */
  restart(env?: Record<string, string>): Promise<number | null>;
  /** Stops the process (SIGTERM unless told), drops its database, deletes its topics; resolves with its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startServiceUnderTest<N extends ServiceName>(
  name: N,
  options: ServiceUnderTestOptions = {},
): Promise<ServiceUnderTest<N>> {
  const spec: ServiceSpec = SERVICES[name];
  const sandbox = createSandbox(options.tag ?? "test", { topicPrefix: options.topicPrefix });
  const database = spec.database ? sandbox.database(name) : undefined;
  const port = await freePort();
  const env: Record<string, string> = {
    ACCORD_TOPIC_PREFIX: sandbox.topicPrefix,
    // Its own client's development secret, for the calls it makes as itself
    // (the console makes none: it forwards its callers' tokens).
    ...(name === "console" ? {} : { AUTH_CLIENT_SECRET: devClientSecret(name as Exclude<N, "console">) }),
    // The development key that seals webhook secrets (the service has no default of its own).
    ...(name === "notifications" ? { NOTIFICATIONS_SECRET_KEY: DEV_NOTIFICATIONS_SECRET_KEY } : {}),
    // Orders requires a catalog. A test about something else gets a loopback
    // port nothing listens on (port 9, discard): orders starts, and a
    // PlaceOrder there answers unavailable. A test placing orders passes
    // CATALOG_URL of a catalog it started (test/support/catalog.ts).
    ...(name === "orders" ? { CATALOG_URL: "http://127.0.0.1:9" } : {}),
    [`${spec.env}_PORT`]: String(port),
    ...(database ? { [`${spec.env}_DATABASE`]: database.name } : {}),
    ...options.env,
  };
  const launch = (extra: Record<string, string> = {}) =>
    startServiceProcess(entryPoint(name), { ...env, ...extra }, port, options.timeoutMs);

  let proc: ServiceProcess;
  try {
    proc = await launch();
  } catch (error) {
    await sandbox.cleanup().catch(() => undefined);
    throw error;
  }
  const url = proc.url;
  const clientAs = (caller: TestCaller | undefined, protocol: RpcProtocol = "connect-json") =>
    (spec.rpc
      ? rpcClient(spec.rpc, url, protocol, caller === undefined ? undefined : callerAs(caller, name))
      : undefined) as ClientOf<N>;
  const defaultCaller = options.caller ?? spec.caller;
  const clientOver = (protocol: RpcProtocol) => clientAs(defaultCaller, protocol);
  const events = publishedEvents(sandbox.topicPrefix, spec.publishes);
  let stopped: Promise<number | null> | undefined;

  return {
    name,
    url,
    port,
    client: clientOver(options.protocol ?? "connect-json"),
    clientOver,
    clientAs,
    pool: database?.pool() as PoolOf<N>,
    database: database?.name,
    topicPrefix: sandbox.topicPrefix,
    events,
    output: () => proc.output(),
    async restart(extra) {
      const code = await proc.stop();
      proc = await launch(extra);
      return code;
    },
    stop(signal) {
      stopped ??= (async () => {
        await events.stop().catch(() => undefined);
        try {
          return await proc.stop(signal);
        } finally {
          await sandbox.cleanup();
        }
      })();
      return stopped;
    },
  };
}

// ---------------------------------------------------------------- simulators

const SIMULATOR_PORTS = {
  "payment-provider": "PAYMENT_PROVIDER_PORT",
  carrier: "CARRIER_PORT",
  // Its HTTP API (what /readyz answers on); SMTP_SINK_PORT, the SMTP port, comes from the caller.
  "smtp-sink": "SMTP_SINK_HTTP_PORT",
} as const;

export type SimulatorName = keyof typeof SIMULATOR_PORTS;

/** A simulated external party (simulators/) as its own process on a free port. */
export async function startSimulator(
  name: SimulatorName,
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  const port = await freePort();
  return startServiceProcess(entryPoint(name), { [SIMULATOR_PORTS[name]]: String(port), ...env }, port);
}

/**
 * Changes how a simulator behaves (POST /admin/behaviour): latencyMs, outage,
 * and the payment provider's declineRate or the carrier's errorRate.
 */
export async function setSimulatorBehaviour(
  simulator: { url: string },
  change: { latencyMs?: number; outage?: boolean; declineRate?: number; errorRate?: number },
): Promise<void> {
  const res = await fetch(`${simulator.url}/admin/behaviour`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(change),
  });
  if (res.status !== 200)
    throw new Error(`${simulator.url} refused ${JSON.stringify(change)}: ${res.status}`);
}
