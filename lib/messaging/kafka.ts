import type { Registry } from "@bufbuild/protobuf";
import kafkajs, {
  type Consumer,
  Kafka,
  logLevel as KafkaJsLevel,
  type KafkaMessage,
  type LogEntry,
  Partitioners,
  type Producer,
  type ProducerBatch,
  type ProducerRecord,
  type RecordMetadata,
  type SASLOptions,
} from "kafkajs";
import { z } from "zod";
import { loadConfig } from "../host/config.ts";
import { createLogger, type Logger } from "../observability/logger.ts";
import { CORRELATION_HEADER, correlationIdFrom, runWithContext } from "../observability/request-context.ts";
import {
  contextFromHeaders,
  endWithError,
  inSpan,
  startMessagingSpan,
  traceparentOfSpan,
} from "../observability/tracing.ts";
import {
  type DecodedEvent,
  decodeEvent,
  dlqTopicFor,
  type EncodedEvent,
  eventRegistry,
  normalizeHeaders,
  PoisonEventError,
} from "./events.ts";

/**
 * The one place that knows kafkajs. kafkajs is no longer maintained upstream,
 * so services use these functions and types only, and a KafkaJS-compatible
 * client can replace it here.
 */

export type KafkaClient = Kafka;
export type EventProducer = Producer;
/** How long a consumer group waits for a member that stopped heartbeating (kafkajs default 30 s). */
export const CONSUMER_SESSION_TIMEOUT_MS = 10_000;
const CONSUMER_HEARTBEAT_MS = 1_000;
// The coordinator's answers that mean this member's generation is over.
const GROUP_MEMBERSHIP_REFUSALS = new Set([
  "UNKNOWN_MEMBER_ID",
  "ILLEGAL_GENERATION",
  "REBALANCE_IN_PROGRESS",
  "NOT_COORDINATOR_FOR_GROUP",
]);
export type KafkaLogLevel = "silent" | "error" | "warn" | "info" | "debug";

const TO_KAFKAJS: Record<KafkaLogLevel, KafkaJsLevel> = {
  silent: KafkaJsLevel.NOTHING,
  error: KafkaJsLevel.ERROR,
  warn: KafkaJsLevel.WARN,
  info: KafkaJsLevel.INFO,
  debug: KafkaJsLevel.DEBUG,
};

/** "host:9092,host2:9092" (the KAFKA_BROKERS variable) to a broker list. */
export function parseBrokers(list: string): string[] {
  return list
    .split(",")
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
}

// ---------------------------------------------------------------- authentication

export const KAFKA_SASL_MECHANISMS = ["scram-sha-256", "scram-sha-512", "plain"] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** Who a client is on the broker: its SASL principal and password. */
export interface KafkaAuth {
  mechanism: KafkaSaslMechanism;
  username: string;
  password: string;
}

/**
 * The process's own Kafka principal (the broker refuses clients without one
 * and authorizes each by its ACLs: infra/kafka/acl-table.ts). Locally
 * scripts/services.sh passes each service its user and dev password
 * (infra/env.sh kafka_password); in production both come from the secret store.
 */
export const kafkaAuthEnv = {
  KAFKA_USERNAME: z.string().min(1),
  KAFKA_PASSWORD: z.string().min(1),
  KAFKA_SASL_MECHANISM: z.enum(KAFKA_SASL_MECHANISMS).default("scram-sha-256"),
};

/** The credentials in KAFKA_USERNAME / KAFKA_PASSWORD / KAFKA_SASL_MECHANISM; a ConfigError names a missing one. */
export function kafkaAuthFrom(env: Record<string, string | undefined> = process.env): KafkaAuth {
  const config = loadConfig(z.object(kafkaAuthEnv), env);
  return {
    mechanism: config.KAFKA_SASL_MECHANISM,
    username: config.KAFKA_USERNAME,
    password: config.KAFKA_PASSWORD,
  };
}

