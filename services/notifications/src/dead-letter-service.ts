import { create, type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { ChannelModel, ConfirmChannel, GetMessage } from "amqplib";
import {
  type DeadLetter,
  DeadLetterQueueKind,
  DeadLetterQueueSchema,
  DeadLetterSchema,
  type DeadLetterService,
  ListDeadLetterQueuesResponseSchema,
  ListDeadLettersResponseSchema,
  ReplayDeadLettersResponseSchema,
} from "#gen/accord/notifications/v1/dead_letters_pb.js";
import {
  AnalyticsTaskSchema,
  EmailTaskSchema,
  WebhookTaskSchema,
} from "#gen/accord/notifications/v1/tasks_pb.js";
import {
  DeadLetterQueueMissing,
  type DeadLetterSession,
  deadLetterSummary,
  openDeadLetters,
  workQueueName,
} from "#lib/messaging/dead-letters.ts";
import type { KafkaClient } from "#lib/messaging/kafka.ts";
import { openConfirmChannel, type TaskTopologyNames } from "#lib/messaging/rabbit.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { invalidArgument } from "#lib/rpc/errors.ts";

export interface DeadLetterServiceDeps {
  rabbit: ChannelModel;
  names: TaskTopologyNames;
  /** The RabbitMQ prefix (tests); "" on the platform. */
  prefix: string;
  /** The work queues whose DLQs are shown ("email", "webhook", "analytics"). */
  queues: readonly string[];
  kafka: KafkaClient;
  /** The Kafka dead-letter topics ("<topic>.dlq" of every topic the dispatcher reads). */
  kafkaDlqTopics: readonly string[];
  logger: Logger;
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 500;
const MAX_IDS = 500;
/** The most messages one replay takes from a DLQ (they are held in memory until settled). */
export const MAX_REPLAY_READ = 10_000;

/** What each queue's task says about itself, without its personal data (no address, subject or body). */
function taskFacts(
  queue: string,
  content: Buffer,
): Pick<Partial<DeadLetter>, "orderId" | "eventId" | "eventType" | "subscriptionId"> {
  const decode = <S extends DescMessage>(schema: S): MessageShape<S> | undefined => {
    try {
      return fromBinary(schema, content);
    } catch {
      return undefined;
    }
  };
  if (queue === "email") {
    const task = decode(EmailTaskSchema);
    return task ? { orderId: task.orderId, eventId: task.eventId } : {};
  }
  if (queue === "webhook") {
    const task = decode(WebhookTaskSchema);
    return task
      ? {
          subscriptionId: task.subscriptionId,
          orderId: task.payload?.orderId ?? "",
          eventId: task.payload?.eventId ?? "",
          eventType: task.payload?.eventType ?? "",
        }
      : {};
  }
  if (queue === "analytics") {
    const task = decode(AnalyticsTaskSchema);
    return task ? { orderId: task.orderId, eventId: task.eventId, eventType: task.eventType } : {};
  }
  return {};
}

/**
 * DeadLetterService (ops only): the task DLQs and the Kafka DLQ topics with
 * their depth, the dead letters of one DLQ, and their replay through
 * lib/messaging/dead-letters.ts, the code `npm run dlq` runs. Each call
 * uses a channel of its own: a passive declare of a missing queue closes
 * the channel it ran on, and the workers' channels must not go with it.
 */
export function createDeadLetterService(deps: DeadLetterServiceDeps): ServiceImpl<typeof DeadLetterService> {
  const { names, prefix, logger } = deps;
  const known = new Set(deps.queues);
  const kafkaTopics = new Set(deps.kafkaDlqTopics);

  /** The unprefixed work queue a request names, or InvalidArgument / FailedPrecondition. */
  function queueOf(name: string): string {
    if (kafkaTopics.has(name)) {
      throw new ConnectError(
        `queue: ${name} is a Kafka dead-letter topic; only its depth is shown`,
        Code.FailedPrecondition,
      );
    }
    const queue = workQueueName(name, prefix);
    if (!known.has(queue)) {
      throw invalidArgument([{ field: "queue", message: `must be one of ${[...known].join(", ")}` }]);
    }
    return queue;
  }

  async function withSession<T>(
    queue: string,
    limit: number,
    use: (session: DeadLetterSession) => Promise<T>,
  ): Promise<T> {
    let channel: ConfirmChannel;
    try {
      channel = await openConfirmChannel(deps.rabbit, logger);
    } catch {
      throw new ConnectError("rabbitmq did not open a channel", Code.Unavailable);
    }
    channel.on("error", () => undefined);
    try {
      const session = await openDeadLetters(channel, names, queue, limit).catch((error: unknown) => {
        if (error instanceof DeadLetterQueueMissing) {
          throw new ConnectError(`${error.message} (not declared yet)`, Code.FailedPrecondition);
        }
        throw error;
      });
      try {
        return await use(session);
      } finally {
        session.putBack();
      }
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  async function rabbitDepth(queue: string): Promise<{ depth: number; error: string }> {
    try {
      const channel = await deps.rabbit.createChannel();
      channel.on("error", () => undefined);
      try {
        return { depth: (await channel.checkQueue(names.dlq(queue))).messageCount, error: "" };
      } finally {
        await channel.close().catch(() => undefined);
      }
    } catch {
      return { depth: 0, error: "the queue could not be read (not declared yet?)" };
    }
  }

  async function kafkaDepths(): Promise<Map<string, { depth: number; error: string }>> {
    const depths = new Map<string, { depth: number; error: string }>();
    const admin = deps.kafka.admin({ retry: { retries: 0 } });
    try {
      await admin.connect();
      for (const topic of deps.kafkaDlqTopics) {
        try {
          const offsets = await admin.fetchTopicOffsets(topic);
          const depth = offsets.reduce((sum, p) => sum + Math.max(0, Number(p.high) - Number(p.low)), 0);
          depths.set(topic, { depth, error: "" });
        } catch {
          depths.set(topic, { depth: 0, error: "the topic's offsets could not be read" });
        }
      }
    } catch {
      for (const topic of deps.kafkaDlqTopics) depths.set(topic, { depth: 0, error: "kafka not reached" });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    return depths;
  }

  return {
    async listDeadLetterQueues() {
      const [rabbit, kafka] = await Promise.all([
        Promise.all(deps.queues.map(async (queue) => ({ queue, ...(await rabbitDepth(queue)) }))),
        kafkaDepths(),
      ]);
      return create(ListDeadLetterQueuesResponseSchema, {
        queues: [
          ...rabbit.map((r) =>
            create(DeadLetterQueueSchema, {
              name: r.queue,
              kind: DeadLetterQueueKind.RABBITMQ,
              address: names.dlq(r.queue),
              depth: BigInt(r.depth),
              replayable: true,
              error: r.error,
            }),
          ),
          ...deps.kafkaDlqTopics.map((topic) =>
            create(DeadLetterQueueSchema, {
              name: topic,
              kind: DeadLetterQueueKind.KAFKA,
              address: topic,
              depth: BigInt(kafka.get(topic)?.depth ?? 0),
              replayable: false,
              error: kafka.get(topic)?.error ?? "",
            }),
          ),
        ],
      });
    },

    async listDeadLetters(req) {
      const queue = queueOf(req.queue);
      if (req.limit < 0 || req.limit > MAX_LIMIT) {
        throw invalidArgument([{ field: "limit", message: `must be between 0 and ${MAX_LIMIT}` }]);
      }
      const limit = req.limit === 0 ? DEFAULT_LIMIT : req.limit;
      return withSession(queue, limit, async (session) =>
        create(ListDeadLettersResponseSchema, {
          depth: BigInt(session.depth),
          deadLetters: session.held.map((message) => {
            const summary = deadLetterSummary(message, session.workQueue);
            return create(DeadLetterSchema, {
              messageId: summary.messageId ?? "",
              reason: summary.reason,
              attempts: summary.attempts,
              routingKey: summary.routingKey,
              ...(summary.firstDeathAt ? { firstDeathAt: timestampFromDate(summary.firstDeathAt) } : {}),
              sizeBytes: summary.size,
              ...taskFacts(queue, message.content),
            });
          }),
        }),
      );
    },

    async replayDeadLetters(req) {
      const queue = queueOf(req.queue);
      const ids = req.messageIds;
      if (req.all === ids.length > 0) {
        throw invalidArgument([
          { field: "message_ids", message: "give message ids or all, not both or neither" },
        ]);
      }
      if (ids.length > MAX_IDS) {
        throw invalidArgument([{ field: "message_ids", message: `at most ${MAX_IDS} ids` }]);
      }
      const bad = ids.findIndex((id) => id === "" || id.length > 200);
      if (bad >= 0) {
        throw invalidArgument([{ field: `message_ids[${bad}]`, message: "must be 1 to 200 characters" }]);
      }
      const wanted = new Set(ids);
      // Finding ids may need the whole queue: its depth at the start bounds the read, and so does MAX_REPLAY_READ.
      return withSession(queue, MAX_REPLAY_READ, async (session) => {
        const replayed: string[] = [];
        const matches = (m: GetMessage) =>
          req.all || wanted.has((m.properties.messageId as string | undefined) ?? "");
        for (const message of session.held) {
          if (!matches(message)) continue;
          const fallback = `replay-${Date.now()}-${replayed.length}`;
          try {
            await session.replay(message, fallback);
          } catch (error) {
            logger.warn(
              { err: error, queue: session.dlq, replayed: replayed.length },
              "dead-letter replay stopped",
            );
            throw new ConnectError(
              `replay stopped after ${replayed.length} message(s): the broker did not take the next`,
              Code.Unavailable,
            );
          }
          replayed.push((message.properties.messageId as string | undefined) ?? fallback);
        }
        logger.info({ queue: session.dlq, replayed: replayed.length }, "dead letters replayed");
        const done = new Set(replayed);
        return create(ReplayDeadLettersResponseSchema, {
          replayedIds: replayed,
          notFoundIds: ids.filter((id) => !done.has(id)),
        });
      });
    },
  };
}
