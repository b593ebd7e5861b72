import type { Pool } from "../db.ts";
import type { Logger } from "../observability/logger.ts";
import { cachedProbe, OUTBOX_COUNT_CAP, processMetrics } from "../observability/metrics.ts";
import {
  contextFromHeaders,
  endWithError,
  startMessagingSpan,
  traceparentOfSpan,
} from "../observability/tracing.ts";
import { dlqTopicFor } from "./events.ts";
import { createIdempotentProducer, type EventProducer, ensureTopics, type KafkaClient } from "./kafka.ts";
import { onOutboxCommitted } from "./outbox.ts";

export interface OutboxRelayOptions {
  pool: Pool;
  producer: EventProducer;
  logger: Logger;
  /** Rows per round; a full round is followed by the next one at once. */
  batchSize?: number;
  /** Longest pause between rounds when no commit of this process wakes the relay. */
  pollIntervalMs?: number;
  /** Longest pause after consecutive publish failures (Kafka down). */
  maxBackoffMs?: number;
  /** Told of every failed publish (the publisher replaces a producer that cannot recover). */
  onPublishError?: (error: unknown) => void;
  /**
   * Rounds that may be in flight at once (default 4). A round whose send
   * waits (a partition's leader just died) holds only its own rows and keys;
   * commits meanwhile wake another lane, which publishes the rest.
   */
  lanes?: number;
}

export interface OutboxRelay {
  /** Runs one round; resolves to the number of rows published. For tests and benchmarks. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

interface OutboxRow {
  id: bigint;
  topic: string;
  message_key: string;
  payload: Buffer;
  headers: Record<string, string>;
}

/**
 * Publishes outbox rows to Kafka and marks them published.
 *
 * - Rows are found by `published_at IS NULL`, never by "id above the last one
 *   seen": sequence values are handed out before commit, so a later id can
 *   commit first.
 * - FOR UPDATE SKIP LOCKED lets several relays (one per service replica) share
 *   the table. A transaction-scoped advisory lock per message key keeps all
 *   rows of one order with a single relay, so events of an order stay in order
 *   even when relays overlap.
 * - A failed publish leaves the rows unpublished (attempts and last_error are
 *   recorded) and the relay backs off: Kafka being down loses nothing.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { pool, producer, logger } = options;
  const batchSize = options.batchSize ?? 200;
  // Only a safety net now: rows left by a replica that died before publishing
  // them, or written while this relay was not running (commits of this
  // process wake it, onOutboxCommitted).
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  // At most 1 s between attempts while Kafka fails: a retry costs one send, and a
  // longer pause would outlast the failover it waits for (ADR 0021).
  const maxBackoffMs = options.maxBackoffMs ?? 1_000;
  let stopped = false;

  async function runOnce(): Promise<number> {
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      const { rows } = await client.query<OutboxRow>(
        `SELECT id, topic, message_key, payload, headers
           FROM outbox
          WHERE published_at IS NULL
            AND pg_try_advisory_xact_lock(hashtext(message_key))
          ORDER BY id
          LIMIT $1
          FOR UPDATE SKIP LOCKED`,
        [batchSize],
      );
      if (rows.length === 0) {
        await client.query("COMMIT");
        return 0;
      }
      const ids = rows.map((r) => r.id.toString());
      const spans = rows.map(publishSpan);
      try {
        await producer.sendBatch({
          acks: -1,
          topicMessages: groupByTopic(rows),
        });
        for (const span of spans) span.end();
      } catch (error) {
        for (const span of spans) endWithError(span, error);
        await client.query("ROLLBACK");
        await pool
          .query("UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::bigint[])", [
            ids,
            String((error as Error).message ?? error).slice(0, 500),
          ])
          .catch(() => {});
        throw error;
      }
      await client.query("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [ids]);
      await client.query("COMMIT");
      return rows.length;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  // Lane 0 polls and carries the back-off while Kafka fails; the other lanes
  // run only when a commit wakes them, and only while lane 0 is not backing
  // off, so an outage costs one failing send at a time, as with one lane.
  // SKIP LOCKED and the per-key advisory lock keep concurrent rounds on
  // disjoint rows and keys, so an order's events stay in order.
  interface Lane {
    nudged: boolean;
    failures: number;
    /** Set exactly while the lane rests between rounds. */
    wake?: () => void;
  }
  const lanes: Lane[] = Array.from({ length: Math.max(1, options.lanes ?? 4) }, () => ({
    nudged: false,
    failures: 0,
  }));
  const primary = lanes[0] as Lane;

  // A commit of this process that wrote outbox rows wakes an idle lane; when
  // every lane is in a round, each looks again once its round ends.
  const stopListening = onOutboxCommitted(() => {
    if (primary.failures > 0) return;
    const idle = lanes.find((lane) => lane.wake && lane.failures === 0);
    if (idle) idle.wake?.();
    else for (const lane of lanes) lane.nudged = true;
  });

  async function runLane(lane: Lane): Promise<void> {
    while (!stopped) {
      let published = 0;
      lane.nudged = false;
      try {
        published = await runOnce();
        if (lane.failures > 0 && lane === primary)
          logger.info({ failures: lane.failures }, "outbox relay recovered");
        lane.failures = 0;
      } catch (error) {
        lane.failures += 1;
        if (lane === primary && (lane.failures === 1 || lane.failures % 20 === 0)) {
          logger.warn({ err: error, failures: lane.failures }, "outbox relay could not publish; will retry");
        }
        options.onPublishError?.(error);
      }
      // After rows were published, look once more before pausing: a row skipped
      // for another relay's lock on its key is free again by now.
      if (lane.failures === 0 && (published > 0 || lane.nudged)) continue;
      // stop() came during the round: no pause to sit out.
      if (stopped) break;
      const backoff = Math.min(maxBackoffMs, 100 * 2 ** Math.min(lane.failures, 10));
      if (lane === primary) {
        await rest(lane, lane.failures > 0 ? backoff : pollIntervalMs);
        continue;
      }
      // An extra lane that failed rests for the back-off (commits do not wake
      // it while its failures count), then waits to be woken like any idle one.
      if (lane.failures > 0) await rest(lane, backoff);
      lane.failures = 0;
      if (!stopped) await rest(lane, undefined);
    }
  }

  /** Until ms have passed (never, when undefined) or the lane is woken. */
  function rest(lane: Lane, ms: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        lane.wake = undefined;
        resolve();
      }
      lane.wake = done;
    });
  }

  const loop = Promise.all(lanes.map(runLane)).then(() => stopListening());

  return {
    runOnce,
    async stop() {
      stopped = true;
      for (const lane of lanes) lane.wake?.();
      await loop;
    },
  };
}

