import { spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import {
  createKafka,
  deleteTopics,
  EVENT_TOPIC_PARTITIONS,
  ensureTopics,
  type KafkaClient,
  parseBrokers,
  toolKafkaAuth,
} from "#lib/messaging/kafka.ts";
import { ROOT } from "../lib/procs.ts";
import { round } from "../lib/stats.ts";
import type { KafkaClientName, KafkaClientRoundOutput } from "../targets/kafka-client.ts";

export interface KafkaClientRound {
  round: number;
  client: KafkaClientName;
  /** 1-minute load average when the round started. */
  loadAverage: number;
  /** Offsets the group committed, summed over the partitions, read back by the parent: must equal the events on the topic. */
  committed: number;
  output: KafkaClientRoundOutput;
  /** CPU ms per 1000 events, produce + consume (the consumer's join included). */
  cpuMsPer1000: number;
  /** The same without decodeEvent's share, which is the same whichever client. */
  clientCpuMsPer1000: number;
  openLoopCpuMsPer1000: number;
  /** Consume with an offset commit after every message (the join included), per 1000 events. */
  eachMessageCpuMsPer1000: number;
  /** Offsets the second group committed, summed: at least the events it was asked to read. */
  committedEach: number;
}

export interface KafkaClientSummary {
  client: KafkaClientName;
  version: string;
  rounds: number;
  /** Medians over the client's rounds (a shared machine: one slow round should not move it). */
  cpuMsPer1000: number;
  /** The lowest round: on a shared machine the least disturbed reading of CPU time. */
  cpuMsPer1000Best: number;
  clientCpuMsPer1000: number;
  produceCpuMsPer1000: number;
  consumeCpuMsPer1000: number;
  producePerSec: number;
  consumePerSec: number;
  ackP50: number;
  ackP99: number;
  openLoopCpuMsPer1000: number;
  eachMessageCpuMsPer1000: number;
  eachMessagePerSec: number;
  rssPeakMb: number;
  rssBaselineMb: number;
}

export interface KafkaClientResult {
  broker: string;
  partitions: number;
  events: number;
  batchSize: number;
  rate: number;
  latencySeconds: number;
  /** Events the commit-per-message group reads. */
  eachEvents: number;
  order: KafkaClientName[];
  rounds: KafkaClientRound[];
  errors: string[];
  summary: KafkaClientSummary[];
  /** kafkajs / platformatic of the medians; > 1 means kafkajs costs more. */
  ratios?: {
    cpuPerEvent: number;
    cpuPerEventBest: number;
    clientCpuPerEvent: number;
    openLoopCpuPerEvent: number;
    eachMessageCpuPerEvent: number;
    ackP99: number;
  };
  loadAverageAtStart: number;
  maxLoadAverage: number;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/**
 * kafkajs against @platformatic/kafka, doing the platform's per-event Kafka
 * work (bench/targets/kafka-client.ts) on the development broker, each round
 * a child process of its own for a clean CPU count. Rounds alternate
 * kafkajs, platformatic, platformatic, kafkajs, ... so a machine whose load
 * drifts over the run weighs on both alike. Topics and groups are under the
 * bench principal's "bench-" prefix and the topics are deleted afterwards.
 */
export async function runKafkaClientBench(
  quick: boolean,
  runId: string,
  log: (line: string) => void,
): Promise<KafkaClientResult> {
  const events = quick ? 3_000 : 10_000;
  const batchSize = 200;
  const rate = 200;
  const latencySeconds = quick ? 8 : 15;
  const eachEvents = quick ? 300 : 1_500;
  const pairs = quick ? 1 : 4;
  const order: KafkaClientName[] = [];
  for (let p = 0; p < pairs; p++)
    order.push(
      ...(p % 2 === 0 ? (["kafkajs", "platformatic"] as const) : (["platformatic", "kafkajs"] as const)),
    );

  const brokers = parseBrokers(process.env.KAFKA_BROKERS ?? "127.0.0.1:9092");
  const admin = createKafka({
    clientId: `bench-kafka-client-${runId}`,
    brokers,
    auth: toolKafkaAuth("bench"),
  });
  const rounds: KafkaClientRound[] = [];
  const errors: string[] = [];
  const topics: string[] = [];
  const loadAverageAtStart = round(os.loadavg()[0] ?? 0, 1);
  try {
    for (const [index, client] of order.entries()) {
      const topic = `bench-${runId}.kafka-client.${index}.${client}`;
      const groupId = `bench-kafka-client-${runId}-${index}-${client}`;
      topics.push(topic);
      await ensureTopics(admin, [topic], EVENT_TOPIC_PARTITIONS);
      const loadAverage = round(os.loadavg()[0] ?? 0, 1);
      log(`kafka-client: round ${index + 1}/${order.length}, ${client} (load ${loadAverage})`);
      try {
        const output = await runChild({
          KAFKA_CLIENT: client,
          KAFKA_CLIENT_TOPIC: topic,
          KAFKA_CLIENT_GROUP: groupId,
          KAFKA_CLIENT_EVENTS: String(events),
          KAFKA_CLIENT_BATCH: String(batchSize),
          KAFKA_CLIENT_RATE: String(rate),
          KAFKA_CLIENT_LATENCY_SECONDS: String(latencySeconds),
          KAFKA_CLIENT_EACH_EVENTS: String(eachEvents),
        });
        const committed = await committedTotal(admin, groupId, topic);
        // The consumed part is the warm-up event plus the batch events.
        if (committed !== output.events + 1) {
          throw new Error(
            `${client}: the group committed ${committed} offsets, ${output.events + 1} events were consumed`,
          );
        }
        const committedEach = await committedTotal(admin, `${groupId}-each`, topic);
        if (committedEach < eachEvents) {
          throw new Error(
            `${client}: the commit-per-message group committed ${committedEach} offsets, fewer than ${eachEvents}`,
          );
        }
        const per1000 = (ms: number, n: number) => round((ms / n) * 1000, 1);
        const cpu = output.produce.cpuMs + output.consume.cpuMs;
        rounds.push({
          round: index + 1,
          client,
          loadAverage,
          committed,
          output,
          cpuMsPer1000: per1000(cpu, output.events),
          clientCpuMsPer1000: per1000(cpu - output.decodeOnlyCpuMs, output.events),
          openLoopCpuMsPer1000: per1000(output.openLoop.cpuMs, output.openLoop.sent),
          eachMessageCpuMsPer1000: per1000(
            output.consumeEachMessage.cpuMs,
            output.consumeEachMessage.handled,
          ),
          committedEach,
        });
        log(
          `kafka-client: ${client}: ${per1000(cpu, output.events)} CPU ms per 1000 events, produce ${round(output.produce.perSec, 0)}/s, consume ${round(output.consume.perSec, 0)}/s, ack p99 ${round(output.openLoop.ackLatency.p99, 1)} ms, RSS peak ${output.rssMb.peak} MB`,
        );
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        log(`kafka-client: round ${index + 1} (${client}) failed: ${message.split("\n")[0]}`);
        errors.push(`round ${index + 1} (${client}): ${message.split("\n").slice(0, 6).join(" ")}`);
      }
    }
  } finally {
    await deleteTopics(admin, topics).catch((error: unknown) => {
      errors.push(`deleting the bench topics: ${error instanceof Error ? error.message : String(error)}`);
    });
  }

  const summary = (["kafkajs", "platformatic"] as const).flatMap((client): KafkaClientSummary[] => {
    const of = rounds.filter((r) => r.client === client);
    if (of.length === 0) return [];
    const m = (f: (r: KafkaClientRound) => number, digits = 1) => round(median(of.map(f)), digits);
    return [
      {
        client,
        version: of[0]?.output.clientVersion ?? "",
        rounds: of.length,
        cpuMsPer1000: m((r) => r.cpuMsPer1000),
        cpuMsPer1000Best: Math.min(...of.map((r) => r.cpuMsPer1000)),
        clientCpuMsPer1000: m((r) => r.clientCpuMsPer1000),
        produceCpuMsPer1000: m((r) => (r.output.produce.cpuMs / r.output.events) * 1000),
        consumeCpuMsPer1000: m((r) => (r.output.consume.cpuMs / r.output.events) * 1000),
        producePerSec: m((r) => r.output.produce.perSec, 0),
        consumePerSec: m((r) => r.output.consume.perSec, 0),
        ackP50: m((r) => r.output.openLoop.ackLatency.p50, 2),
        ackP99: m((r) => r.output.openLoop.ackLatency.p99, 2),
        openLoopCpuMsPer1000: m((r) => r.openLoopCpuMsPer1000),
        eachMessageCpuMsPer1000: m((r) => r.eachMessageCpuMsPer1000),
        eachMessagePerSec: m((r) => r.output.consumeEachMessage.perSec, 0),
        rssPeakMb: m((r) => r.output.rssMb.peak),
        rssBaselineMb: m((r) => r.output.rssMb.baseline),
      },
    ];
  });
  const kj = summary.find((s) => s.client === "kafkajs");
  const pk = summary.find((s) => s.client === "platformatic");
  if (!kj || !pk) throw new Error(`kafka-client: no round for one of the clients: ${errors.join("; ")}`);
  return {
    broker: brokers.join(","),
    partitions: EVENT_TOPIC_PARTITIONS,
    events,
    batchSize,
    rate,
    latencySeconds,
    eachEvents,
    order,
    rounds,
    errors,
    summary,
    ratios: {
      cpuPerEvent: round(kj.cpuMsPer1000 / pk.cpuMsPer1000, 2),
      cpuPerEventBest: round(kj.cpuMsPer1000Best / pk.cpuMsPer1000Best, 2),
      clientCpuPerEvent: round(kj.clientCpuMsPer1000 / pk.clientCpuMsPer1000, 2),
      openLoopCpuPerEvent: round(kj.openLoopCpuMsPer1000 / pk.openLoopCpuMsPer1000, 2),
      eachMessageCpuPerEvent: round(kj.eachMessageCpuMsPer1000 / pk.eachMessageCpuMsPer1000, 2),
      ackP99: round(kj.ackP99 / pk.ackP99, 2),
    },
    loadAverageAtStart,
    maxLoadAverage: Math.max(loadAverageAtStart, ...rounds.map((r) => r.loadAverage)),
  };
}

/** One round in a child process; its last stdout line is its result. */
function runChild(extraEnv: Record<string, string>): Promise<KafkaClientRoundOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", path.join(ROOT, "bench/targets/kafka-client.ts")], {
      cwd: ROOT,
      env: { ...process.env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const last = stdout.trim().split("\n").at(-1) ?? "";
      if (code === 0 && last.startsWith("{")) resolve(JSON.parse(last) as KafkaClientRoundOutput);
      else
        reject(new Error(`child exited ${code ?? signal}: ${stderr.trim().split("\n").slice(-6).join(" ")}`));
    });
  });
}

