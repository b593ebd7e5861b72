import { parseArgs } from "node:util";
import type { ConfirmChannel, GetMessage } from "amqplib";
import {
  DeadLetterQueueMissing,
  type DeadLetterSession,
  deadLetterSummary,
  openDeadLetters,
  workQueueName,
} from "#lib/messaging/dead-letters.ts";
import { connectRabbit, openConfirmChannel } from "#lib/messaging/rabbit.ts";
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
 * Reading and replaying is lib/messaging/dead-letters.ts, the same code the
 * console's DeadLetterService runs: listing puts every message back, and a
 * replayed copy is confirmed by the broker before its DLQ copy is acked.
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
  const queue = workQueueName(queueArg, prefix);
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
  const { firstDeathAt: _time, ...rest } = deadLetterSummary(message, workQueue);
  return { ...rest, firstBytes: preview(message.content) };
}

async function main() {
  const args = parse();
  const logger = createLogger("dlq", process.env.LOG_LEVEL ?? "warn");
  const url = process.env.AMQP_URL ?? "amqp://accord:accord@127.0.0.1:5672";
  const names = taskTopologyNames(args.prefix);
  const connection = await connectRabbit(url, { logger, connectionName: "dlq-cli" });
  let channel: ConfirmChannel | undefined;
  try {
    channel = await openConfirmChannel(connection, logger);
    let session: DeadLetterSession;
    try {
      // Searching by id may need the whole queue; otherwise --limit bounds the read.
      session = await openDeadLetters(
        channel,
        names,
        args.queue,
        args.id === undefined ? args.limit : Number.MAX_SAFE_INTEGER,
      );
    } catch (error) {
      if (error instanceof DeadLetterQueueMissing) fail(`${error.message} (wrong name or --prefix?)`, 1);
      throw error;
    }
    const { dlq, depth, held, workQueue } = session;
    const matches = (m: GetMessage) => args.id === undefined || m.properties.messageId === args.id;
    const out = (line: string) => process.stdout.write(`${line}\n`);

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
        session.putBack();
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
        const routingKey = await session.replay(m, `replay-${Date.now()}-${replayed}`);
        replayed++;
        out(`replayed ${m.properties.messageId ?? "(no id)"} -> ${names.tasksExchange} / ${routingKey}`);
      }
      if (args.id !== undefined && replayed === 0) {
        session.putBack();
        await channel.close();
        fail(`no message with id ${args.id} in ${dlq}`, 1);
      }
      out(`replayed ${replayed} message(s) from ${dlq}`);
    }
    session.putBack();
    await channel.close();
  } finally {
    await connection.close().catch(() => {});
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`dlq: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
