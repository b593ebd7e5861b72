import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { devClientSecret } from "#lib/auth/dev-identities.ts";
import type { ServiceIdentity } from "#lib/auth/principal.ts";
import { workflowBundleFiles } from "#lib/temporal.ts";
import { DEV_NOTIFICATIONS_SECRET_KEY } from "#services/notifications/src/dev-secret-key.ts";
import { deletePrefixed } from "./kafka.ts";
import { shortId, type TempDatabase, tempDatabase } from "./postgres.ts";
import {
  entryPoint,
  freePort,
  ROOT,
  runDir,
  type ServiceProcess,
  startServiceProcess,
} from "./service-process.ts";
import { terminateRunningWorkflows } from "./temporal.ts";

/**
 * The whole platform as separate real processes, for end-to-end tests: its
 * own databases, ports, Kafka topic prefix, Temporal task queue and RabbitMQ
 * prefix, so it shares the infrastructure with a running `npm start` (and
 * with other test files) without seeing their traffic.
 */
export interface Platform {
  urls: Record<ServiceName, string>;
  smtpSinkUrl: string;
  topicPrefix: string;
  rabbitPrefix: string;
  /** The orchestrator bridge's consumer group. */
  orchestratorGroupId: string;
  databases: Record<DatabaseOwner, string>;
  processes: Map<ServiceName, ServiceProcess>;
  /** Replica 2 of each service named in PlatformOptions.replicas (none by default). */
  replicas: Map<ReplicatedService, ServiceProcess>;
  /** Replica 2's own address; callers are given replica 1's (urls), nothing balances between them. */
  replicaUrls: Partial<Record<ReplicatedService, string>>;
  restart(name: ServiceName, extraEnv?: Record<string, string>): Promise<void>;
  /** Stops (if it still runs) and starts replica 2 of a replicated service. */
  restartReplica(name: ReplicatedService, extraEnv?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

/** Services that may run twice; the simulators keep state in memory, so they may not. */
export type ReplicatedService = Exclude<ServiceName, "payment-provider" | "carrier" | "smtp-sink">;

export interface PlatformOptions {
  /**
   * Services that get a second process ("replica 2"), started once the rest
   * is ready: the same environment (databases, topic prefix, task queue,
   * consumer groups) but a port of its own, so consumers, Temporal workers
   * and outbox relays share the work as replicas behind a load balancer do.
   */
  replicas?: readonly ReplicatedService[];
  /** How long a (re)started process may take to answer /readyz; 60 s unless given. */
  startTimeoutMs?: number;
}

/** The variable that carries a service's port (ORDERS_PORT, ...): the only difference between two replicas. */
export function portVariable(name: ServiceName): string {
  return `${name.toUpperCase().replace(/-/g, "_")}_PORT`;
}

type DatabaseOwner = "catalog" | "orders" | "inventory" | "payments" | "shipping" | "notifications";

export type ServiceName =
  | "payment-provider"
  | "carrier"
  | "smtp-sink"
  | "catalog"
  | "orders"
  | "inventory"
  | "payments"
  | "shipping"
  | "notifications"
  | "orchestrator";

const ORDER: ServiceName[] = [
  "payment-provider",
  "carrier",
  "smtp-sink",
  "catalog",
  "orders",
  "inventory",
  "payments",
  "shipping",
  "notifications",
  "orchestrator",
];

const SIMULATORS: readonly ServiceName[] = ["payment-provider", "carrier", "smtp-sink"];

/** What runs as two replicas in the production topology (scripts/services.sh): every service but the simulators. */
export const PRODUCT_SERVICES: readonly ReplicatedService[] = ORDER.filter(
  (name): name is ReplicatedService => !SIMULATORS.includes(name),
);

/** The notifications retry delays of a test platform: short, so a test sees a retry within a second. */
export const PLATFORM_RETRY_DELAYS_MS: readonly number[] = [300, 600];

/** The demo seed shared by the catalog's products and the demo's stock. */
export const DEMO_SEED_FILE = path.join(ROOT, "infra/demo/catalog.json");

export async function startPlatform(
  overrides: Partial<Record<ServiceName, Record<string, string>>> = {},
  options: PlatformOptions = {},
): Promise<Platform> {
  const id = shortId();
  const orchestratorGroupId = `orchestrator-e2e-${id}`;
  const topicPrefix = `e2e-${id}.`;
  const rabbitPrefix = `e2e-${id}.`;
  const ports = {} as Record<ServiceName, number>;
  for (const name of ORDER) ports[name] = await freePort();
  const smtpPort = await freePort();
  const url = (name: ServiceName) => `http://127.0.0.1:${ports[name]}`;
  const owned = (["catalog", "orders", "inventory", "payments", "shipping", "notifications"] as const).map(
    (name): [DatabaseOwner, TempDatabase] => [name, tempDatabase(name, "e2e", id)],
  );
  const databases = Object.fromEntries(owned.map(([name, db]) => [name, db.name])) as Platform["databases"];
  const common: Record<string, string> = {
    ACCORD_TOPIC_PREFIX: topicPrefix,
    // Where orders looks prices up (orders requires it).
    CATALOG_URL: url("catalog"),
    ORDERS_URL: url("orders"),
    INVENTORY_URL: url("inventory"),
    PAYMENTS_URL: url("payments"),
    SHIPPING_URL: url("shipping"),
    NOTIFICATIONS_URL: url("notifications"),
    PAYMENT_PROVIDER_URL: url("payment-provider"),
    CARRIER_URL: url("carrier"),
  };
  const env: Record<ServiceName, Record<string, string>> = {
    "payment-provider": { PAYMENT_PROVIDER_PORT: String(ports["payment-provider"]) },
    carrier: { CARRIER_PORT: String(ports.carrier) },
    "smtp-sink": { SMTP_SINK_PORT: String(smtpPort), SMTP_SINK_HTTP_PORT: String(ports["smtp-sink"]) },
    // The demo products (infra/demo/catalog.json), so the demo SKUs have prices; tests add their own with ensureProducts.
    catalog: {
      CATALOG_PORT: String(ports.catalog),
      CATALOG_DATABASE: databases.catalog,
      CATALOG_SEED_FILE: DEMO_SEED_FILE,
    },
    orders: {
      ORDERS_PORT: String(ports.orders),
      ORDERS_DATABASE: databases.orders,
      // 3 s, not the 1 s default: under the bad-input flood on a loaded 2-core machine a
      // healthy catalog's answer took over 1 s, and a valid order then answered unavailable.
      ORDERS_CATALOG_BREAKER_TIMEOUT_MS: "3000",
    },
    inventory: { INVENTORY_PORT: String(ports.inventory), INVENTORY_DATABASE: databases.inventory },
    payments: {
      PAYMENTS_PORT: String(ports.payments),
      PAYMENTS_DATABASE: databases.payments,
      PAYMENTS_PROVIDER_BREAKER_TIMEOUT_MS: "1000",
    },
    shipping: {
      SHIPPING_PORT: String(ports.shipping),
      SHIPPING_DATABASE: databases.shipping,
      // 1 s: a healthy carrier call on a loaded machine fits (500 ms did not); the slow-carrier case uses 1.5 s.
      SHIPPING_CARRIER_BREAKER_TIMEOUT_MS: "1000",
      SHIPPING_CARRIER_BREAKER_RESET_MS: "1500",
    },
    notifications: {
      NOTIFICATIONS_PORT: String(ports.notifications),
      NOTIFICATIONS_DATABASE: databases.notifications,
      NOTIFICATIONS_RABBIT_PREFIX: rabbitPrefix,
      NOTIFICATIONS_RETRY_DELAYS_MS: PLATFORM_RETRY_DELAYS_MS.join(","),
      // Receivers in tests listen on loopback; the attack suite turns this off for its own cases.
      NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_HTTP: "true",
      NOTIFICATIONS_SECRET_KEY: DEV_NOTIFICATIONS_SECRET_KEY,
      SMTP_HOST: "127.0.0.1",
      SMTP_PORT: String(smtpPort),
    },
    orchestrator: {
      ORCHESTRATOR_PORT: String(ports.orchestrator),
      ORDERS_TASK_QUEUE: `orders-e2e-${id}`,
      ORCHESTRATOR_GROUP_ID: orchestratorGroupId,
      ORCHESTRATOR_DELIVERY_TIMEOUT_MS: "2000",
      ORCHESTRATOR_RETRY_INITIAL_MS: "200",
      ORCHESTRATOR_RETRY_MAX_MS: "1000",
    },
  };
  const processes = new Map<ServiceName, ServiceProcess>();
  const replicas = new Map<ReplicatedService, ServiceProcess>();
  const replicaPorts = new Map<ReplicatedService, number>();
  for (const name of options.replicas ?? []) replicaPorts.set(name, await freePort());
  const environment = (name: ServiceName, extra: Record<string, string>) => ({
    ...common,
    ...clientSecretOf(name),
    ...env[name],
    ...overrides[name],
    ...extra,
  });
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const start = async (name: ServiceName, extra: Record<string, string> = {}) => {
    const proc = await startServiceProcess(
      entryPoint(name),
      environment(name, extra),
      ports[name],
      startTimeoutMs,
    );
    processes.set(name, proc);
  };
  const startReplica = async (name: ReplicatedService, extra: Record<string, string> = {}) => {
    const port = replicaPorts.get(name);
    if (port === undefined) throw new Error(`${name} has no replica on this platform`);
    const own = { ...environment(name, extra), [portVariable(name)]: String(port) };
    replicas.set(name, await startServiceProcess(entryPoint(name), own, port, startTimeoutMs));
  };
  // The workflow code bundled once, as scripts/services.sh does: every
  // orchestrator start and restart (chaos kills replicas) loads it (ADR 0028).
  const workflowBundle = path.join(runDir(), "workflow-bundles", `platform-${id}.js`);
  env.orchestrator.ORCHESTRATOR_WORKFLOW_BUNDLE = workflowBundle;
  const removeBundle = () => removeWorkflowBundle(workflowBundle);
  try {
    // The bundle while the first processes start; external parties and the catalog first (orders prices
    // checkout with it), then the services (in parallel), then the orchestrator.
    const bundled = bundleWorkflows({ ...process.env, ...environment("orchestrator", {}) });
    await Promise.all(
      (["payment-provider", "carrier", "smtp-sink", "catalog"] as const).map((n) => start(n)),
    );
    await bundled;
    await Promise.all(
      (["orders", "inventory", "payments", "shipping", "notifications"] as const).map((n) => start(n)),
    );
    await start("orchestrator");
    await Promise.all([...replicaPorts.keys()].map((n) => startReplica(n)));
  } catch (error) {
    await Promise.all([...processes.values(), ...replicas.values()].map((p) => p.stop("SIGKILL")));
    await removeBundle();
    throw error;
  }

  return {
    urls: Object.fromEntries(ORDER.map((n) => [n, url(n)])) as Record<ServiceName, string>,
    smtpSinkUrl: url("smtp-sink"),
    topicPrefix,
    rabbitPrefix,
    orchestratorGroupId,
    databases,
    processes,
    replicas,
    replicaUrls: Object.fromEntries(
      [...replicaPorts].map(([n, port]) => [n, `http://127.0.0.1:${port}`]),
    ) as Platform["replicaUrls"],
    async restart(name, extraEnv) {
      await processes.get(name)?.stop();
      await start(name, extraEnv);
    },
    async restartReplica(name, extraEnv) {
      await replicas.get(name)?.stop();
      await startReplica(name, extraEnv);
    },
    async stop() {
      for (const name of [...ORDER].reverse()) {
        await replicas.get(name as ReplicatedService)?.stop();
        await processes.get(name)?.stop();
      }
      for (const [, db] of owned) await db.drop();
      await removeBundle();
      // Its topics and consumer groups too; best effort, a platform stopped after a fault still stops.
      await deletePrefixed(topicPrefix).catch(() => undefined);
      // And its sagas still running, which no worker polls any more.
      const orchestratorEnv = environment("orchestrator", {});
      if (orchestratorEnv.ORDERS_TASK_QUEUE)
        await terminateRunningWorkflows(orchestratorEnv.ORDERS_TASK_QUEUE, "its platform stopped", {
          address: orchestratorEnv.TEMPORAL_ADDRESS,
          namespace: orchestratorEnv.TEMPORAL_NAMESPACE,
        }).catch(() => undefined);
    },
  };
}

/** Runs scripts/bundle-workflows.ts with the orchestrator's environment; rejects with its output when it fails. */
export async function bundleWorkflows(env: Record<string, string | undefined>): Promise<void> {
  await promisify(execFile)(process.execPath, [path.join(ROOT, "scripts/bundle-workflows.ts")], {
    cwd: ROOT,
    env,
  });
}

/** Deletes what bundleWorkflows wrote for bundlePath. */
export async function removeWorkflowBundle(bundlePath: string): Promise<void> {
  await Promise.all(workflowBundleFiles(bundlePath).map((file) => rm(file, { force: true })));
}

/** The processes that are clients of the realm (they call other services as themselves). */
const REALM_CLIENTS: ReadonlySet<ServiceName> = new Set<ServiceIdentity & ServiceName>([
  "catalog",
  "orders",
  "inventory",
  "payments",
  "shipping",
  "notifications",
  "orchestrator",
  "carrier",
]);

/** A process's own client secret of the development realm (AUTH_CLIENT_SECRET), as scripts/services.sh passes it. */
function clientSecretOf(name: ServiceName): Record<string, string> {
  return REALM_CLIENTS.has(name) ? { AUTH_CLIENT_SECRET: devClientSecret(name as ServiceIdentity) } : {};
}

/** A query against one of the platform's databases. */
export { queryDatabase as queryDb } from "./postgres.ts";