/**
 * The development password of a Kafka user, the same convention as
 * kafka_password in infra/env.sh: KAFKA_PASSWORD_<USER> when set (upper case,
 * non-alphanumerics as _), else "dev-kafka-<user>". For local tooling and the
 * broker's provisioning only; services read KAFKA_PASSWORD and nothing else.
 */
export function kafkaPasswordFor(
  user: string,
  env: Record<string, string | undefined> = process.env,
): string {
  return env[`KAFKA_PASSWORD_${user.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`] || `dev-kafka-${user}`;
}

/**
 * Credentials of a tool or test run: KAFKA_USERNAME / KAFKA_PASSWORD when set,
 * else `user` with its development password (kafkaPasswordFor).
 */
export function toolKafkaAuth(
  user: string,
  env: Record<string, string | undefined> = process.env,
): KafkaAuth {
  const username = env.KAFKA_USERNAME || user;
  return kafkaAuthFrom({
    ...env,
    KAFKA_USERNAME: username,
    KAFKA_PASSWORD: env.KAFKA_PASSWORD || kafkaPasswordFor(username, env),
  });
}

export function createKafka(options: {
  clientId: string;
  brokers: string[];
  /**
   * SASL credentials (kafkaAuthFrom, toolKafkaAuth). null connects without
   * SASL, which the broker refuses: only for showing exactly that.
   */
  auth: KafkaAuth | null;
  /** kafkajs is chatty at info (every join, every connect); warn keeps what matters. */
  logLevel?: KafkaLogLevel;
  logger?: Logger;
  /** Retries of a failed request or connection (kafkajs default: 5); 0 to learn of a refusal at once. */
  retries?: number;
}): KafkaClient {
  const logger = (options.logger ?? createLogger(options.clientId)).child({ component: "kafkajs" });
  const { auth } = options;
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    ...(auth
      ? {
          sasl: {
            mechanism: auth.mechanism,
            username: auth.username,
            password: auth.password,
          } as SASLOptions,
        }
      : {}),
    ...(options.retries !== undefined ? { retry: { retries: options.retries } } : {}),
    logLevel: TO_KAFKAJS[options.logLevel ?? "warn"],
    logCreator: () => (entry: LogEntry) => {
      const { message, timestamp: _t, logger: _l, ...fields } = entry.log;
      const data = { namespace: entry.namespace, ...fields };
      if (entry.level === KafkaJsLevel.ERROR) logger.error(data, message);
      else if (entry.level === KafkaJsLevel.WARN) logger.warn(data, message);
      else if (entry.level === KafkaJsLevel.INFO) logger.info(data, message);
      else logger.debug(data, message);
    },
  });
}

/**
 * Partitions of every event topic. A partition is the unit of parallelism of
 * a consumer group (events of one order share a key, so a partition, and stay
 * in order); with 3, the orchestrator had at most 3 signal-with-starts to
 * Temporal in flight and fell behind at 50 orders/s. Existing topics keep
 * their count: adding partitions would move keys while orders are in flight.
 */
export const EVENT_TOPIC_PARTITIONS = 12;

/** Creates the topics that do not exist yet; returns the ones it created. Safe to run at every start. */
export async function ensureTopics(
  kafka: KafkaClient,
  topics: readonly string[],
  partitions = EVENT_TOPIC_PARTITIONS,
) {
  const admin = kafka.admin();
  await admin.connect();
  const created: string[] = [];
  try {
    // Several services may create the same topics at the same moment; a
    // loser sees "already exists" or, briefly, "does not host this
    // topic-partition". So: create what is missing, then wait until every
    // partition of every topic has a leader, retrying for a while.
    return await whileRetriable(
      async () => {
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter((t) => !existing.has(t));
        if (missing.length > 0) {
          const made = await admin.createTopics({
            // No replicationFactor: the brokers' default.replication.factor, 3 on
            // the production cluster, 1 on the single development broker.
            topics: missing.map((topic) => ({ topic, numPartitions: partitions })),
            waitForLeaders: false,
          });
          if (made) created.push(...missing);
        }
        const { topics: described } = await admin.fetchTopicMetadata({ topics: [...topics] });
        const leaderless = described.filter(
          (t) => t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0),
        );
        if (leaderless.length === 0) return created;
        throw new Error(`topics without leaders yet: ${leaderless.map((t) => t.name).join(", ")}`);
      },
      { retryOn: () => true },
    );
  } finally {
    await admin.disconnect();
  }
}

