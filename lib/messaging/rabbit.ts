import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Message, Options } from "amqplib";
import { connect } from "amqplib";
import type { Logger } from "../observability/logger.ts";

/**
 * RabbitMQ task queues: topology, confirmed publishing and a consumer with
 * delayed retries and dead-lettering.
 *
 *   publish ──► accord.tasks ──(rk = queue)──► <queue> ──► consumer
 *                    ▲                            │ failure, attempts left:
 *                    │ (delay queue TTL expires)  │   republish with x-attempt+1, ack original
 *   <queue>.retry.<ms> ◄── accord.retry ◄─────────┘
 *                                                 │ retries exhausted or poison:
 *   <queue>.dlq ◄── accord.dlx ◄──────────────────┘   nack(requeue=false), broker dead-letters
 */

export const EXCHANGES = { tasks: "accord.tasks", retry: "accord.retry", dlx: "accord.dlx" } as const;
export const TASK_QUEUES = ["email", "webhook", "analytics"] as const;
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [5_000, 25_000, 125_000];

/** Header carrying the 1-based number of the delivery attempt a republished message is on. */
export const ATTEMPT_HEADER = "x-attempt";

export interface QueueOptions {
  /** Declares a priority queue (x-max-priority); publishers may then set priority 0..maxPriority. */
  maxPriority?: number;
  /** Messages waiting longer than this are dead-lettered to <queue>.dlq with reason "expired". */
  messageTtlMs?: number;
}

/**
 * email is the only priority queue (password resets before newsletters); its
 * TTL keeps a backlog from sending day-old notifications. Changing these
 * values later needs the queue deleted first (PRECONDITION_FAILED otherwise).
 */
export const DEFAULT_QUEUE_OPTIONS: Readonly<Record<string, QueueOptions>> = {
  email: { maxPriority: 10, messageTtlMs: 24 * 60 * 60 * 1000 },
};

export interface TaskTopologyNames {
  tasksExchange: string;
  retryExchange: string;
  dlxExchange: string;
  /** The work queue, which is also its routing key on the tasks exchange. */
  queue(name: string): string;
  dlq(name: string): string;
  delayQueue(name: string, delayMs: number): string;
}

/** Every exchange and queue name, under an optional prefix that isolates tests from the platform. */
export function taskTopologyNames(prefix = ""): TaskTopologyNames {
  return {
    tasksExchange: `${prefix}${EXCHANGES.tasks}`,
    retryExchange: `${prefix}${EXCHANGES.retry}`,
    dlxExchange: `${prefix}${EXCHANGES.dlx}`,
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

export interface TaskTopologyOptions {
  queues?: readonly string[];
  retryDelaysMs?: readonly number[];
  prefix?: string;
  /** Per-queue extras, merged over DEFAULT_QUEUE_OPTIONS. */
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
export async function assertTaskTopology(
  channel: Channel,
  options: TaskTopologyOptions = {},
): Promise<TaskTopology> {
  const queues = options.queues ?? TASK_QUEUES;
  const delays = [...new Set(validRetryDelays(options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS))];
  const names = taskTopologyNames(options.prefix);
  const exchanges = [names.tasksExchange, names.retryExchange, names.dlxExchange];
  for (const exchange of exchanges) {
    await channel.assertExchange(exchange, "direct", { durable: true });
  }

  const declared: string[] = [];
  for (const name of queues) {
    const queue = names.queue(name);
    const dlq = names.dlq(name);
    const extra = { ...DEFAULT_QUEUE_OPTIONS[name], ...options.queueOptions?.[name] };

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
  const deaths: unknown = headers["x-death"];
  if (!Array.isArray(deaths)) return 1;
  let failed = 0;
  for (const death of deaths) {
    if (typeof death !== "object" || death === null) continue;
    const { queue, reason, count } = death as { queue?: unknown; reason?: unknown; count?: unknown };
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

/** Thrown by a handler for a message that can never succeed (unparseable, invalid): no retries. */
/**
 * The handler could not try the task because its own dependency (its
 * database) is unavailable. The task is put back on its queue after a pause
 * with the same attempt number: an outage of our own must not use up the
 * retries meant for the receiver, nor dead-letter a task the ledger cannot record.
 */
export class DependencyUnavailableError extends Error {
  override name = "DependencyUnavailableError";
}

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

export interface ConsumeTasksOptions {
  /** A confirm channel: a retry copy must be confirmed before the original is acked. */
  channel: ConfirmChannel;
  /** Work queue name without prefix, e.g. "email". */
  queue: string;
  prefix?: string;
  /** At most this many unacked tasks in flight, i.e. concurrent handler calls. */
  prefetch: number;
  /**
   * Resolves: done. Throws PoisonMessageError: dead-letter now.
   * DependencyUnavailableError: back on the queue, same attempt. Anything else: retry.
   */
  handle: (task: Task) => Promise<void>;
  /** Must match the delays the topology was declared with. */
  retryDelaysMs?: readonly number[];
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
export async function consumeTasks(options: ConsumeTasksOptions): Promise<TaskConsumer> {
  const { channel, queue, handle, logger } = options;
  const delays = validRetryDelays(options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS);
  const names = taskTopologyNames(options.prefix);
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
