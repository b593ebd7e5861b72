/**
 * Shows, on the running production cluster, what its replication settings
 * promise (run by hand; exits 1 when a promise does not hold):
 *  1. a topic made by lib's ensureTopics has replication factor 3, ISR 3,
 *     min.insync.replicas 2 (the brokers' defaults), and so have the internal topics;
 *  2. with one node kill -9'd, lib's idempotent acks=all publishes still succeed
 *     and lib's consumer goes on receiving; a send spanning every partition,
 *     made while the killed node still leads some, either fails or is written
 *     whole (kafkajs alone can resolve it without the killed leader's share,
 *     which is shown beside it);
 *  3. a partition with fewer in-sync replicas than min.insync.replicas refuses
 *     an acks=all write with NOT_ENOUGH_REPLICAS;
 *  4. with two nodes down, an acks=all publish is not acknowledged;
 *  5. `infra.sh up kafka` brings both back, every partition is in sync again
 *     and the consumer receives every acknowledged event exactly once.
 * Before 2, the node coordinating the consumer's group is kill -9'd and
 * brought back: the consumer goes on within seconds (it finds the new
 * coordinator by rejoining).
 *
 *   ACCORD_TOPOLOGY=production bash infra/infra.sh up kafka
 *   node infra/production/kafka/prove-cluster.ts
 *
 * KAFKA_BROKERS defaults to the cluster's three nodes. Works as the "test"
 * principal on a test-cluster-<id>. topic (admin only for describing), and
 * deletes its topics at the end.
 */
import { create } from "@bufbuild/protobuf";
import { Partitioners } from "kafkajs";
import { InventoryReleasedSchema } from "#gen/accord/inventory/v1/events_pb.js";
import { type EncodedEvent, encodeEvent, sourceFor } from "#lib/messaging/events.ts";
import {
  createIdempotentProducer,
  createKafka,
  deleteTopics,
  ensureTopics,
  type KafkaClient,
  KafkaSendIncompleteError,
  kafkaErrorCode,
  kafkaPasswordFor,
  parseBrokers,
  publishEvents,
  runEventConsumer,
  toolKafkaAuth,
} from "#lib/messaging/kafka.ts";
import { createLogger } from "#lib/observability/logger.ts";
import {
  brokerPids,
  type ClusterNode,
  coordinatorNode,
  killBroker,
  restartCluster,
} from "#test/support/kafka-cluster.ts";
import { shortId } from "#test/support/postgres.ts";

