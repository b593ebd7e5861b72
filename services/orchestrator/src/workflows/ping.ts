import { defineQuery, proxyActivities, setHandler } from "@temporalio/workflow";
import type { PingActivities } from "../activities/ping.ts";

export type PingStep = "started" | "greeting" | "completed";

export interface PingInput {
  name: string;
}

export interface PingResult {
  greeting: string;
  steps: PingStep[];
}

/** The step the workflow is at; answered from workflow state, also after it closed. */
export const pingStatusQuery = defineQuery<PingStep>("status");

const { greet } = proxyActivities<PingActivities>({
  startToCloseTimeout: "10 seconds",
  retry: {
    initialInterval: "200 milliseconds",
    backoffCoefficient: 2,
    maximumInterval: "5 seconds",
    maximumAttempts: 5,
  },
});

/**
 * Walking-skeleton workflow: one activity call through the task queue, so a
 * passing run proves client, server, worker, bundle and activity all connect.
 */
export async function pingWorkflow(input: PingInput): Promise<PingResult> {
  const steps: PingStep[] = [];
  let current: PingStep = "started";
  const enter = (step: PingStep) => {
    current = step;
    steps.push(step);
  };
  setHandler(pingStatusQuery, () => current);

  enter("started");
  enter("greeting");
  const greeting = await greet(input.name);
  enter("completed");
  return { greeting, steps };
}
