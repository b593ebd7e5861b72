import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Message, Options } from "amqplib";
import { connect } from "amqplib";
import type { Logger } from "../observability/logger.ts";

/**
 * RabbitMQ task queues: topology, confirmed publishing and a consumer with
 * delayed retries and dead-lettering. Generic: the exchanges, queues and
 * retry delays are the caller's (the notifications service's are in
 * services/notifications/src/topology.ts).
 *
 *   publish ──► <tasks> ──(rk = queue)──► <queue> ──► consumer
 *                  ▲                         │ failure, attempts left:
 *                  │ (delay queue TTL ends)  │   republish with x-attempt+1, ack original
 *   <queue>.retry.<ms> ◄── <retry> ◄─────────┘
 *                                            │ retries exhausted or poison:
 *   <queue>.dlq ◄── <dlx> ◄──────────────────┘   nack(requeue=false), broker dead-letters
 */

/** Header carrying the 1-based number of the delivery attempt a republished message is on. */
export const ATTEMPT_HEADER = "x-attempt";

export interface QueueOptions {
  /** Declares a priority queue (x-max-priority); publishers may then set priority 0..maxPriority. */
  maxPriority?: number;
  /** Messages waiting longer than this are dead-lettered to <queue>.dlq with reason "expired". */
  messageTtlMs?: number;
}

export interface TaskTopologyNames {
  tasksExchange: string;
  retryExchange: string;
  dlxExchange: string;
  /** The work queue, which is also its routing key on the tasks exchange. */
  queue(name: string): string;
  dlq(name: string): string;
  delayQueue(name: string, delayMs: number): string;
}

/** The three exchanges of a task topology. */
export interface TaskExchanges {
  /** Where tasks are published, routing key = work queue. */
  tasks: string;
  /** Where failed tasks wait out a delay queue. */
  retry: string;
  /** Where rejected and expired tasks go to their queue's DLQ. */
  dlx: string;
}

/**
 * Every exchange and queue name of a topology over these exchanges, under
 * an optional prefix (which isolates tests from the platform).
 */
export function topologyNames(exchanges: TaskExchanges, prefix = ""): TaskTopologyNames {
  return {
    tasksExchange: `${prefix}${exchanges.tasks}`,
    retryExchange: `${prefix}${exchanges.retry}`,
    dlxExchange: `${prefix}${exchanges.dlx}`,
    queue: (name) => `${prefix}${name}`,
    dlq: (name) => `${prefix}${name}.dlq`,
    delayQueue: (name, delayMs) => `${prefix}${name}${retryQueueSuffix(delayMs)}`,
  };
}

export function retryQueueSuffix(delayMs: number): string {
  return `.retry.${delayMs}`;
}

// ---------------------------------------------------------------- connection

export interface ConnectRabbitOptions {
  logger?: Logger;
  /** Shown in the management UI, so an operator can tell the services' connections apart. */
  connectionName?: string;
  /** Called once when the connection is gone, e.g. to fail readiness or exit for a restart. */
  onClose?: (error: Error | undefined) => void;
}

/**
 * Opens a connection. amqplib emits 'error' on connection loss; an
 * EventEmitter without an 'error' listener would throw and end the process.
 */
export async function connectRabbit(url: string, options: ConnectRabbitOptions = {}): Promise<ChannelModel> {
  const { logger } = options;
  const clientProperties = options.connectionName ? { connection_name: options.connectionName } : {};
  const connection = await connect(url, { clientProperties });
  connection.on("error", (err: unknown) => {
    logger?.error({ err }, "rabbitmq connection error");
  });
  connection.on("close", (err?: Error) => {
    if (err) logger?.error({ err }, "rabbitmq connection closed");
    else logger?.info("rabbitmq connection closed");
    options.onClose?.(err);
  });
  connection.on("blocked", (reason: unknown) => {
    logger?.warn({ reason }, "rabbitmq blocked publishing (resource alarm)");
  });
  connection.on("unblocked", () => logger?.info("rabbitmq unblocked publishing"));
  return connection;
}

/**
 * A confirm channel whose 'error' (the broker closing it, e.g. on a failed
 * declaration) is logged instead of crashing the process.
 */
