import type { ConfirmChannel, GetMessage } from "amqplib";
import {
  attemptsFrom,
  deathReason,
  deathsOf,
  originalRoutingKey,
  replayDeadLetter,
  type TaskTopologyNames,
} from "./rabbit.ts";

/**
 * Reading and replaying a task dead-letter queue: what `npm run dlq`
 * (scripts/dlq.ts) and the notifications service's DeadLetterService both
 * call, so the console replays exactly as the command does.
 *
 * Reading takes messages with basic.get and puts back those not replayed
 * (nack + requeue), so listing never loses a message; at most the queue's
 * depth at the start is read, so a replayed task failing again is not
 * picked up twice in one session. Replay republishes to the tasks exchange
 * with the original routing key, the attempt count reset and the broker's
 * dead-letter headers removed, waits for the publisher confirm, and only
 * then acks the DLQ copy.
 */

/** The DLQ named does not exist (the broker closes the channel that asked). */
export class DeadLetterQueueMissing extends Error {
  override name = "DeadLetterQueueMissing";
}

/** What can be said about a dead-lettered task without opening its body. */
export interface DeadLetterSummary {
  messageId: string | undefined;
  reason: string;
  attempts: number;
  routingKey: string;
  size: number;
  /** When the broker first dead-lettered it, if it recorded that. */
  firstDeathAt: Date | undefined;
}

export function deadLetterSummary(message: GetMessage, workQueue: string): DeadLetterSummary {
  return {
    messageId: message.properties.messageId as string | undefined,
    reason: deathReason(message, workQueue),
    attempts: attemptsFrom(message),
    routingKey: originalRoutingKey(message, workQueue),
    size: message.content.length,
    firstDeathAt: firstDeathOf(message),
  };
}

/** The oldest x-death time (amqplib gives AMQP timestamps as seconds since the epoch). */
function firstDeathOf(message: GetMessage): Date | undefined {
  let first: number | undefined;
  for (const death of deathsOf(message)) {
    const time = death.time;
    const ms =
      time instanceof Date
        ? time.getTime()
        : typeof time === "number"
          ? time * 1000
          : typeof (time as { value?: unknown })?.value === "number"
            ? ((time as { value: number }).value as number) * 1000
            : undefined;
    if (ms !== undefined && Number.isFinite(ms) && (first === undefined || ms < first)) first = ms;
  }
  return first === undefined ? undefined : new Date(first);
}

export interface DeadLetterSession {
  /** The work queue ("webhook") and its DLQ's broker name ("webhook.dlq", prefixed in tests). */
  workQueue: string;
  dlq: string;
  /** Messages in the DLQ when the session began. */
  depth: number;
  /** The messages taken, oldest first; each is put back at close unless replayed. */
  held: readonly GetMessage[];
  /** Republishes one held message, waits for the confirm, then acks its DLQ copy; returns the routing key. */
  replay(message: GetMessage, fallbackMessageId: string): Promise<string>;
  /** Puts back every held message not replayed. */
  putBack(): void;
}

/**
 * Opens a DLQ for reading: takes up to `limit` messages (never more than its
 * depth now). `queue` is the work queue's unprefixed name ("webhook").
 * Throws DeadLetterQueueMissing when the DLQ does not exist; the channel is
 * then closed by the broker, so use one of its own.
 */
export async function openDeadLetters(
  channel: ConfirmChannel,
  names: TaskTopologyNames,
  queue: string,
  limit: number,
): Promise<DeadLetterSession> {
  const workQueue = names.queue(queue);
  const dlq = names.dlq(queue);
  let depth: number;
  try {
    depth = (await channel.checkQueue(dlq)).messageCount;
  } catch {
    throw new DeadLetterQueueMissing(`queue ${dlq} does not exist`);
  }
  const held: GetMessage[] = [];
  const toRead = Math.min(depth, limit);
  for (let i = 0; i < toRead; i++) {
    const message = await channel.get(dlq, { noAck: false });
    if (!message) break;
    held.push(message);
  }
  const settled = new Set<GetMessage>();
  return {
    workQueue,
    dlq,
    depth,
    held,
    async replay(message, fallbackMessageId) {
      const routingKey = await replayDeadLetter(channel, names, workQueue, message, fallbackMessageId);
      // Confirmed above; only now may the DLQ copy go.
      channel.ack(message);
      settled.add(message);
      return routingKey;
    },
    putBack() {
      for (const m of held) {
        if (!settled.has(m)) {
          channel.nack(m, false, true);
          settled.add(m);
        }
      }
    },
  };
}

/** "webhook", "webhook.dlq" and the prefixed forms alike, as the work queue's unprefixed name. */
export function workQueueName(name: string, prefix: string): string {
  let queue = name.endsWith(".dlq") ? name.slice(0, -4) : name;
  if (prefix && queue.startsWith(prefix)) queue = queue.slice(prefix.length);
  return queue;
}
