// Bundles the orchestrator's workflow code once, before its replicas start
// (scripts/services.sh), into the file ORCHESTRATOR_WORKFLOW_BUNDLE names, for
// the settings the orchestrator will read from the same environment. A
// replica that starts or restarts then loads it instead of running webpack
// (ADR 0028). Usage: ORCHESTRATOR_WORKFLOW_BUNDLE=<file> node scripts/bundle-workflows.ts
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { ConfigError } from "#lib/host/config.ts";
import { tracingEnabledIn } from "#lib/observability/tracing.ts";
import { writeWorkflowBundle } from "#lib/temporal.ts";
import { loadOrchestratorConfig } from "#services/orchestrator/src/config.ts";
import { workflowsPath } from "#services/orchestrator/src/worker.ts";

try {
  const config = loadOrchestratorConfig();
  const bundlePath = config.ORCHESTRATOR_WORKFLOW_BUNDLE;
  if (!bundlePath) throw new ConfigError("ORCHESTRATOR_WORKFLOW_BUNDLE: required, the file to write");
  const started = performance.now();
  await mkdir(path.dirname(bundlePath), { recursive: true });
  await writeWorkflowBundle(
    {
      workflowsPath,
      workflowStackTraces: config.ORCHESTRATOR_WORKFLOW_STACK_TRACES,
      traceContext: tracingEnabledIn(),
    },
    bundlePath,
  );
  console.log(`[bundle-workflows] ${bundlePath} in ${Math.round(performance.now() - started)} ms`);
} catch (error) {
  console.error(`[bundle-workflows] ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