/** Offsets the group committed on the topic, summed over its partitions (fresh topic: = messages consumed). */
async function committedTotal(admin: KafkaClient, groupId: string, topic: string): Promise<number> {
  const client = admin.admin();
  await client.connect();
  try {
    const [entry] = await client.fetchOffsets({ groupId, topics: [topic] });
    return (entry?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
  } finally {
    await client.disconnect();
  }
}

const ms = (v: number) => (Number.isFinite(v) ? round(v, 2) : "n/a");

/** The report's section (bench/report.ts markdown()). */
export function kafkaClientMarkdown(r: KafkaClientResult): string[] {
  const kj = r.summary.find((s) => s.client === "kafkajs");
  const pk = r.summary.find((s) => s.client === "platformatic");
  const lines = [
    "",
    "## Kafka client: kafkajs vs @platformatic/kafka",
    "",
    `The Kafka work the platform does per order event, each client in a child process of its own (process.cpuUsage() of that child), rounds in the order ${r.order.join(", ")}, against the development broker ${r.broker} (SASL/SCRAM-SHA-256 as the bench principal, one broker, so acks=all is the leader's ack), ${r.partitions} partitions. ` +
      `Per round: ${r.events} pre-encoded OrderPlaced events (lib/messaging/events.ts encodeEvent, CloudEvents headers and a traceparent) sent in batches of ${r.batchSize}, one send at a time, idempotent producer, acks=all; ` +
      "then read back in a fresh group from the beginning, every message checked and decoded (decodeEvent), each partition's next offset committed after every batch (the parent reads the committed offsets back: they must add up to the events); " +
      `then the first ${r.eachEvents} read again in a second group with a commit after every message, as lib/messaging's runEventConsumer does; ` +
      `then single events offered at ${r.rate}/s for ${r.latencySeconds} s (open loop), ack latency from the scheduled send. Medians over each client's rounds.`,
    "",
    "| client | version | rounds | CPU ms / 1000 events (produce + consume) | best round | without decodeEvent | produce CPU ms / 1000 | consume CPU ms / 1000 | produce events/s | consume events/s | commit per message: CPU ms / 1000, events/s | ack p50 / p99 ms at rate | CPU ms / 1000 at rate | RSS baseline / peak MB |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...r.summary.map(
      (s) =>
        `| ${s.client} | ${s.version} | ${s.rounds} | ${s.cpuMsPer1000} | ${s.cpuMsPer1000Best} | ${s.clientCpuMsPer1000} | ${s.produceCpuMsPer1000} | ${s.consumeCpuMsPer1000} | ${s.producePerSec} | ${s.consumePerSec} | ${s.eachMessageCpuMsPer1000}, ${s.eachMessagePerSec} | ${ms(s.ackP50)} / ${ms(s.ackP99)} | ${s.openLoopCpuMsPer1000} | ${s.rssBaselineMb} / ${s.rssPeakMb} |`,
    ),
  ];
  if (r.ratios && kj && pk)
    lines.push(
      "",
      `kafkajs / @platformatic/kafka: CPU per event **${r.ratios.cpuPerEvent}x** (medians; best rounds ${r.ratios.cpuPerEventBest}x; ${r.ratios.clientCpuPerEvent}x without the decoding both do alike), consuming with a commit per message ${r.ratios.eachMessageCpuPerEvent}x, CPU per event at ${r.rate}/s ${r.ratios.openLoopCpuPerEvent}x, ack p99 at ${r.rate}/s ${r.ratios.ackP99}x.`,
    );
  lines.push(
    "",
    "| round | client | load | produce CPU ms | consume CPU ms (join included) | decodeEvent alone ms | join ms | consume batches | committed | commit per message: CPU ms, commits, events/s | produce /s | consume /s | ack p50 / p99 / max ms | open-loop ok / sent | RSS peak MB |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...r.rounds.map((x) => {
      const o = x.output;
      return `| ${x.round} | ${x.client} | ${x.loadAverage} | ${round(o.produce.cpuMs, 0)} | ${round(o.consume.cpuMs, 0)} | ${round(o.decodeOnlyCpuMs, 0)} | ${round(o.consume.joinMs, 0)} | ${o.consume.batches} | ${x.committed} | ${round(o.consumeEachMessage.cpuMs, 0)}, ${o.consumeEachMessage.commits}, ${round(o.consumeEachMessage.perSec, 0)} | ${round(o.produce.perSec, 0)} | ${round(o.consume.perSec, 0)} | ${ms(o.openLoop.ackLatency.p50)} / ${ms(o.openLoop.ackLatency.p99)} / ${ms(o.openLoop.ackLatency.max)} | ${o.openLoop.ok} / ${o.openLoop.sent} | ${o.rssMb.peak} |`;
    }),
  );
  const loaded = r.maxLoadAverage > 2;
  lines.push(
    "",
    `Load average (1 min) at the start: ${r.loadAverageAtStart}, highest at a round's start: ${r.maxLoadAverage}.` +
      (loaded
        ? " **Above 2: other work shared the two cores during this run**, so wall-clock numbers (throughput, latency) are blurred more than CPU time; compare the clients' rows with each other, not with other runs."
        : " At or below 2 throughout."),
  );
  lines.push(
    "",
    "Batches here are a partition's part of a fetch (12 commits for the whole topic), so the batch columns hold almost no commit cost; the platform's consumers commit after every message, which the commit-per-message column measures (its join is spread over fewer events, so it is an upper bound). " +
      "The consumer reads a topic already full, so its batches are large; a live consumer at a trickle reads batches of a few messages, where per-fetch overhead weighs more (the column at the fixed rate shows that for the producer). " +
      "@platformatic/kafka ran with compatibilityPartitioner: its default partitioner (murmur2 >>> 0) is not Java's, so without it keys would land on other partitions than kafkajs (and the JVM tools) put them. " +
      "The RSS baseline is the child after loading the client-neutral modules and pre-encoding every event; the peak adds the client and what it buffers.",
  );
  if (r.errors.length) lines.push("", `Failed rounds: ${r.errors.join("; ")}`);
  return lines;
}