const brokers = parseBrokers(process.env.KAFKA_BROKERS || "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096");
const silent = createLogger("prove-cluster", "silent");
const t0 = Date.now();
const say = (line: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${line}`);
const failures: string[] = [];
function check(ok: boolean, what: string) {
  say(`${ok ? "OK  " : "FAIL"} ${what}`);
  if (!ok) failures.push(what);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function client(user: string, retries?: number): KafkaClient {
  return createKafka({
    clientId: `prove-cluster-${user}`,
    brokers,
    auth:
      user === "admin"
        ? { mechanism: "scram-sha-256", username: "admin", password: kafkaPasswordFor("admin") }
        : toolKafkaAuth(user, { ...process.env, KAFKA_USERNAME: "", KAFKA_PASSWORD: "" }),
    logger: silent,
    logLevel: "silent",
    ...(retries !== undefined ? { retries } : {}),
  });
}

const id = shortId();
const topic = `test-cluster-${id}.proof`;
const strictTopic = `test-cluster-${id}.strict`;
const kafka = client("test");
const admin = client("admin").admin();

interface PartitionState {
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
}
async function partitions(name: string): Promise<PartitionState[]> {
  const { topics } = await admin.fetchTopicMetadata({ topics: [name] });
  return (topics[0]?.partitions ?? [])
    .map((p) => ({ partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr }))
    .sort((a, b) => a.partition - b.partition);
}
const describe = (ps: PartitionState[]) =>
  ps.map((p) => `p${p.partition}:L${p.leader}[${p.replicas.join("")}|${p.isr.join("")}]`).join(" ");

/** Polls until every partition of `name` has `size` in-sync replicas (and a leader). */
async function waitForIsr(name: string, size: number, timeoutMs: number): Promise<PartitionState[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ps = await partitions(name).catch(() => []);
    if (ps.length > 0 && ps.every((p) => p.isr.length === size && p.leader >= 0)) return ps;
    if (Date.now() > deadline) return ps;
    await sleep(500);
  }
}

let sequence = 0;
function events(count: number): EncodedEvent[] {
  return Array.from({ length: count }, () => {
    const reservationId = `r-${String(++sequence).padStart(4, "0")}`;
    return encodeEvent(
      InventoryReleasedSchema,
      create(InventoryReleasedSchema, { reservationId, orderId: `o-${sequence}` }),
      // Varied keys, so the events land on every partition.
      { source: sourceFor("inventory"), key: reservationId },
    );
  });
}
const acknowledged = new Set<string>();
const received: string[] = [];

async function publish(
  producer: Awaited<ReturnType<typeof createIdempotentProducer>>,
  batch: EncodedEvent[],
) {
  // One send per event: each lands on its key's partition, so every partition is exercised.
  for (const event of batch) {
    await publishEvents(producer, topic, [event]);
    acknowledged.add(event.key);
  }
}

/** Waits until every acknowledged event has been consumed. */
async function waitReceived(timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const seen = () => new Set(received);
  while (![...acknowledged].every((k) => seen().has(k))) {
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
  return true;
}

await admin.connect();
try {
  let pids = brokerPids();
  say(`nodes running: ${JSON.stringify(pids)} on ${brokers.join(",")}`);
  check(Object.keys(pids).length === 3, "three nodes run (pid files of infra.sh)");

  // 1. Replication of a topic made the way services make theirs.
  await ensureTopics(kafka, [topic, strictTopic]);
  let ps = await waitForIsr(topic, 3, 15_000);
  say(`${topic}: ${describe(ps)}`);
  check(
    ps.length === 12 && ps.every((p) => p.replicas.length === 3 && p.isr.length === 3),
    "ensureTopics' topic: 12 partitions, each 3 replicas, ISR 3",
  );
  const [config] = (
    await admin.describeConfigs({
      resources: [
        { type: 2, name: topic, configNames: ["min.insync.replicas", "unclean.leader.election.enable"] },
      ],
      includeSynonyms: false,
    })
  ).resources;
  const value = (name: string) => config?.configEntries.find((e) => e.configName === name)?.configValue;
  say(
    `${topic}: min.insync.replicas=${value("min.insync.replicas")} unclean.leader.election.enable=${value("unclean.leader.election.enable")}`,
  );
  check(value("min.insync.replicas") === "2", "min.insync.replicas 2");
  check(value("unclean.leader.election.enable") === "false", "unclean leader election off");

  // 2. A consumer and a producer of lib, then one node kill -9'd.
  const dlqProducer = await createIdempotentProducer(kafka);
  const consumer = await runEventConsumer({
    kafka,
    groupId: `test-cluster-${id}`,
    topics: [topic],
    logger: silent,
    dlqProducer,
    handle: async (event) => {
      const message = event.message as { reservationId?: string };
      if (message.reservationId) received.push(message.reservationId);
    },
  });
  const producer = await createIdempotentProducer(kafka);
  // For the failover sends (2b), two producers that have connected but not sent yet, as
  // a relay's producer is after it was replaced: lib's, and kafkajs's own idempotent
  // producer configured as lib's but without its answer check.
  const failoverProducer = await createIdempotentProducer(kafka);
  const bareProducer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  await bareProducer.connect();
  for (const name of ["__consumer_offsets"]) {
    const internal = await partitions(name);
    say(
      `${name}: ${internal.length} partitions, replicas per partition ${[...new Set(internal.map((p) => p.replicas.length))].join(",")}`,
    );
    check(
      internal.length > 0 && internal.every((p) => p.replicas.length === 3),
      `${name} has replication factor 3`,
    );
  }
  await publish(producer, events(24));
  check(await waitReceived(30_000), "before any fault: 24 events acknowledged and consumed");

  // 2a. The node coordinating the consumer's group kill -9'd while events keep
  // coming, with the partitions' leaders still spread over the three nodes as a
  // new topic's are: every commit goes to the coordinator, so this is the kill a
  // consumer feels most (ADR 0024's amendment). It must go on within seconds.
  const groupId = `test-cluster-${id}`;
  const coordinator = await coordinatorNode(groupId);
  const receivedAt: number[] = [];
  const acknowledgedAt: number[] = [];
  const countBefore = received.length;
  const watcher = setInterval(() => {
    while (receivedAt.length < received.length - countBefore) receivedAt.push(Date.now());
  }, 20);
  let feeding = true;
  const feed = (async () => {
    while (feeding) {
      await publish(producer, events(1)).then(
        () => acknowledgedAt.push(Date.now()),
        () => undefined,
      );
      await sleep(100);
    }
  })();
  await sleep(3000);
  const coordinatorPid = await killBroker(coordinator);
  const coordinatorKilledAt = Date.now();
  say(`kill -9 node ${coordinator} (pid ${coordinatorPid}), the coordinator of ${groupId}`);
  await sleep(15_000);
  feeding = false;
  await feed;
  clearInterval(watcher);
  const times = [coordinatorKilledAt, ...receivedAt.filter((t) => t > coordinatorKilledAt)];
  const longestGapMs = Math.max(0, ...times.slice(1).map((t, i) => t - (times[i] as number)));
  say(
    `coordinator down 15 s: ${acknowledgedAt.filter((t) => t > coordinatorKilledAt).length} events acknowledged, ${times.length - 1} consumed, longest time without one consumed ${longestGapMs} ms (from the kill)`,
  );
  check(
    times.length > 1 && longestGapMs < 8_000,
    "the coordinator killed: the consumer finds the new one and goes on within 8 s",
  );
  await restartCluster();
  check(
    await waitReceived(60_000),
    `after the coordinator's return: every acknowledged event consumed (${acknowledged.size})`,
  );
  await waitForIsr(topic, 3, 90_000);
  // The coordinator's node has a new pid now.
  pids = brokerPids();

  // The node leading most of the topic's partitions, so most of them fail over.
  const leads = new Map<number, number>();
  for (const p of ps) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
  const first = [...leads].sort((a, b) => b[1] - a[1])[0]?.[0] as ClusterNode;
  const firstPid = await killBroker(first);
  say(`kill -9 node ${first} (pid ${firstPid}), leader of ${leads.get(first)} partitions`);

  // 2b. From the kill until well after node `first` is fenced (3 s) and its partitions
  // have new leaders: sends of 48 events over every partition, from lib's producer and
  // from kafkajs's bare one, side by side: back to back until a second after the fence,
  // then one every 200 ms. Back to back all along they made about 16,000 events, more
  // than the one consumer (a commit per event on three replicas) worked through in the
  // 240 s the next check waits, with or without faults.
  const killedAt = Date.now();
  const outageMs = 12_000;
  const pace = () => (Date.now() - killedAt < 4_000 ? Promise.resolve() : sleep(200));
  const bareResolved: EncodedEvent[] = [];
  const bareSent: EncodedEvent[] = [];
  const bareOutcomes = new Map<string, number>();
  const libOutcomes = new Map<string, number>();
  const tally = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  await Promise.all([
    (async () => {
      while (Date.now() - killedAt < outageMs) {
        const batch = events(48);
        // What lib's callers do (the outbox relay): send the same batch again until it resolves.
        for (let attempt = 1; ; attempt++) {
          const outcome = await publishEvents(failoverProducer, topic, batch).then(
            () => "resolved",
            (error) =>
              error instanceof KafkaSendIncompleteError
                ? "incomplete (KafkaSendIncompleteError)"
                : (kafkaErrorCode(error) ?? String(error)),
          );
          tally(libOutcomes, outcome);
          if (outcome === "resolved") {
            for (const e of batch) acknowledged.add(e.key);
            await pace();
            break;
          }
          if (attempt === 5) {
            check(false, `lib's send did not resolve in 5 attempts: ${outcome}`);
            break;
          }
        }
      }
    })(),
    (async () => {
      while (Date.now() - killedAt < outageMs) {
        const batch = events(48);
        bareSent.push(...batch);
        const outcome = await bareProducer
          .send({
            topic,
            acks: -1,
            messages: batch.map((e) => ({ key: e.key, value: e.value, headers: e.headers })),
          })
          .then(
            () => "resolved",
            (error) => kafkaErrorCode(error) ?? String(error),
          );
        tally(bareOutcomes, outcome);
        if (outcome === "resolved") bareResolved.push(...batch);
        await pace();
      }
    })(),
  ]);
  const show = (m: Map<string, number>) => [...m].map(([k, n]) => `${n} ${k}`).join(", ");
  say(
    `sends of 48 events during the failover: lib's producer ${show(libOutcomes)}; kafkajs's bare producer ${show(bareOutcomes)}`,
  );
  let started = Date.now();
  await publish(producer, events(24)).then(
    () => check(true, `one node down: 24 acks=all publishes acknowledged (${Date.now() - started} ms)`),
    (error) => check(false, `one node down: publish failed: ${kafkaErrorCode(error) ?? error}`),
  );
  // Thousands of events were sent during the failover; one consumer works through them in order.
  check(
    await waitReceived(240_000),
    `one node down: the consumer goes on (every acknowledged event received, lib's sends during the failover included)`,
  );
  const arrived = new Set(received);
  const bareLost = bareResolved.filter((e) => !arrived.has(e.key));
  say(
    `kafkajs's bare producer: ${bareLost.length} of the ${bareResolved.length} events of its resolved sends never arrived${
      bareLost.length
        ? ` (${bareLost
            .slice(0, 6)
            .map((e) => e.key)
            .join(",")}...)`
        : ""
    }`,
  );
  ps = await waitForIsr(topic, 2, 30_000);
  say(`${topic}: ${describe(ps)}`);
  check(
    ps.every((p) => p.isr.length === 2 && !p.isr.includes(first)),
    `ISR 2 without node ${first} everywhere`,
  );

  // 3. ISR 2 < min.insync.replicas 3: the broker refuses acks=all.
  await admin.alterConfigs({
    resources: [{ type: 2, name: strictTopic, configEntries: [{ name: "min.insync.replicas", value: "3" }] }],
    validateOnly: false,
  });
  await waitForIsr(strictTopic, 2, 30_000);
  const strictProducer = await createIdempotentProducer(client("test", 1));
  started = Date.now();
  const strictCode = await strictProducer
    .send({ topic: strictTopic, acks: -1, messages: [{ key: "k", value: "v" }] })
    .then(
      () => "acknowledged",
      (error) => kafkaErrorCode(error) ?? String(error),
    );
  await strictProducer.disconnect();
  say(`ISR 2, min.insync.replicas 3: acks=all send answered ${strictCode} (${Date.now() - started} ms)`);
  check(
    strictCode === "NOT_ENOUGH_REPLICAS",
    "ISR below min.insync.replicas: NOT_ENOUGH_REPLICAS, not acknowledged",
  );

  // 4. A second node down (and with it the controller quorum: 1 of 3 voters).
  // The producer connects (and gets its producer id) while two nodes answer.
  const lonely = await createIdempotentProducer(client("test", 1));
  const second = ([1, 2, 3] as const).find(
    (n) => n !== first && brokerPids()[n] !== undefined,
  ) as ClusterNode;
  const secondPid = await killBroker(second);
  say(`kill -9 node ${second} (pid ${secondPid}): one node of three left`);
  const attempts: string[] = [];
  for (const event of events(3)) {
    started = Date.now();
    const code = await publishEvents(lonely, topic, [event]).then(
      () => {
        acknowledged.add(event.key);
        return "acknowledged";
      },
      (error) => kafkaErrorCode(error) ?? String(error),
    );
    attempts.push(code);
    say(`two nodes down: acks=all publish of ${event.key} answered ${code} (${Date.now() - started} ms)`);
  }
  await lonely.disconnect().catch(() => undefined);
  check(!attempts.includes("acknowledged"), "two nodes down: no acks=all publish acknowledged");

  // 5. Back up: only the two dead nodes are started.
  started = Date.now();
  const output = await restartCluster();
  say(
    `infra.sh up kafka (${Date.now() - started} ms):\n${output
      .trim()
      .split("\n")
      .map((l) => `           ${l}`)
      .join("\n")}`,
  );
  const after = brokerPids();
  check(after[first] !== undefined && after[second] !== undefined, `nodes ${first} and ${second} run again`);
  check(
    Object.entries(pids).every(
      ([n, pid]) => Number(n) === first || Number(n) === second || after[Number(n) as ClusterNode] === pid,
    ),
    "the surviving node kept its pid (not restarted)",
  );
  ps = await waitForIsr(topic, 3, 90_000);
  say(`${topic}: ${describe(ps)}`);
  check(
    ps.every((p) => p.isr.length === 3),
    "after rejoining: ISR 3 everywhere",
  );
  await publish(producer, events(24));
  const total = acknowledged.size;
  check(await waitReceived(60_000), `after rejoining: every acknowledged event consumed (${total})`);
  await sleep(3000);
  const distinct = new Set(received);
  const bareKeys = new Set(bareSent.map((e) => e.key));
  const unacknowledgedSeen = [...distinct].filter((k) => !acknowledged.has(k) && !bareKeys.has(k));
  say(
    `consumed ${received.length} deliveries of ${distinct.size} events; ${unacknowledgedSeen.length} of the unacknowledged ones appeared later (${unacknowledgedSeen.join(",") || "none"})`,
  );
  check(
    [...acknowledged].every((k) => distinct.has(k)),
    "no acknowledged event lost",
  );
  // At least once: an offset commit cut off by the failover means a redelivery, not a loss.
  say(`redeliveries: ${received.length - distinct.size}`);

  await producer.disconnect();
  await bareProducer.disconnect();
  await failoverProducer.disconnect();
  await consumer.stop();
  await dlqProducer.disconnect();
} finally {
  await deleteTopics(client("admin"), [topic, strictTopic]).catch(() => undefined);
  await admin.deleteGroups([`test-cluster-${id}`]).catch(() => undefined);
  await admin.disconnect();
}
say(
  failures.length === 0
    ? "all checks held"
    : `${failures.length} check(s) failed:\n  ${failures.join("\n  ")}`,
);
process.exit(failures.length === 0 ? 0 : 1);