/**
 * Runs `attempt` until it resolves, trying again every `delayMs` while it
 * fails with an error `retryOn` accepts (by default one Kafka calls
 * retriable: kafkajs's `retriable: true`, e.g. a topic a broker does not know
 * yet) and `withinMs` has not passed; any other error, or the last one, is
 * thrown.
 */
export async function whileRetriable<T>(
  attempt: () => Promise<T>,
  {
    withinMs = 30_000,
    delayMs = 300,
    retryOn = isRetriable,
  }: { withinMs?: number; delayMs?: number; retryOn?: (error: unknown) => boolean } = {},
): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!retryOn(error) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

const isRetriable = (error: unknown) => (error as { retriable?: unknown } | undefined)?.retriable === true;

/** Deletes topics (tests, tooling); topics that do not exist are ignored. */
export async function deleteTopics(kafka: KafkaClient, topics: readonly string[]) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length > 0) await admin.deleteTopics({ topics: present });
  } finally {
    await admin.disconnect();
  }
}

/**
 * The broker's reason for refusing a request, client-neutral: the Kafka error
 * code name (e.g. TOPIC_AUTHORIZATION_FAILED), SASL_AUTHENTICATION_FAILED for
 * a refused login, CONNECTION_CLOSED / CONNECTION_FAILED when the broker
 * dropped or never took the connection; undefined for anything else.
 */
export function kafkaErrorCode(error: unknown): string | undefined {
  for (const { type, name, message } of causeChain(error)) {
    if (typeof type === "string" && type !== "UNKNOWN") return type;
    if (name === "KafkaJSSASLAuthenticationError") return "SASL_AUTHENTICATION_FAILED";
    if (name === "KafkaJSConnectionClosedError") return "CONNECTION_CLOSED";
    if (name === "KafkaJSConnectionError") {
      return /closed/i.test(message ?? "") ? "CONNECTION_CLOSED" : "CONNECTION_FAILED";
    }
    if (name === "KafkaJSRequestTimeoutError") return "REQUEST_TIMED_OUT";
  }
  return undefined;
}

interface ErrorLink {
  type?: unknown;
  name?: unknown;
  message?: string;
  cause?: unknown;
}

/** An error and the causes it wraps (kafkajs nests them), at most five deep. */
function* causeChain(error: unknown): Generator<ErrorLink> {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    yield e as ErrorLink;
    e = (e as ErrorLink).cause;
  }
}

/**
 * What a failed explicit offset commit asks of the member, as an error
 * kafkajs's runner answers by joining the group again (which looks the
 * coordinator up afresh), or undefined when the runner's own retry is the
 * answer. The coordinator's own error when it says the member's generation
 * is over or that it no longer coordinates the group. When the coordinator
 * the member knew cannot be reached or is not available, a
 * NOT_COORDINATOR_FOR_GROUP of ours: kafkajs's commit keeps asking the same
 * broker (it finds the coordinator only when joining), so with that broker
 * dead the member handled nothing until the broker came back, 25 s in a
 * production chaos run, while a new coordinator was there within about 3 s
 * (ADR 0024's amendment).
 */
