import { fileURLToPath } from "node:url";
import type { Client } from "@temporalio/client";
import type { Worker } from "@temporalio/worker";
import type { Logger } from "#lib/observability/logger.ts";
import { createTemporalWorker } from "#lib/temporal.ts";
import type { OrderActivities } from "./activities/order-activities.ts";

// The SDK bundles this .ts file itself (swc-loader), so it works the same
// under plain Node, tsx and vitest.
export const workflowsPath = fileURLToPath(new URL("./workflows/index.ts", import.meta.url));

export interface OrchestratorWorkerOptions {
  address: string;
  namespace: string;
  taskQueue: string;
  logger: Logger;
  /** The saga's activities (real ones in main.ts, test doubles in workflow tests). */
  activities?: Partial<OrderActivities>;
  /** See TemporalWorkerOptions.workflowStackTraces (off by default). */
  workflowStackTraces?: boolean;
  /** See TemporalWorkerOptions.grpcCompression (none by default). */
  grpcCompression?: "gzip" | "none";
  /** See TemporalWorkerOptions.workflowBundlePath (scripts/bundle-workflows.ts writes one). */
  workflowBundlePath?: string;
}

export interface OrchestratorWorker {
  worker: Worker;
  /** A client on the worker's connection, for eager starts (lib/temporal.ts). */
  client: Client;
  /** Settles when the worker has stopped; rejects if it died. */
  run: Promise<void>;
  /** Stops polling, lets in-flight tasks finish and waits for `run`. Safe to call twice. */
  shutdown(): Promise<void>;
}

export async function startOrchestratorWorker(
  options: OrchestratorWorkerOptions,
): Promise<OrchestratorWorker> {
  const { logger, taskQueue } = options;
  const bundleStart = performance.now();
  const {
    worker,
    client,
    run: runWorker,
  } = await createTemporalWorker({
    address: options.address,
    namespace: options.namespace,
    taskQueue,
    workflowsPath,
    activities: { ...options.activities },
    logger,
    workflowStackTraces: options.workflowStackTraces ?? false,
    grpcCompression: options.grpcCompression ?? "none",
    workflowBundlePath: options.workflowBundlePath,
  });
  logger.info(
    { taskQueue, createMs: Math.round(performance.now() - bundleStart) },
    "temporal worker created",
  );

  const run = runWorker().then(
    () => logger.info({ taskQueue }, "temporal worker stopped"),
    (err: unknown) => {
      logger.error({ err, taskQueue }, "temporal worker failed");
      throw err;
    },
  );

  return {
    worker,
    client,
    run,
    async shutdown() {
      // A shutdown signal may already have stopped it; shutdown() throws unless RUNNING.
      if (worker.getState() === "RUNNING") worker.shutdown();
      await run;
    },
  };
}
