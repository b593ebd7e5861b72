import { fileURLToPath } from "node:url";
import { Client, Connection } from "@temporalio/client";
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from "@temporalio/interceptors-opentelemetry";
import {
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
  let worker: Worker;
  try {
    worker = await Worker.create({
      connection,
      namespace: options.namespace,
      taskQueue: options.taskQueue,
      workflowsPath: options.workflowsPath,
      activities: options.activities,
      ...(options.workflowStackTraces
        ? {}
        : { bundlerOptions: { preloadModules: [noPromiseStackTracesModule] } }),
      ...tracingWorkerOptions(),
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
 * Tracing for the worker: activity spans, children of the span that started
 * the workflow (its context passes through the workflow's headers), active
 * while an activity runs so its RPC calls are their children. No spans are
 * recorded inside the workflow sandbox (ADR 0023). Nothing while tracing is off.
 */
function tracingWorkerOptions() {
  if (!tracingExports()) return {};
  return {
    interceptors: {
      workflowModules: [workflowTraceContextModule],
      activity: [
        (ctx: ConstructorParameters<typeof OpenTelemetryActivityInboundInterceptor>[0]) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
    },
  };
}

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