export function rejoinCause(error: unknown): (Error & { type: string }) | undefined {
  for (const link of causeChain(error)) {
    const { type, name, message } = link;
    if (typeof type === "string" && GROUP_MEMBERSHIP_REFUSALS.has(type))
      return link as Error & { type: string };
    if (
      type === "GROUP_COORDINATOR_NOT_AVAILABLE" ||
      // The coordinator left the cluster's metadata (fenced after a kill).
      name === "KafkaJSBrokerNotFound" ||
      name === "KafkaJSConnectionError" ||
      name === "KafkaJSConnectionClosedError" ||
      name === "KafkaJSRequestTimeoutError"
    ) {
      return new kafkajs.KafkaJSProtocolError({
        type: "NOT_COORDINATOR_FOR_GROUP",
        code: 16,
        retriable: true,
        message: `the group coordinator did not take the commit (${String(message)}); finding it again`,
      } as unknown as Error);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- ACLs

export type AclResource = "topic" | "group" | "cluster" | "transactional-id";
export type AclPattern = "literal" | "prefixed";
export type AclOperation =
  | "All"
  | "Read"
  | "Write"
  | "Create"
  | "Delete"
  | "Alter"
  | "Describe"
  | "DescribeConfigs"
  | "AlterConfigs"
  | "IdempotentWrite";

/** One ALLOW rule: principal (e.g. "User:orders") may do operation on the resource(s) named, from any host. */
export interface AclBinding {
  principal: string;
  operation: AclOperation;
  resource: AclResource;
  pattern: AclPattern;
  name: string;
}

// Not named imports: Node's detection of a CommonJS module's exports does not see these in kafkajs.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;

const RESOURCE_TYPES: Record<AclResource, number> = {
  topic: AclResourceTypes.TOPIC,
  group: AclResourceTypes.GROUP,
  cluster: AclResourceTypes.CLUSTER,
  "transactional-id": AclResourceTypes.TRANSACTIONAL_ID,
};
const PATTERN_TYPES: Record<AclPattern, number> = {
  literal: ResourcePatternTypes.LITERAL,
  prefixed: ResourcePatternTypes.PREFIXED,
};
const OPERATION_TYPES: Record<AclOperation, number> = {
  All: AclOperationTypes.ALL,
  Read: AclOperationTypes.READ,
  Write: AclOperationTypes.WRITE,
  Create: AclOperationTypes.CREATE,
  Delete: AclOperationTypes.DELETE,
  Alter: AclOperationTypes.ALTER,
  Describe: AclOperationTypes.DESCRIBE,
  DescribeConfigs: AclOperationTypes.DESCRIBE_CONFIGS,
  AlterConfigs: AclOperationTypes.ALTER_CONFIGS,
  IdempotentWrite: AclOperationTypes.IDEMPOTENT_WRITE,
};

function aclKey(
  a: { principal: string; host: string; operation: number; permissionType: number },
  r: { resourceType: number; resourcePatternType: number; resourceName: string },
) {
  return [
    a.principal,
    a.host,
    a.operation,
    a.permissionType,
    r.resourceType,
    r.resourcePatternType,
    r.resourceName,
  ].join("|");
}

/**
 * Makes the broker's ACLs of the managed principals exactly `desired`:
 * creates what is missing and deletes what is no longer wanted (ACLs of other
 * principals are left alone). Idempotent; needs a client authorized to alter
 * ACLs (a super user).
 */
export async function syncAcls(
  kafka: KafkaClient,
  desired: readonly AclBinding[],
  managedPrincipals: readonly string[],
): Promise<{ created: number; deleted: number; unchanged: number }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const wanted = new Map(
      desired.map((b) => {
        const entry = {
          principal: b.principal,
          host: "*",
          operation: OPERATION_TYPES[b.operation],
          permissionType: AclPermissionTypes.ALLOW,
          resourceType: RESOURCE_TYPES[b.resource],
          resourcePatternType: PATTERN_TYPES[b.pattern],
          resourceName: b.name,
        };
        return [aclKey(entry, entry), entry] as const;
      }),
    );
    const { resources } = await admin.describeAcls({
      resourceType: AclResourceTypes.ANY,
      resourcePatternType: ResourcePatternTypes.ANY,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ANY,
    });
    const managed = new Set(managedPrincipals);
    const existing = new Set<string>();
    const stale: Parameters<typeof admin.deleteAcls>[0]["filters"] = [];
    for (const resource of resources) {
      for (const acl of resource.acls) {
        const key = aclKey(acl, resource);
        existing.add(key);
        if (managed.has(acl.principal) && !wanted.has(key)) {
          stale.push({
            resourceType: resource.resourceType,
            resourceName: resource.resourceName,
            resourcePatternType: resource.resourcePatternType,
            principal: acl.principal,
            host: acl.host,
            operation: acl.operation,
            permissionType: acl.permissionType,
          });
        }
      }
    }
    const missing = [...wanted].filter(([key]) => !existing.has(key)).map(([, entry]) => entry);
    if (stale.length > 0) await admin.deleteAcls({ filters: stale });
    if (missing.length > 0) await admin.createAcls({ acl: missing });
    return { created: missing.length, deleted: stale.length, unchanged: wanted.size - missing.length };
  } finally {
    await admin.disconnect();
  }
}

/** Where the partitioner put a message: the (topic, partition) its send must get an answer for. */
export interface MessagePlacement {
  topic: string;
  partition: number;
}

/** The placements that have no answer among a send's per-partition answers (each placement once). */
export function unansweredPlacements(
  placements: Iterable<MessagePlacement>,
  answers: readonly Pick<RecordMetadata, "topicName" | "partition">[],
): MessagePlacement[] {
  const key = (topic: string, partition: number) => `${partition}:${topic}`;
  const answered = new Set(answers.map((a) => key(a.topicName, a.partition)));
  const missing = new Map<string, MessagePlacement>();
  for (const p of placements) {
    if (!answered.has(key(p.topic, p.partition))) missing.set(key(p.topic, p.partition), p);
  }
  return [...missing.values()];
}

/** A send that resolved without an answer for some of its partitions: nothing says those messages were written. */
export class KafkaSendIncompleteError extends Error {
  readonly retriable = true;
  readonly unanswered: MessagePlacement[];
  constructor(unanswered: MessagePlacement[]) {
    super(
      `kafka send resolved without an answer for ${unanswered
        .map((p) => `${p.topic}[${p.partition}]`)
        .join(", ")}: its messages there may not be written`,
    );
    this.name = "KafkaSendIncompleteError";
    this.unanswered = unanswered;
  }
}

/**
 * A send's own retries, each after at most 500 ms: when a broker dies, its
 * partitions get new leaders within a few seconds (ADR 0021), and the next
 * retry finds them. kafkajs's default doubles from 300 ms to 4.8 s, so a
 * send could sleep for seconds after the failover was done: in production
 * chaos runs the relays' retries came 1.2 and 2.4 s apart at the end of the
 * outage, and confirmations paused 4.2 s in one run, 8.6 s in another.
 * The count stays kafkajs's (5, about 1.7 s at these times) before the send
 * fails and its caller (the outbox relay) decides; an explicit count makes
 * kafkajs warn that an idempotent producer should retry forever.
 */
export const PRODUCER_RETRY = { initialRetryTime: 100, maxRetryTime: 500 } as const;

/**
 * The consumer runner's retries (a commit, a fetch round), at the same
 * spacing as a send's. Every explicit commit goes to the group's coordinator,
 * and kafkajs's runner retries it against that same broker: with kafkajs's
 * default spacing (300 ms doubling, 5 times) a commit to a killed coordinator
 * gave up after about 5 s, and commits of the other partitions in hand, by
 * then refused because the broker had left the metadata, took up to 15 s
 * more; the rejoin that finds the new coordinator (rejoinCause) waited for
 * all of them. Measured on the production cluster, one consumer of a topic
 * with six partitions fed 10 events/s: with its group's coordinator killed,
 * no event was handled for 29 s at kafkajs's spacing and for 4.5 s at this
 * one; with another node killed, 2.9 s (ADR 0024).
 */
export const CONSUMER_RETRY = PRODUCER_RETRY;

/**
 * A connected producer with exactly-once writes per partition: a retried send
 * is not written twice, and one request in flight keeps a key's events in
 * order even when a send is retried.
 *
 * kafkajs 2.2.4 can resolve a send whose messages were not all written: a send
 * spanning several leaders that fails at one of them is retried only toward
 * the leaders that have not answered yet, so when the lost leader's partitions
 * move to a leader that already answered (a broker killed mid-send), their
 * messages are never sent again and the send still resolves. Seen in the
 * production-topology chaos run as an OrderPlaced marked published but absent
 * from Kafka. So this producer records the partition each message was placed
 * on and fails a send that lacks an answer for one of them; callers retry the
 * whole send, and the consumers' inboxes absorb the copies that did land.
 */
export async function createIdempotentProducer(kafka: KafkaClient): Promise<EventProducer> {
  const placed = new WeakMap<object, number>();
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    retry: PRODUCER_RETRY,
    // Java's murmur2 partitioner, so the JVM tools and other clients agree on key placement;
    // wrapped to remember each message's partition (kafkajs passes the caller's message objects).
    createPartitioner: () => {
      const place = Partitioners.DefaultPartitioner();
      return (args) => {
        const partition = place(args);
        placed.set(args.message, partition);
        return partition;
      };
    },
    allowAutoTopicCreation: false,
  });
  const sendBatch = producer.sendBatch;
  producer.sendBatch = async (batch: ProducerBatch) => {
    const answers = await sendBatch(batch);
    if (batch.acks === 0) return answers;
    const placements: MessagePlacement[] = [];
    for (const { topic, messages } of batch.topicMessages ?? []) {
      for (const message of messages) {
        const partition = placed.get(message);
        // Unplaced means kafkajs never grouped it, so nothing can vouch for it.
        placements.push({ topic, partition: partition ?? -1 });
      }
    }
    const unanswered = unansweredPlacements(placements, answers);
    if (unanswered.length > 0) throw new KafkaSendIncompleteError(unanswered);
    return answers;
  };
  producer.send = ({ topic, messages, ...options }: ProducerRecord) =>
    producer.sendBatch({ ...options, topicMessages: [{ topic, messages }] });
  await producer.connect();
  return producer;
}