export async function openConfirmChannel(connection: ChannelModel, logger?: Logger): Promise<ConfirmChannel> {
  const channel = await connection.createConfirmChannel();
  watchChannel(channel, logger);
  return channel;
}

function watchChannel(channel: Channel, logger?: Logger): void {
  channel.on("error", (err: unknown) => logger?.error({ err }, "rabbitmq channel error"));
  channel.on("close", () => logger?.debug("rabbitmq channel closed"));
}

// ---------------------------------------------------------------- topology

export interface TaskTopologySpec {
  names: TaskTopologyNames;
  /** Work queue names without prefix, e.g. "email". */
  queues: readonly string[];
  /** One delay queue per delay and work queue. */
  retryDelaysMs: readonly number[];
  /** Per-queue extras (priority, TTL), by work queue name. */
  queueOptions?: Readonly<Record<string, QueueOptions>>;
}

export interface TaskTopology {
  names: TaskTopologyNames;
  exchanges: string[];
  /** Every queue declared: work queues, dead-letter queues and delay queues. */
  queues: string[];
}

/**
 * Declares the exchanges and, per work queue, the queue, its dead-letter
 * queue and one delay queue per retry delay. Safe to run on every start:
 * declaring what exists with the same arguments changes nothing.
 */
export async function declareTaskTopology(channel: Channel, spec: TaskTopologySpec): Promise<TaskTopology> {
  const { names, queues } = spec;
  const delays = [...new Set(validRetryDelays(spec.retryDelaysMs))];
  const exchanges = [names.tasksExchange, names.retryExchange, names.dlxExchange];
  for (const exchange of exchanges) {
    await channel.assertExchange(exchange, "direct", { durable: true });
  }

  const declared: string[] = [];
  for (const name of queues) {
    const queue = names.queue(name);
    const dlq = names.dlq(name);
    const extra = spec.queueOptions?.[name] ?? {};

    await channel.assertQueue(dlq, { durable: true });
    await channel.bindQueue(dlq, names.dlxExchange, dlq);

    // An explicit dead-letter routing key sends rejects and expiries to the
    // DLQ whatever routing key the message arrived with.
    const args: Options.AssertQueue = {
      durable: true,
      deadLetterExchange: names.dlxExchange,
      deadLetterRoutingKey: dlq,
    };
    if (extra.maxPriority !== undefined) args.maxPriority = extra.maxPriority;
    if (extra.messageTtlMs !== undefined) args.messageTtl = extra.messageTtlMs;
    await channel.assertQueue(queue, args);
    await channel.bindQueue(queue, names.tasksExchange, queue);

    // Nobody consumes a delay queue: a message sits out the TTL, then the
    // broker dead-letters it back onto the work queue. One queue per delay
    // keeps every queue FIFO in expiry order (RabbitMQ expires only at the head).
    for (const delayMs of delays) {
      const delayQueue = names.delayQueue(name, delayMs);
      await channel.assertQueue(delayQueue, {
        durable: true,
        messageTtl: delayMs,
        deadLetterExchange: names.tasksExchange,
        deadLetterRoutingKey: queue,
      });
      await channel.bindQueue(delayQueue, names.retryExchange, delayQueue);
      declared.push(delayQueue);
    }
    declared.push(queue, dlq);
  }
  return { names, exchanges, queues: declared };
}

function validRetryDelays(delays: readonly number[]): readonly number[] {
  for (const delay of delays) {
    if (!Number.isSafeInteger(delay) || delay <= 0) {
      throw new RangeError(`retry delays must be positive integers (ms), got ${String(delay)}`);
    }
  }
  return delays;
}

// ---------------------------------------------------------------- publishing

export interface PublishTaskOptions {
  messageId: string;
  headers?: Record<string, unknown>;
  priority?: number;
  /** Per-message TTL; an expired task is dead-lettered like a rejected one. */
  expirationMs?: number;
  contentType?: string;
}

/** The broker returned a mandatory message: no queue is bound for its routing key. */
export class UnroutableTaskError extends Error {
  override name = "UnroutableTaskError";
  readonly exchange: string;
  readonly routingKey: string;
  readonly replyText: string;
  constructor(exchange: string, routingKey: string, replyText: string) {
    super(`no queue took the task (exchange ${exchange}, routing key ${routingKey}): ${replyText}`);
    this.exchange = exchange;
    this.routingKey = routingKey;
    this.replyText = replyText;
  }
}

