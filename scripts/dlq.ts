import { parseArgs } from "node:util";
import type { ConfirmChannel, GetMessage } from "amqplib";
import {
  attemptsFrom,
  connectRabbit,
  deathReason,
  openConfirmChannel,
  originalRoutingKey,
  replayDeadLetter,
} from "#lib/messaging/rabbit.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { taskTopologyNames } from "#services/notifications/src/topology.ts";

/**
 * Lists, inspects and replays a task dead-letter queue.
 *
 *   tsx scripts/dlq.ts list    <queue> [--limit N] [--prefix P]
 *   tsx scripts/dlq.ts inspect <queue> --id <messageId> [--prefix P]
 *   tsx scripts/dlq.ts replay  <queue> [--limit N] [--id <messageId>] [--prefix P]
 *
 * <queue> is the work queue (email, webhook, analytics) or its DLQ name.
 * Reading takes messages with basic.get and puts back those not replayed
 * (nack + requeue), so listing never loses a message; at most the queue's
 * depth at the start is read, so a replayed task failing again is not
 * picked up twice in one run. Replay republishes to accord.tasks with the
 * original routing key, x-attempt reset to 1 and the broker's dead-letter
 * headers removed, waits for the publisher confirm, and only then acks the
 * DLQ copy.
 *
 * An operator's tool: it calls no RPC, so it needs no token; what lets it
 * in is RabbitMQ's own login (AMQP_URL), which only operators hold.
 */

const USAGE =
  "usage: tsx scripts/dlq.ts list|inspect|replay <queue> [--limit N] [--id <messageId>] [--prefix P]";

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function parse() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      limit: { type: "string" },
      id: { type: "string" },
      prefix: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const [command, queueArg] = positionals;
  if (command !== "list" && command !== "inspect" && command !== "replay") fail(USAGE);
  if (!queueArg) fail(USAGE);
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isSafeInteger(limit) || limit < 1) fail("--limit must be a positive integer");
  if (command === "inspect" && !values.id) fail("inspect needs --id <messageId>");
  const prefix = values.prefix ?? process.env.NOTIFICATIONS_RABBIT_PREFIX ?? "";
  // Accept "webhook", "webhook.dlq" and the prefixed forms alike.
  let queue = queueArg.endsWith(".dlq") ? queueArg.slice(0, -4) : queueArg;
  if (prefix && queue.startsWith(prefix)) queue = queue.slice(prefix.length);
  return { command, queue, limit, id: values.id, prefix, json: values.json ?? false };
}

function preview(content: Buffer, bytes = 32): string {
  const hex = content.subarray(0, bytes).toString("hex");
  return content.length > bytes ? `${hex}...` : hex;
}

function printable(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString();
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(printable);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, printable(v)]));
  }
  return value;
}

function summary(message: GetMessage, workQueue: string) {
  return {
    messageId: message.properties.messageId as string | undefined,
    reason: deathReason(message, workQueue),
    attempts: attemptsFrom(message),
    routingKey: originalRoutingKey(message, workQueue),
    size: message.content.length,
    firstBytes: preview(message.content),
  };
}

async function main() {
  const args = parse();
  const logger = createLogger("dlq", process.env.LOG_LEVEL ?? "warn");
  const url = process.env.AMQP_URL ?? "amqp://accord:accord@127.0.0.1:5672";
  const names = taskTopologyNames(args.prefix);
  const workQueue = names.queue(args.queue);
  const dlq = names.dlq(args.queue);
  const connection = await connectRabbit(url, { logger, connectionName: "dlq-cli" });
  let channel: ConfirmChannel | undefined;
  try {
    channel = await openConfirmChannel(connection, logger);
    let depth: number;
    try {
      depth = (await channel.checkQueue(dlq)).messageCount;
    } catch {
      fail(`queue ${dlq} does not exist (wrong name or --prefix?)`, 1);
    }
    // Searching by id may need the whole queue; otherwise --limit bounds the read.
    const toRead = Math.min(depth, args.id === undefined ? args.limit : depth);
    const held: GetMessage[] = [];
    for (let i = 0; i < toRead; i++) {
      const message = await channel.get(dlq, { noAck: false });
      if (!message) break;
      held.push(message);
    }
    const matches = (m: GetMessage) => args.id === undefined || m.properties.messageId === args.id;
    const out = (line: string) => process.stdout.write(`${line}\n`);
    const settled = new Set<GetMessage>();
    // Everything read but not replayed goes back to the DLQ.
    const putBack = () => {
      for (const m of held) if (!settled.has(m)) channel?.nack(m, false, true);
    };

    if (args.command === "list") {
      if (args.json) out(JSON.stringify(held.map((m) => summary(m, workQueue))));
      else {
        out(`${dlq}: ${depth} message(s)${depth > held.length ? `, showing ${held.length}` : ""}`);
        for (const m of held) {
          const s = summary(m, workQueue);
          out(
            `${s.messageId ?? "(no id)"}  reason=${s.reason}  attempts=${s.attempts}  bytes=${s.size}  ${s.firstBytes}`,
          );
        }
      }
    } else if (args.command === "inspect") {
      const found = held.find(matches);
      if (!found) {
        putBack();
        await channel.close();
        fail(`no message with id ${args.id} in ${dlq}`, 1);
      }
      out(
        JSON.stringify(
          {
            ...summary(found, workQueue),
            properties: printable({ ...found.properties, headers: undefined }),
            headers: printable(found.properties.headers ?? {}),
            bodyBase64: found.content.toString("base64"),
          },
          null,
          2,
        ),
      );
    } else {
      let replayed = 0;
      for (const m of held) {
        if (replayed >= args.limit || !matches(m)) continue;
        const routingKey = await replayDeadLetter(
          channel,
          names,
          workQueue,
          m,
          `replay-${Date.now()}-${replayed}`,
        );
        // Confirmed above; only now may the DLQ copy go.
        channel.ack(m);
        settled.add(m);
        replayed++;
        out(`replayed ${m.properties.messageId ?? "(no id)"} -> ${names.tasksExchange} / ${routingKey}`);
      }
      if (args.id !== undefined && replayed === 0) {
        putBack();
        await channel.close();
        fail(`no message with id ${args.id} in ${dlq}`, 1);
      }
      out(`replayed ${replayed} message(s) from ${dlq}`);
    }
    putBack();
    await channel.close();
  } finally {
    await connection.close().catch(() => {});
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`dlq: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