/**
 * A producer span per row, child of the span that wrote the row (its
 * traceparent header); the message carries the producer span's traceparent
 * instead, so the consumer's span descends from the publish. By hand, not
 * by the kafkajs instrumentation: that one parents every message of a
 * batch on the one context active at send() and overwrites the header, so
 * a batch of many orders would become one trace (ADR 0017).
 */
function publishSpan(row: OutboxRow) {
  const span = startMessagingSpan({
    system: "kafka",
    destination: row.topic,
    operation: "send",
    parent: contextFromHeaders(row.headers),
    orderId: row.message_key,
    attributes: { "messaging.kafka.message.key": row.message_key },
  });
  const traceparent = traceparentOfSpan(span);
  if (traceparent) row.headers = { ...row.headers, traceparent };
  return span;
}

function groupByTopic(rows: OutboxRow[]) {
  const byTopic = new Map<string, { key: string; value: Buffer; headers: Record<string, string> }[]>();
  for (const row of rows) {
    const list = byTopic.get(row.topic) ?? [];
    list.push({ key: row.message_key, value: row.payload, headers: row.headers });
    byTopic.set(row.topic, list);
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }));
}

export interface OutboxPublisherOptions {
  pool: Pool;
  kafka: KafkaClient;
  /** Topics this service publishes to; created (with their .dlq) when missing. */
  topics: string[];
  logger: Logger;
  pollIntervalMs?: number;
}

export interface OutboxPublisher {
  /** True once the producer is connected and the relay runs. */
  running(): boolean;
  stop(): Promise<void>;
}