/** Sends the events in one batch, acknowledged by all in-sync replicas. */
export async function publishEvents(
  producer: EventProducer,
  topic: string,
  events: readonly EncodedEvent[],
): Promise<void> {
  if (events.length === 0) return;
  // One producer span per event, child of the active context, its traceparent in the message.
  const spans = events.map((e) =>
    startMessagingSpan({ system: "kafka", destination: topic, operation: "send", orderId: e.key }),
  );
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: events.map((e, i) => {
        const traceparent = traceparentOfSpan(spans[i]);
        return {
          key: e.key,
          value: e.value,
          headers: traceparent ? { ...e.headers, traceparent } : e.headers,
        };
      }),
    });
  } catch (error) {
    for (const span of spans) endWithError(span, error);
    throw error;
  }
  for (const span of spans) span.end();
}

/** Where a consumed event came from; client-neutral, so handlers do not see kafkajs types. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | undefined;
  timestamp: string;
  headers: Record<string, string>;
}

/**
 * Handles one event. Resolve only once its effect is durable (the offset is
 * committed next). Throw PoisonEventError for an event that can never be
 * handled (it goes to the DLQ); any other error is taken as transient and the
 * event is delivered again.
 */
export type EventHandler = (event: DecodedEvent, record: ConsumedRecord) => Promise<void>;