interface PendingPublish {
  messageId: string | undefined;
  returnedWith?: string;
}

const pendingByChannel = new WeakMap<ConfirmChannel, Set<PendingPublish>>();

/**
 * Publishes are mandatory: an unroutable message is returned (basic.return,
 * always sent before its confirm) and the publish fails, instead of the
 * broker confirming a message it dropped.
 */
function pendingPublishes(channel: ConfirmChannel): Set<PendingPublish> {
  let pending = pendingByChannel.get(channel);
  if (!pending) {
    const set = new Set<PendingPublish>();
    channel.on("return", (message: Message) => {
      const fields = message.fields as unknown as { replyText?: string };
      for (const entry of set) {
        if (entry.messageId === message.properties.messageId && entry.returnedWith === undefined) {
          entry.returnedWith = fields.replyText ?? "returned";
          break;
        }
      }
    });
    pendingByChannel.set(channel, set);
    pending = set;
  }
  return pending;
}

/**
 * Publishes a persistent task and resolves only once the broker confirms it,
 * i.e. once it is stored in a queue. Waits for this message's own confirm,
 * not for everything outstanding on the channel (as waitForConfirms would).
 */
export function publishTask(
  channel: ConfirmChannel,
  exchange: string,
  routingKey: string,
  body: Buffer,
  options: PublishTaskOptions,
): Promise<void> {
  const publishOptions: Options.Publish = {
    persistent: true,
    mandatory: true,
    messageId: options.messageId,
    headers: options.headers ?? {},
    timestamp: Math.floor(Date.now() / 1000),
  };
  if (options.priority !== undefined) publishOptions.priority = options.priority;
  if (options.expirationMs !== undefined) publishOptions.expiration = String(options.expirationMs);
  if (options.contentType !== undefined) publishOptions.contentType = options.contentType;
  return publishConfirmed(channel, exchange, routingKey, body, publishOptions);
}

function publishConfirmed(
  channel: ConfirmChannel,
  exchange: string,
  routingKey: string,
  body: Buffer,
  publishOptions: Options.Publish,
): Promise<void> {
  try {
    checkEncodable(publishOptions);
  } catch (err) {
    return Promise.reject(err);
  }
  const pending = pendingPublishes(channel);
  const entry: PendingPublish = { messageId: publishOptions.messageId };
  pending.add(entry);
  return new Promise<void>((resolve, reject) => {
    const onConfirm = (err: unknown) => {
      pending.delete(entry);
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else if (entry.returnedWith !== undefined)
        reject(new UnroutableTaskError(exchange, routingKey, entry.returnedWith));
      else resolve();
    };
    try {
      // publish()'s false return only asks for backpressure; the message is
      // buffered and its confirm still arrives.
      channel.publish(exchange, routingKey, body, publishOptions, onConfirm);
    } catch (err) {
      // A closed channel, or a property amqplib cannot encode, throws here.
      // amqplib queued our confirm callback before encoding; left there, it
      // would take the next message's confirm and leave that publish hanging.
      const unconfirmed = (channel as unknown as { unconfirmed?: unknown[] }).unconfirmed;
      if (Array.isArray(unconfirmed) && unconfirmed.at(-1) === onConfirm) unconfirmed.pop();
      pending.delete(entry);
      reject(err);
    }
  });
}

/** Fails before anything reaches amqplib on values its encoder throws on (see publishConfirmed). */
function checkEncodable(options: Options.Publish): void {
  const { priority } = options;
  if (priority !== undefined && !(Number.isInteger(priority) && priority >= 0 && priority <= 255)) {
    throw new RangeError(`priority must be an integer 0..255, got ${String(priority)}`);
  }
  const visit = (value: unknown, path: string): void => {
    const type = typeof value;
    if (type === "bigint" || type === "function" || type === "symbol") {
      throw new TypeError(`header ${path} is a ${type}, which AMQP cannot carry (send a string)`);
    }
    if (value === null || type !== "object" || value instanceof Date || Buffer.isBuffer(value)) return;
    for (const [key, inner] of Object.entries(value as object)) visit(inner, `${path}.${key}`);
  };
  for (const [name, value] of Object.entries(options.headers ?? {})) visit(value, name);
}

