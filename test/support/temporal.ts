import { connectTemporalClient } from "#lib/temporal.ts";

/**
 * Terminates every running workflow on a task queue: what a stopped platform
 * leaves behind. Its sagas would otherwise stay open on the shared Temporal
 * server (each with timers up to its step deadlines), fire workflow tasks
 * that no worker polls, and weigh on every later run that uses the server
 * (a bench leaves thousands). Workflows whose run has ended are left as
 * they are: tests and reports read their histories.
 */
export async function terminateRunningWorkflows(
  taskQueue: string,
  reason: string,
  options: { address?: string; namespace?: string; concurrency?: number } = {},
): Promise<number> {
  // Task queue names here are ours (letters, digits, dashes); a quote would end the query's string.
  if (/['"\\]/.test(taskQueue)) throw new Error(`task queue ${JSON.stringify(taskQueue)} cannot be queried`);
  const client = await connectTemporalClient({
    address: options.address ?? process.env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233",
    namespace: options.namespace ?? process.env.TEMPORAL_NAMESPACE ?? "default",
  });
  try {
    const ids: string[] = [];
    for await (const wf of client.workflow.list({
      query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`,
    }))
      ids.push(wf.workflowId);
    let next = 0;
    let terminated = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        try {
          await client.workflow.getHandle(id).terminate(reason);
          terminated += 1;
        } catch (error) {
          // Ended between the listing and the call: nothing left to do for it.
          if ((error as Error).name !== "WorkflowNotFoundError") throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
    return terminated;
  } finally {
    await client.connection.close();
  }
}
