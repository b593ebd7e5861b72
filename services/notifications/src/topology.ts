import type { Channel } from "amqplib";
import {
  type ConsumeTaskQueueOptions,
  consumeTaskQueue,
  declareTaskTopology,
  type QueueOptions,
  type TaskConsumer,
  type TaskTopology,
  type TaskTopologyNames,
  topologyNames,
} from "#lib/messaging/rabbit.ts";

/**
 * The notifications service's RabbitMQ names: its three exchanges, its work
 * queues (one per channel a task goes out on) and their retry delays. The
 * machinery (declaring, publishing, consuming with retries) is
 * lib/messaging/rabbit.ts, which takes these as parameters.
 */

export const EXCHANGES = { tasks: "accord.tasks", retry: "accord.retry", dlx: "accord.dlx" } as const;
export const TASK_QUEUES = ["email", "webhook", "analytics"] as const;
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [5_000, 25_000, 125_000];

/**
 * email is the only priority queue (password resets before newsletters); its
 * TTL keeps a backlog from sending day-old notifications. Changing these
 * values later needs the queue deleted first (PRECONDITION_FAILED otherwise).
 */
export const DEFAULT_QUEUE_OPTIONS: Readonly<Record<string, QueueOptions>> = {
  email: { maxPriority: 10, messageTtlMs: 24 * 60 * 60 * 1000 },
};

/** Every exchange and queue name, under an optional prefix that isolates tests from the platform. */
export function taskTopologyNames(prefix = ""): TaskTopologyNames {
  return topologyNames(EXCHANGES, prefix);
}

export interface TaskTopologyOptions {
  queues?: readonly string[];
  retryDelaysMs?: readonly number[];
  prefix?: string;
  /** Per-queue extras, merged over DEFAULT_QUEUE_OPTIONS. */
  queueOptions?: Readonly<Record<string, QueueOptions>>;
}

/** Declares the notifications topology (every queue of TASK_QUEUES unless told otherwise). */
export function assertTaskTopology(
  channel: Channel,
  options: TaskTopologyOptions = {},
): Promise<TaskTopology> {
  const queues = options.queues ?? TASK_QUEUES;
  const queueOptions: Record<string, QueueOptions> = {};
  for (const name of queues) {
    queueOptions[name] = { ...DEFAULT_QUEUE_OPTIONS[name], ...options.queueOptions?.[name] };
  }
  return declareTaskTopology(channel, {
    names: taskTopologyNames(options.prefix),
    queues,
    retryDelaysMs: options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
    queueOptions,
  });
}

export type ConsumeTasksOptions = Omit<ConsumeTaskQueueOptions, "names" | "retryDelaysMs"> & {
  prefix?: string;
  /** Must match the delays the topology was declared with. */
  retryDelaysMs?: readonly number[];
};

/** Consumes one of the notifications work queues ("email", ...), under the topology's prefix. */
export function consumeTasks(options: ConsumeTasksOptions): Promise<TaskConsumer> {
  const { prefix, retryDelaysMs, ...rest } = options;
  return consumeTaskQueue({
    ...rest,
    names: taskTopologyNames(prefix),
    retryDelaysMs: retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
  });
}
