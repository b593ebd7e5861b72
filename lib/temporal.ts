import { readFile, rename, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Client, Connection } from "@temporalio/client";
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from "@temporalio/interceptors-opentelemetry";
import {
  bundleWorkflowCode,
  DefaultLogger,
  IllegalStateError,
  type LogEntry,
  NativeConnection,
  Runtime,
  Worker,
} from "@temporalio/worker";
import type { Logger } from "./observability/logger.ts";
import { tracingExports } from "./observability/tracing.ts";

/** Task queue the orchestrator worker polls and the order saga is started on. */
export const ORDERS_TASK_QUEUE = "orders";

export interface TemporalTarget {
  address: string;
  namespace: string;
}

/**
 * Connects a client for starting, querying and signalling workflows. The
 * caller owns the connection: close it with `client.connection.close()`.
 * Every start and signal is a span whose context travels in the workflow's
 * Temporal headers, so the workflow's spans continue the caller's trace.
 */
export async function connectTemporalClient({ address, namespace }: TemporalTarget): Promise<Client> {
  return tracedClient(await Connection.connect({ address }), namespace);
}

function tracedClient(connection: Connection | NativeConnection, namespace: string): Client {
  return new Client({
    connection,
    namespace,
    interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] },
  });
}

// Bundled into the workflow sandbox while tracing is on: hands the trace context
// the workflow was started with on to its activities, recording no span (ADR 0023).
const workflowTraceContextModule = fileURLToPath(
  new URL("./temporal-sandbox/trace-context.ts", import.meta.url),
);

// Run once in the sandbox before its globals are frozen: no frames for the SDK's per-promise stack traces.
const noPromiseStackTracesModule = fileURLToPath(
  new URL("./temporal-sandbox/no-promise-stack-traces.ts", import.meta.url),
);

/** What decides a workflow bundle's content besides the workflow code itself. */
export interface WorkflowBundleSettings {
  /** Module whose exported functions are the workflows. */
  workflowsPath: string;
  /** See TemporalWorkerOptions.workflowStackTraces. */
  workflowStackTraces?: boolean;
  /** Whether the sandbox hands the start's trace context on to activities (tracing on). */
  traceContext: boolean;
}

/** The bundler's inputs for these settings: the same for a bundle built at start and one built ahead. */
function bundleInputs(settings: WorkflowBundleSettings) {
  return {
    workflowsPath: settings.workflowsPath,
    workflowInterceptorModules: settings.traceContext ? [workflowTraceContextModule] : [],
    preloadModules: settings.workflowStackTraces ? [] : [noPromiseStackTracesModule],
  };
}

const settingsFileOf = (bundlePath: string) => `${bundlePath}.settings.json`;

/** The files writeWorkflowBundle writes for bundlePath: the bundle and the settings beside it. */
export const workflowBundleFiles = (bundlePath: string) => [bundlePath, settingsFileOf(bundlePath)];

/**
 * Bundles the workflow code once, ahead of the workers that load it
 * (scripts/bundle-workflows.ts, run by scripts/services.sh before the
 * orchestrator starts): a worker that starts or restarts then skips webpack,
 * which took both cores for seconds on a busy machine (ADR 0028). The
 * settings it was built for are written beside it.
 */
export async function writeWorkflowBundle(
  settings: WorkflowBundleSettings,
  bundlePath: string,
): Promise<void> {
  const inputs = bundleInputs(settings);
  const { code } = await bundleWorkflowCode(inputs);
  await writeFile(`${bundlePath}.tmp`, code);
  await rename(`${bundlePath}.tmp`, bundlePath);
  await writeFile(settingsFileOf(bundlePath), JSON.stringify(inputs));
}

/** bundlePath when it was built from these inputs; else why not (the worker then bundles at start). */
async function prebuiltBundle(
  bundlePath: string,
  inputs: ReturnType<typeof bundleInputs>,
): Promise<{ path: string } | { problem: string }> {
  const stored = await readFile(settingsFileOf(bundlePath), "utf8").catch(() => undefined);
  if (stored === undefined) return { problem: `no workflow bundle at ${bundlePath}` };
  if (stored !== JSON.stringify(inputs)) {
    return { problem: `the workflow bundle at ${bundlePath} was built for other settings` };
  }
  return { path: bundlePath };
}

