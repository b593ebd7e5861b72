// The worker's workflowsPath: every workflow the orchestrator runs is exported here.
export { orderWorkflow } from "./order.js";
export { pingWorkflow } from "./ping.js";