/**
 * Connects to Kafka in the background and then runs the outbox relay. A
 * service takes requests without Kafka (its events wait in the outbox), so
 * start-up never waits for the broker; setup is retried until it answers.
 */
export function startOutboxPublisher(options: OutboxPublisherOptions): OutboxPublisher {
  const { pool, kafka, logger } = options;
  let producer: EventProducer | undefined;
  let relay: OutboxRelay | undefined;
  let stopping = false;
  let replacing = false;

  const connect = async () => {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await ensureTopics(kafka, [...options.topics, ...options.topics.map((t) => dlqTopicFor(t))]);
        const connected = await createIdempotentProducer(kafka);
        producer = connected;
        if (stopping) return;
        relay = startOutboxRelay({
          pool,
          producer: connected,
          logger,
          pollIntervalMs: options.pollIntervalMs,
          onPublishError: (error) => {
            if (isUnrecoverableProducerError(error)) void replaceProducer(error);
          },
        });
        logger.info({ topics: options.topics }, "outbox relay running");
        return;
      } catch (error) {
        if (attempt === 1 || attempt % 10 === 0) {
          logger.warn({ err: error, attempt }, "kafka not reachable yet; events wait in the outbox");
        }
        await producer?.disconnect().catch(() => {});
        producer = undefined;
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * attempt)));
      }
    }
  };

  // An idempotent producer whose sequence numbers the broker no longer
  // accepts (after a broker restart mid-send) fails every send from then on;
  // a new producer gets a new producer id and starts clean. The rows stay in
  // the outbox meanwhile, so nothing is lost.
  async function replaceProducer(error: unknown) {
    if (replacing || stopping) return;
    replacing = true;
    logger.warn({ err: error }, "kafka producer cannot recover; replacing it");
    const old = relay;
    relay = undefined;
    await old?.stop();
    await producer?.disconnect().catch(() => {});
    producer = undefined;
    replacing = false;
    setup = connect();
  }

  const removeProbes = watchOutboxBacklog(pool);
  let setup = connect();
  return {
    running: () => relay !== undefined,
    async stop() {
      stopping = true;
      removeProbes();
      // A connect still in progress may take a while to give up; do not wait for it forever.
      await Promise.race([setup, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      await relay?.stop();
      await producer?.disconnect().catch(() => {});
    },
  };
}

/**
 * Exports the outbox backlog and the oldest unpublished row's age at scrape
 * time, from PostgreSQL, so they show even while Kafka (and so the relay) is
 * down. Both reads are bounded: the count stops at OUTBOX_COUNT_CAP, and the
 * oldest row is the first by id (ids follow insertion). Returns the remover.
 */
export function watchOutboxBacklog(pool: Pool): () => void {
  const { outboxBacklog, outboxOldestAge } = processMetrics();
  const read = cachedProbe(1_000, async () => {
    const { rows } = await pool.query<{ backlog: string; oldest: string | null }>(
      `SELECT (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE published_at IS NULL LIMIT $1) waiting) AS backlog,
              (SELECT EXTRACT(EPOCH FROM now() - created_at) FROM outbox
                WHERE published_at IS NULL ORDER BY id LIMIT 1) AS oldest`,
      [OUTBOX_COUNT_CAP],
    );
    return { backlog: Number(rows[0]?.backlog ?? 0), oldest: Number(rows[0]?.oldest ?? 0) };
  });
  const removeBacklog = outboxBacklog.addProbe(async () => [[{}, (await read()).backlog]]);
  const removeAge = outboxOldestAge.addProbe(async () => [[{}, (await read()).oldest]]);
  return () => {
    removeBacklog();
    removeAge();
  };
}

/** Errors after which an idempotent producer never succeeds again. */
export function isUnrecoverableProducerError(error: unknown): boolean {
  const type = (error as { type?: string } | undefined)?.type;
  const message = String((error as { message?: string } | undefined)?.message ?? "");
  return (
    type === "OUT_OF_ORDER_SEQUENCE_NUMBER" ||
    type === "INVALID_PRODUCER_EPOCH" ||
    type === "UNKNOWN_PRODUCER_ID" ||
    type === "INVALID_PRODUCER_ID_MAPPING" ||
    /out of order sequence number|producer epoch|unknown producer id/i.test(message)
  );
}