export interface TemporalWorkerOptions extends TemporalTarget {
  taskQueue: string;
  /** Module whose exported functions are the workflows; bundled with webpack by the SDK. */
  workflowsPath: string;
  activities: object;
  /** Receives the SDK's own warnings and errors (once per process, see installQuietRuntime). */
  logger?: Logger;
  /**
   * Keep the SDK's stack trace for every workflow promise (the `__stack_trace`
   * query, frames in errors made by workflow code). Off by default: it was
   * the largest cost of the workflow thread (ADR 0023).
   */
  workflowStackTraces?: boolean;
  /**
   * A bundle written by writeWorkflowBundle, loaded instead of bundling at
   * start when it was built for this worker's settings (otherwise the worker
   * logs why and bundles as usual).
   */
  workflowBundlePath?: string;
  /**
   * Compression of the worker connection's gRPC messages. The SDK's default is
   * gzip; "none" is the default here: Temporal sits next to the worker, and
   * gzip cost both ends CPU for a saga's small payloads (ADR 0025).
   */
  grpcCompression?: "gzip" | "none";
}

export interface TemporalWorker {
  worker: Worker;
  /**
   * A client on the worker's own native connection: the only kind that may
   * request an eager start, whose first workflow task the server hands to
   * this worker in the start's answer. Closed with the worker.
   */
  client: Client;
  /** Polls until the worker is shut down, then closes the worker's connection. */
  run(): Promise<void>;
}

/**
 * Builds a worker on its own native connection. Creating the worker bundles
 * the workflow code, which takes a few seconds; call `run()` to start polling.
 */
export async function createTemporalWorker(options: TemporalWorkerOptions): Promise<TemporalWorker> {
  installQuietRuntime(options.logger);
  const connection = await NativeConnection.connect({
    address: options.address,
    grpcCompression: { codec: options.grpcCompression ?? "none" },
  });
  const tracing = tracingExports();
  const inputs = bundleInputs({
    workflowsPath: options.workflowsPath,
    workflowStackTraces: options.workflowStackTraces,
    traceContext: tracing,
  });
  let prebuilt: string | undefined;
  if (options.workflowBundlePath) {
    const found = await prebuiltBundle(options.workflowBundlePath, inputs);
    if ("path" in found) prebuilt = found.path;
    else options.logger?.warn(`${found.problem}; bundling the workflow code at start`);
  }
  let worker: Worker;
  try {
    worker = await Worker.create({
      connection,
      namespace: options.namespace,
      taskQueue: options.taskQueue,
      ...(prebuilt
        ? { workflowBundle: { codePath: prebuilt } }
        : { workflowsPath: inputs.workflowsPath, bundlerOptions: { preloadModules: inputs.preloadModules } }),
      activities: options.activities,
      interceptors: {
        // Inside a prebuilt bundle already.
        workflowModules: prebuilt ? [] : inputs.workflowInterceptorModules,
        activity: tracing ? activityTracingInterceptors : [],
      },
    });
  } catch (err) {
    await connection.close();
    throw err;
  }
  return {
    worker,
    client: tracedClient(connection, options.namespace),
    run: async () => {
      try {
        await worker.run();
      } finally {
        await connection.close();
      }
    },
  };
}

/**
 * Tracing for the worker while it is on: activity spans, children of the span
 * that started the workflow (its context passes through the workflow's
 * headers, bundleInputs' trace-context module), active while an activity
 * runs so its RPC calls are their children. No spans are recorded inside the
 * workflow sandbox (ADR 0023).
 */
const activityTracingInterceptors = [
  (ctx: ConstructorParameters<typeof OpenTelemetryActivityInboundInterceptor>[0]) => ({
    inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
    outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
  }),
];

let runtimeInstalled = false;

/**
 * The SDK logs every worker state change and poll at INFO by default, which
 * drowns service logs; only its warnings and errors are worth keeping. The
 * Runtime is a process-wide singleton that can be installed only once, and
 * only before the first worker or native connection exists, hence the guard.
 */
export function installQuietRuntime(logger?: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const sdkLogger = logger?.child({ component: "temporal-sdk" });
  try {
    Runtime.install({
      logger: new DefaultLogger("WARN", sdkLogger ? (entry) => forwardToPino(sdkLogger, entry) : undefined),
      // Core (Rust) logs are forwarded to the same logger instead of printed raw to stderr.
      telemetryOptions: { logging: { filter: { core: "WARN", other: "ERROR" }, forward: {} } },
    });
  } catch (err) {
    // Someone created a worker or runtime first; keep theirs rather than fail.
    if (!(err instanceof IllegalStateError)) throw err;
  }
}

function forwardToPino(logger: Logger, entry: LogEntry): void {
  const fields = { ...entry.meta };
  if (entry.level === "ERROR") logger.error(fields, entry.message);
  else if (entry.level === "WARN") logger.warn(fields, entry.message);
  else logger.info(fields, entry.message);
}
