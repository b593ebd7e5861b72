/**
 * What the production Kafka cluster says about itself, asked as admin on
 * KAFKA_BROKERS (infra/production/kafka-cluster.sh: kafka_up waits on
 * `brokers`, kafka_status prints both).
 *
 *   node infra/production/kafka/cluster.ts brokers           the ids of the live (unfenced) brokers, one line
 *   node infra/production/kafka/cluster.ts under-replicated  "<topic>/<partition> replicas=1,2,3 isr=1,3" per
 *                                                            partition with fewer in-sync replicas than replicas
 *   node infra/production/kafka/cluster.ts coordinator <group>  the id of the node coordinating the group now
 */
import { createKafka, kafkaPasswordFor, parseBrokers } from "#lib/messaging/kafka.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { ADMIN_PRINCIPAL } from "../../kafka/acl-table.ts";

function adminClient(env: Record<string, string | undefined> = process.env) {
  return createKafka({
    clientId: "accord-kafka-cluster",
    brokers: parseBrokers(env.KAFKA_BROKERS || "127.0.0.1:19092"),
    auth: {
      mechanism: "scram-sha-256",
      username: ADMIN_PRINCIPAL,
      password: kafkaPasswordFor(ADMIN_PRINCIPAL, env),
    },
    logger: createLogger("kafka-cluster", "silent"),
    logLevel: "silent",
    // A question of the moment: kafka_up asks again itself.
    retries: 1,
  }).admin();
}

/** The node ids the cluster's metadata lists as brokers, ascending (a fenced broker is not listed). */
export async function liveBrokers(env?: Record<string, string | undefined>): Promise<number[]> {
  const admin = adminClient(env);
  await admin.connect();
  try {
    const { brokers } = await admin.describeCluster();
    return brokers.map((b) => b.nodeId).sort((a, b) => a - b);
  } finally {
    await admin.disconnect();
  }
}

/** Every partition with fewer in-sync replicas than replicas. */
export async function underReplicated(env?: Record<string, string | undefined>): Promise<string[]> {
  const admin = adminClient(env);
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: await admin.listTopics() });
    const lines: string[] = [];
    for (const topic of topics) {
      for (const p of topic.partitions) {
        if (p.isr.length < p.replicas.length) {
          lines.push(
            `${topic.name}/${p.partitionId} replicas=${p.replicas.join(",")} isr=${p.isr.join(",")}`,
          );
        }
      }
    }
    return lines.sort();
  } finally {
    await admin.disconnect();
  }
}

/**
 * The __consumer_offsets partition that holds a group, so whose leader is the
 * group's coordinator: Kafka's rule, abs(Java's String.hashCode of the group
 * id) modulo the topic's partition count.
 */
export function offsetsPartitionOf(groupId: string, partitions: number): number {
  let hash = 0;
  for (let i = 0; i < groupId.length; i++) hash = (Math.imul(hash, 31) + groupId.charCodeAt(i)) | 0;
  // Kafka's Utils.abs: Integer.MIN_VALUE has no positive counterpart and becomes 0.
  return (hash === -2147483648 ? 0 : Math.abs(hash)) % partitions;
}

/**
 * The node coordinating a consumer group now: the leader of the group's
 * __consumer_offsets partition (only the super user may describe that topic).
 */
export async function groupCoordinator(
  groupId: string,
  env?: Record<string, string | undefined>,
): Promise<number> {
  const admin = adminClient(env);
  await admin.connect();
  try {
    const { topics } = await admin.fetchTopicMetadata({ topics: ["__consumer_offsets"] });
    const partitions = topics[0]?.partitions ?? [];
    if (partitions.length === 0) throw new Error("__consumer_offsets has no partitions yet");
    const wanted = offsetsPartitionOf(groupId, partitions.length);
    const leader = partitions.find((p) => p.partitionId === wanted)?.leader;
    if (leader === undefined || leader < 0) throw new Error(`__consumer_offsets-${wanted} has no leader now`);
    return leader;
  } finally {
    await admin.disconnect();
  }
}

if (import.meta.main) {
  const command = process.argv[2];
  if (command === "brokers") {
    console.log((await liveBrokers()).join(" "));
  } else if (command === "under-replicated") {
    const lines = await underReplicated();
    if (lines.length > 0) console.log(lines.join("\n"));
  } else if (command === "coordinator" && process.argv[3]) {
    console.log(await groupCoordinator(process.argv[3]));
  } else {
    process.stderr.write(
      "usage: node infra/production/kafka/cluster.ts brokers|under-replicated|coordinator <group>\n",
    );
    process.exit(2);
  }
}
