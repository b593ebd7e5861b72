// The worker's workflowsPath: every workflow the orchestrator runs is exported here.
export { pingWorkflow } from "./ping.js";
