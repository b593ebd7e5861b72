// The worker's workflowsPath: every workflow the orchestrator runs is exported here.
export { orderWorkflow } from "./order.ts";
