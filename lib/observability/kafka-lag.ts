import type { Admin } from "kafkajs";
import { dlqTopicFor } from "../messaging/events.ts";
import type { KafkaClient } from "../messaging/kafka.ts";
import { cachedProbe, processMetrics } from "./metrics.ts";

export interface ConsumerLagWatch {
  /** Removes the gauges' probes and closes the admin connection. */
  stop(): Promise<void>;
}

interface PartitionOffsets {
  partition: number;
  low: bigint;
  high: bigint;
}

/**
 * Exports a consumer group's lag per topic and partition
 * (kafka_consumer_lag_messages) and the depth of each topic's dead-letter
 * topic (kafka_dlq_depth_messages), read when Prometheus scrapes, through an
 * admin client of the consuming process itself (its principal may describe
 * its own group and topics). One read serves every scrape within `cacheMs`,
 * so a fast scrape interval costs the broker little.
 */
export function watchConsumerLag(options: {
  kafka: KafkaClient;
  groupId: string;
  topics: readonly string[];
  cacheMs?: number;
}): ConsumerLagWatch {
  const { kafka, groupId } = options;
  const topics = [...options.topics];
  const { consumerLag, kafkaDlqDepth } = processMetrics();
  let admin: Admin | undefined;
  let connecting: Promise<Admin> | undefined;

  const connected = () => {
    connecting ??= (async () => {
      const created = kafka.admin();
      try {
        await created.connect();
      } catch (error) {
        connecting = undefined;
        throw error;
      }
      admin = created;
      return created;
    })();
    return connecting;
  };

  const watermarks = async (client: Admin, topic: string): Promise<PartitionOffsets[]> =>
    (await client.fetchTopicOffsets(topic)).map((p) => ({
      partition: p.partition,
      low: BigInt(p.low),
      high: BigInt(p.high),
    }));

  const read = cachedProbe(options.cacheMs ?? 3_000, async () => {
    const client = await connected();
    const [committed, offsets, dlqOffsets] = await Promise.all([
      client.fetchOffsets({ groupId, topics }),
      Promise.all(topics.map((topic) => watermarks(client, topic))),
      // A DLQ topic the process cannot describe leaves only its own series out.
      Promise.all(topics.map((topic) => watermarks(client, dlqTopicFor(topic)).catch(() => undefined))),
    ]);
    const lag: [{ group: string; topic: string; partition: string }, number][] = [];
    topics.forEach((topic, i) => {
      const partitions = offsets[i] ?? [];
      const byPartition = new Map(
        (committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [
          p.partition,
          BigInt(p.offset),
        ]),
      );
      for (const { partition, low, high } of partitions) {
        // -1: nothing committed yet; the group starts from the beginning (runEventConsumer's default).
        const at = byPartition.get(partition) ?? -1n;
        const from = at < 0n ? low : at;
        lag.push([
          { group: groupId, topic, partition: String(partition) },
          Number(high > from ? high - from : 0n),
        ]);
      }
    });
    const depth: [{ topic: string }, number][] = [];
    topics.forEach((topic, i) => {
      const partitions = dlqOffsets[i];
      if (!partitions) return;
      const held = partitions.reduce((sum, p) => sum + (p.high - p.low), 0n);
      depth.push([{ topic: dlqTopicFor(topic) }, Number(held)]);
    });
    return { lag, depth };
  });

  const removeLag = consumerLag.addProbe(async () => (await read()).lag);
  const removeDepth = kafkaDlqDepth.addProbe(async () => (await read()).depth);
  return {
    async stop() {
      removeLag();
      removeDepth();
      await connecting?.catch(() => undefined);
      await admin?.disconnect().catch(() => undefined);
    },
  };
}