export interface EventConsumerOptions {
  kafka: KafkaClient;
  groupId: string;
  topics: readonly string[];
  handle: EventHandler;
  logger: Logger;
  /** Writes poison events to <topic>.dlq; owned by the caller, not disconnected by stop(). */
  dlqProducer: EventProducer;
  registry?: Registry;
  /** Where a group with no committed offset starts; the beginning, so no event is skipped. */
  fromBeginning?: boolean;
  /**
   * Partitions handled at once (default EVENT_TOPIC_PARTITIONS: all of them).
   * Events of one partition, so of one order, are still handled one by one.
   */
  partitionsConcurrently?: number;
  /**
   * 0 (the default): each event's offset is committed as soon as it is
   * handled. Above 0: handled offsets are collected and committed together
   * at most this often (and at stop), one request for every partition, so a
   * trickle of events does not cost one OffsetCommit each (ADR 0022). Either
   * way an offset is committed only after its event was handled; what a
   * crash or rebalance leaves uncommitted is delivered again, which the
   * consumers' inboxes already absorb.
   */
  commitIntervalMs?: number;
  /**
   * How long a rebalance waits for this member to finish the events in hand
   * and rejoin (kafkajs default 60 s). Past it the group goes on without the
   * member; its commit is then refused and it rejoins, the events handled
   * meanwhile coming again.
   */
  rebalanceTimeoutMs?: number;
  /**
   * Called when kafkajs gives the consumer up for good (a crash it does not
   * restart from, e.g. an authorization failure): the process would go on
   * serving without consuming. Services hand it to host.fail.
   */
  onStoppedForGood?: (error: unknown) => void;
}