// ---------------------------------------------------------------- retry policy

export type NextRoute = { kind: "retry"; delayMs: number; queueSuffix: string } | { kind: "dead-letter" };

/**
 * Where a task goes after its attemptsSoFar-th attempt failed: attempt n
 * retries after retryDelaysMs[n-1]; after the last delay it is dead-lettered.
 */
export function nextRoute(attemptsSoFar: number, retryDelaysMs: readonly number[]): NextRoute {
  const attempts = Number.isFinite(attemptsSoFar) ? Math.max(1, Math.floor(attemptsSoFar)) : 1;
  const delayMs = retryDelaysMs[attempts - 1];
  if (delayMs === undefined) return { kind: "dead-letter" };
  return { kind: "retry", delayMs, queueSuffix: retryQueueSuffix(delayMs) };
}

const DELAY_QUEUE = /\.retry\.\d+$/;

/**
 * The 1-based attempt this delivery is. Our consumer republishes retries with
 * x-attempt; a message without it that came back through delay queues (say,
 * requeued by hand) is counted by its x-death entries from delay queues, one
 * expiry per failed attempt.
 */
export function attemptsFrom(message: Pick<Message, "properties">): number {
  const headers = message.properties.headers ?? {};
  const explicit = positiveInteger(headers[ATTEMPT_HEADER]);
  if (explicit !== undefined) return explicit;
  let failed = 0;
  for (const { queue, reason, count } of deathsOf(message)) {
    if (reason === "expired" && typeof queue === "string" && DELAY_QUEUE.test(queue)) {
      failed += positiveInteger(count) ?? 1;
    }
  }
  return failed + 1;
}

function positiveInteger(value: unknown): number | undefined {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n === "bigint") return n >= 1n && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

// ---------------------------------------------------------------- consuming

/**
 * The handler could not try the task because its own dependency (its
 * database) is unavailable. The task is put back on its queue after a pause
 * with the same attempt number: an outage of our own must not use up the
 * retries meant for the receiver, nor dead-letter a task the ledger cannot record.
 */
export class DependencyUnavailableError extends Error {
  override name = "DependencyUnavailableError";
}

/** Thrown by a handler for a message that can never succeed (unparseable, invalid): no retries. */
export class PoisonMessageError extends Error {
  override name = "PoisonMessageError";
}

export interface Task {
  body: Buffer;
  messageId: string | undefined;
  /** The publisher's headers, without x-attempt and the broker's dead-letter bookkeeping. */
  headers: Record<string, unknown>;
  /** 1 for the first delivery, 2 for the first retry, ... */
  attempt: number;
  message: ConsumeMessage;
}

export interface ConsumeTaskQueueOptions {
  /** A confirm channel: a retry copy must be confirmed before the original is acked. */
  channel: ConfirmChannel;
  /** The topology's names (prefix included). */
  names: TaskTopologyNames;
  /** Work queue name without prefix, e.g. "email". */
  queue: string;
  /** At most this many unacked tasks in flight, i.e. concurrent handler calls. */
  prefetch: number;
  /**
   * Resolves: done. Throws PoisonMessageError: dead-letter now.
   * DependencyUnavailableError: back on the queue, same attempt. Anything else: retry.
   */
  handle: (task: Task) => Promise<void>;
  /** Must match the delays the topology was declared with. */
  retryDelaysMs: readonly number[];
  /** Pause before a task whose handler's dependency was unavailable goes back on its queue (default 1 s). */
  unavailablePauseMs?: number;
  logger: Logger;
}

export interface TaskConsumer {
  consumerTag: string;
  /** Stops deliveries and waits for the tasks in flight to be settled. */
  stop(): Promise<void>;
}

/** Headers the broker writes when dead-lettering; they describe a hop, not the task. */
function isBrokerHeader(name: string): boolean {
  return (
    name === "x-death" ||
    name === "x-delivery-count" ||
    name.startsWith("x-first-death-") ||
    name.startsWith("x-last-death-")
  );
}

