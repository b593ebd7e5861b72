import { ApplicationFailure } from "@temporalio/activity";

/**
 * Activities are built by a factory so real ones (the saga's calls to the
 * inventory and payment services) can close over their clients.
 */
export function createPingActivities() {
  return {
    async greet(name: string): Promise<string> {
      const trimmed = name.trim();
      if (trimmed === "") {
        // Retrying cannot fix bad input, so fail the workflow's call at once.
        throw ApplicationFailure.nonRetryable("name must not be empty", "InvalidName");
      }
      return `Hello, ${trimmed}!`;
    },
  };
}

export type PingActivities = ReturnType<typeof createPingActivities>;