export interface RunningConsumer {
  /** Stops intake, lets the event in hand finish and commit, leaves the group. */
  stop(): Promise<void>;
}

/** Where a consumed message came from, with its headers as strings. */
export function consumedRecord(topic: string, partition: number, message: KafkaMessage): ConsumedRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key?.toString(),
    timestamp: message.timestamp,
    headers: normalizeHeaders(message.headers),
  };
}

export async function runEventConsumer(options: EventConsumerOptions): Promise<RunningConsumer> {
  const { kafka, groupId, handle, logger, dlqProducer, registry = eventRegistry } = options;
  const topics = [...options.topics];
  const consumer: Consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    // The broker holds an idle fetch this long and stop() waits for it (kafkajs default: 5 s).
    maxWaitTimeInMs: 1000,
    // A member killed without leaving holds the whole group's rebalance until
    // its session expires: with kafkajs's 30 s every partition stood still
    // for about 20 s when an orchestrator replica was killed and came back
    // (ADR 0028). A live member heartbeats every second, while a message is
    // in hand too (eachMessage below).
    sessionTimeout: CONSUMER_SESSION_TIMEOUT_MS,
    heartbeatInterval: CONSUMER_HEARTBEAT_MS,
    retry: CONSUMER_RETRY,
    ...(options.rebalanceTimeoutMs === undefined ? {} : { rebalanceTimeout: options.rebalanceTimeoutMs }),
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    logger.error({ err: payload.error, groupId, restart: payload.restart }, "kafka consumer crashed");
    if (!payload.restart) options.onStoppedForGood?.(payload.error);
  });

  // Handled offsets waiting for the next coalesced commit, by topic and partition.
  const commitIntervalMs = options.commitIntervalMs ?? 0;
  const pending = new Map<string, { topic: string; partition: number; offset: string }>();
  // After a rebalance the partitions may be someone else's, or ours again in
  // a new generation: an offset collected before it is not committed then
  // (it could move the group back); those events are delivered again.
  consumer.on(consumer.events.GROUP_JOIN, () => pending.clear());
  async function commitHandled(topic: string, partition: number, next: string) {
    if (commitIntervalMs <= 0) {
      try {
        await consumer.commitOffsets([{ topic, partition, offset: next }]);
      } catch (error) {
        // kafkajs wraps the coordinator's refusal in an error its runner does
        // not recognise, and the consumer then stops for good (restart: false)
        // while the service stays up. Its own protocol error makes the runner
        // rejoin; the event, handled but not committed, comes again.
        const rejoin = rejoinCause(error);
        if (!rejoin) throw error;
        logger.warn(
          { groupId, topic, partition, reason: rejoin.type, cause: rejoin.message },
          "offset not committed: rejoining the group, the event will be delivered again",
        );
        throw rejoin;
      }
      return;
    }
    pending.set(`${topic}\u0000${partition}`, { topic, partition, offset: next });
  }
  let flushing: Promise<void> = Promise.resolve();
  function flushPending(): Promise<void> {
    if (pending.size === 0) return flushing;
    const offsets = [...pending.values()];
    pending.clear();
    flushing = flushing.then(() =>
      consumer.commitOffsets(offsets).catch((error: unknown) => {
        logger.warn(
          { err: error, groupId, partitions: offsets.length },
          "coalesced offset commit failed; those events will be delivered again",
        );
      }),
    );
    return flushing;
  }
  const flushTimer =
    commitIntervalMs > 0 ? setInterval(() => void flushPending(), commitIntervalMs).unref() : undefined;

  async function processMessage(topic: string, partition: number, message: KafkaMessage) {
    const record = consumedRecord(topic, partition, message);
    try {
      const event = decodeEvent(registry, message);
      // The consumer span continues the producer's trace (its traceparent header).
      const span = startMessagingSpan({
        system: "kafka",
        destination: topic,
        operation: "process",
        parent: contextFromHeaders(record.headers),
        orderId: record.key,
        attributes: {
          "messaging.consumer.group.name": groupId,
          "messaging.destination.partition.id": String(partition),
          "messaging.kafka.offset": Number(message.offset),
          "messaging.message.id": event.id,
        },
      });
      // Log lines of the handler carry the event's correlation and order id (the key).
      await inSpan(span, () =>
        runWithContext(
          {
            correlationId: correlationIdFrom(record.headers[CORRELATION_HEADER], event.traceparent, event.id),
            orderId: record.key,
          },
          () => handle(event, record),
        ),
      );
    } catch (error) {
      if (!(error instanceof PoisonEventError)) {
        // Not committed: kafkajs fetches this offset again after its retry backoff.
        logger.warn({ err: error, topic, partition, offset: message.offset }, "event failed, will retry");
        throw error;
      }
      logger.error(
        { topic, partition, offset: message.offset, reason: error.message },
        "poison event, routing it to the dlq",
      );
      await dlqProducer.send({
        topic: dlqTopicFor(topic),
        acks: -1,
        messages: [
          {
            key: message.key,
            value: message.value,
            headers: {
              ...message.headers,
              dlq_reason: error.message,
              dlq_original_topic: topic,
              dlq_original_partition: String(partition),
              dlq_original_offset: message.offset,
              dlq_consumer_group: groupId,
            },
          },
        ],
      });
    }
    // Kafka's committed offset is the next one to read, hence + 1.
    await commitHandled(topic, partition, (BigInt(message.offset) + 1n).toString());
  }

  // The messages in hand (one per partition); stop() waits for them, because
  // kafkajs skips commits once it is stopping.
  const inFlight = new Set<Promise<unknown>>();

  try {
    await consumer.connect();
    // Right after ensureTopics a broker whose metadata lags may not know a
    // new topic yet (UNKNOWN_TOPIC_OR_PARTITION, retriable): kafkajs's
    // subscribe does not retry that, and the service would fail to start.
    await whileRetriable(() => consumer.subscribe({ topics, fromBeginning: options.fromBeginning ?? true }));
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: options.partitionsConcurrently ?? EVENT_TOPIC_PARTITIONS,
      eachMessage: ({ topic, partition, message, heartbeat }) => {
        const work = processMessage(topic, partition, message);
        // kafkajs heartbeats only between messages and fetches, and a fetch
        // waits for every message in hand: a handler waiting longer than the
        // session (a row lock, a slow dependency) would get the member dropped
        // and its partitions moved mid-event. Beat while it runs; a refused
        // beat (a rebalance) shows again at the commit, which rejoins.
        const beating = setInterval(() => void heartbeat().catch(() => undefined), CONSUMER_HEARTBEAT_MS);
        const settled = work.catch(() => undefined).finally(() => clearInterval(beating));
        inFlight.add(settled);
        void settled.then(() => inFlight.delete(settled));
        return work;
      },
    });
  } catch (error) {
    clearInterval(flushTimer);
    await consumer.disconnect();
    throw error;
  }

  let stopping: Promise<void> | undefined;
  async function stop() {
    try {
      consumer.pause(topics.map((topic) => ({ topic })));
    } catch {
      // Not running (crashed and waiting to restart): nothing to pause.
    }
    await Promise.all(inFlight);
    clearInterval(flushTimer);
    await flushPending();
    await consumer.disconnect();
  }
  return {
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}