function taskHeaders(message: Message): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(message.properties.headers ?? {})) {
    if (name !== ATTEMPT_HEADER && !isBrokerHeader(name)) headers[name] = value;
  }
  return headers;
}

/**
 * Consumes a work queue with manual acks. Success: ack. Failure with retries
 * left: a copy goes to the next delay queue (x-attempt + 1, same headers),
 * then the original is acked; acking a failure without the copy would lose
 * it. Retries exhausted or poison: nack without requeue, and the broker
 * dead-letters the message unchanged, x-death saying why.
 */
export async function consumeTaskQueue(options: ConsumeTaskQueueOptions): Promise<TaskConsumer> {
  const { channel, names, queue, handle, logger } = options;
  const delays = validRetryDelays(options.retryDelaysMs);
  const queueName = names.queue(queue);
  const log = logger.child({ queue: queueName });
  const inFlight = new Set<Promise<void>>();
  if (channel.listenerCount("error") === 0) watchChannel(channel, log);

  const settle = (what: string, action: () => void) => {
    try {
      action();
    } catch (err) {
      // The channel closed under us; the broker redelivers the unacked message.
      log.warn({ err }, `could not ${what}; the broker will redeliver`);
    }
  };

  const processTask = async (message: ConsumeMessage) => {
    const attempt = attemptsFrom(message);
    const messageId = message.properties.messageId as string | undefined;
    const context = { messageId, attempt };
    let delayMs: number;
    try {
      await handle({ body: message.content, messageId, headers: taskHeaders(message), attempt, message });
      settle("ack", () => channel.ack(message));
      return;
    } catch (err) {
      if (err instanceof DependencyUnavailableError) {
        log.warn(
          { ...context, err },
          "dependency unavailable, requeueing the task without counting an attempt",
        );
        // The pause keeps a down database from turning this into a hot loop.
        await new Promise((resolve) => setTimeout(resolve, options.unavailablePauseMs ?? 1_000));
        settle("requeue", () => channel.nack(message, false, true));
        return;
      }
      const route = nextRoute(attempt, delays);
      if (err instanceof PoisonMessageError || route.kind === "dead-letter") {
        const why = err instanceof PoisonMessageError ? "poison task" : "task failed, retries exhausted";
        log.error({ ...context, err }, `${why}, dead-lettering`);
        settle("dead-letter", () => channel.nack(message, false, false));
        return;
      }
      delayMs = route.delayMs;
      log.warn({ ...context, err, retryInMs: delayMs }, "task failed, scheduling retry");
    }

    try {
      await publishConfirmed(
        channel,
        names.retryExchange,
        names.delayQueue(queue, delayMs),
        message.content,
        retryProperties(message, attempt + 1),
      );
      settle("ack", () => channel.ack(message));
    } catch (err) {
      if (err instanceof UnroutableTaskError) {
        // The delay queue is missing (delays differ from the topology's):
        // dead-letter rather than lose or hot-loop the task.
        log.error({ ...context, err }, "retry queue missing, dead-lettering");
        settle("dead-letter", () => channel.nack(message, false, false));
      } else {
        // Broker nacked the copy or the channel closed: put the task back as
        // it was (same attempt). On a closed channel the broker does that itself.
        log.warn({ ...context, err }, "could not schedule retry, requeueing");
        settle("requeue", () => channel.nack(message, false, true));
      }
    }
  };

  await channel.prefetch(options.prefetch);
  const { consumerTag } = await channel.consume(
    queueName,
    (message) => {
      if (message === null) {
        log.warn("consumer cancelled by the broker (queue deleted?)");
        return;
      }
      const running = processTask(message)
        .catch((err: unknown) => log.error({ err }, "unexpected error settling a task"))
        .finally(() => inFlight.delete(running));
      inFlight.add(running);
    },
    { noAck: false },
  );
  log.info({ prefetch: options.prefetch, retryDelaysMs: delays }, "consuming tasks");

  return {
    consumerTag,
    async stop() {
      try {
        await channel.cancel(consumerTag);
      } catch (err) {
        log.warn({ err }, "could not cancel consumer");
      }
      await Promise.allSettled([...inFlight]);
    },
  };
}

/**
 * The retry copy keeps the message's identity and headers. Left out: the
 * broker's dead-letter headers (a copied x-death naming the work queue can
 * make RabbitMQ drop the message as a dead-letter cycle), expiration (it
 * would cut the delay short) and userId (the broker rejects one that is not
 * the publishing connection's user).
 */
function retryProperties(message: Message, nextAttempt: number): Options.Publish {
  const p = message.properties;
  const properties: Options.Publish = {
    persistent: true,
    mandatory: true,
    headers: { ...taskHeaders(message), [ATTEMPT_HEADER]: nextAttempt },
  };
  if (p.messageId !== undefined) properties.messageId = p.messageId;
  if (p.contentType !== undefined) properties.contentType = p.contentType;
  if (p.contentEncoding !== undefined) properties.contentEncoding = p.contentEncoding;
  if (p.correlationId !== undefined) properties.correlationId = p.correlationId;
  if (p.replyTo !== undefined) properties.replyTo = p.replyTo;
  if (p.timestamp !== undefined) properties.timestamp = p.timestamp;
  if (p.type !== undefined) properties.type = p.type;
  if (p.appId !== undefined) properties.appId = p.appId;
  if (p.priority !== undefined) properties.priority = p.priority;
  return properties;
}

// ---------------------------------------------------------------- dead-letter queues

/** One x-death entry: the broker adds one per (queue, reason) a message was dead-lettered from. */
export interface DeathRecord {
  queue?: unknown;
  reason?: unknown;
  count?: unknown;
  exchange?: unknown;
  "routing-keys"?: unknown;
  time?: unknown;
}

/** The message's x-death entries, the latest hop first; none for a message never dead-lettered. */
export function deathsOf(message: Pick<Message, "properties">): DeathRecord[] {
  const deaths: unknown = message.properties.headers?.["x-death"];
  if (!Array.isArray(deaths)) return [];
  return deaths.filter((d): d is DeathRecord => typeof d === "object" && d !== null);
}

/** Why a dead-lettered message left its work queue ("rejected", "expired", ...), per x-death. */
export function deathReason(message: Pick<Message, "properties">, workQueue: string): string {
  const deaths = deathsOf(message);
  const death = deaths.find((d) => d.queue === workQueue) ?? deaths[0];
  return typeof death?.reason === "string" ? death.reason : "unknown";
}

/** The routing key the task had on the tasks exchange: the work queue's, per x-death. */
export function originalRoutingKey(message: Pick<Message, "properties">, workQueue: string): string {
  for (const death of deathsOf(message)) {
    const keys = death["routing-keys"];
    if (death.queue === workQueue && Array.isArray(keys) && typeof keys[0] === "string") return keys[0];
  }
  return workQueue;
}

/**
 * Headers for the replayed copy of a dead-lettered task: the publisher's own
 * and x-attempt back to 1. The broker's dead-letter headers are left out (a
 * copied x-death naming the work queue could make the broker drop the copy
 * as a cycle).
 */
export function replayHeaders(
  message: Pick<Message, "properties">,
  now = new Date(),
): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(message.properties.headers ?? {})) {
    if (!isBrokerHeader(name)) headers[name] = value;
  }
  headers[ATTEMPT_HEADER] = 1;
  headers["x-replayed-at"] = now.toISOString();
  return headers;
}

/**
 * Republishes a message taken from workQueue's DLQ to the tasks exchange
 * under its original routing key, with replayHeaders and its own id,
 * priority and content type, and resolves once the broker confirms it. The
 * caller acks the DLQ copy only then. Returns the routing key used.
 */
export async function replayDeadLetter(
  channel: ConfirmChannel,
  names: TaskTopologyNames,
  workQueue: string,
  message: Message,
  fallbackMessageId: string,
): Promise<string> {
  const p = message.properties;
  const routingKey = originalRoutingKey(message, workQueue);
  await publishTask(channel, names.tasksExchange, routingKey, message.content, {
    messageId: (p.messageId as string | undefined) ?? fallbackMessageId,
    headers: replayHeaders(message),
    ...(typeof p.priority === "number" ? { priority: p.priority } : {}),
    ...(typeof p.contentType === "string" ? { contentType: p.contentType } : {}),
  });
  return routingKey;
}

// ---------------------------------------------------------------- transitional
