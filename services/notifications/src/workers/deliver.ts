import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { fromBinary } from "@bufbuild/protobuf";
import pg from "pg";
import {
  inTransaction,
  isDatabaseUnavailable,
  isPgConnectionLoss,
  type Pool,
  type PoolClient,
} from "#lib/db.ts";
import { claimEvent } from "#lib/messaging/inbox.ts";
import {
  DependencyUnavailableError,
  nextRoute,
  PoisonMessageError,
  type Task,
} from "#lib/messaging/rabbit.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { type DeliveryKey, markDelivered, recordFailure } from "../db/notifications-repo.ts";

export interface WorkerDeps {
  pool: Pool;
  logger: Logger;
  /** The delays the topology was declared with: the last attempt is the one past them. */
  retryDelaysMs: readonly number[];
}

/** Decodes a task body; anything that is not the expected message is poison (straight to the DLQ). */
export function decodeTask<Desc extends DescMessage>(schema: Desc, task: Task): MessageShape<Desc> {
  try {
    return fromBinary(schema, task.body);
  } catch (err) {
    throw new PoisonMessageError(
      `message ${task.messageId ?? "(no id)"} is not a valid ${schema.typeName}: ${(err as Error).message}`,
    );
  }
}

export function headerString(task: Task, name: string): string | undefined {
  const value = task.headers[name];
  if (typeof value === "string") return value;
  if (Buffer.isBuffer(value)) return value.toString();
  return undefined;
}

/**
 * Runs a side effect at most once per task id (inbox claim by task id in the
 * transaction that also marks the delivery done). The claim is held while
 * the effect runs, so a concurrent duplicate waits and then skips. On
 * failure, the attempt is recorded outside the rolled-back transaction, as
 * DEAD_LETTERED when lib/rabbit is about to dead-letter it (poison, or no
 * retry delay left: the same nextRoute decision consumeTasks makes). When
 * the database itself is unreachable, or cannot record a dead-lettering, the
 * task goes back on its queue without using up an attempt
 * (DependencyUnavailableError).
 */
export async function deliverOnce(
  deps: WorkerDeps,
  consumer: string,
  task: Task,
  key: DeliveryKey,
  effect: (client: PoolClient) => Promise<void>,
): Promise<"delivered" | "duplicate"> {
  const { pool, logger, retryDelaysMs } = deps;
  const log = logger.child({
    consumer,
    deliveryId: key.deliveryId,
    eventId: key.eventId,
    attempt: task.attempt,
  });
  try {
    const delivered = await inTransaction(pool, async (client) => {
      if (!(await claimEvent(client, key.deliveryId, consumer))) return false;
      try {
        await effect(client);
      } catch (err) {
        throw new EffectFailed(err);
      }
      await markDelivered(client, key, task.attempt);
      return true;
    });
    if (delivered) log.info("delivered");
    else log.info("duplicate task skipped");
    return delivered ? "delivered" : "duplicate";
  } catch (caught) {
    // Outside the effect only the database can fail; inside it, only pg's own
    // errors are the database's (an SMTP server refusing is the receiver's).
    const err = caught instanceof EffectFailed ? caught.cause : caught;
    const ours =
      caught instanceof EffectFailed ? err instanceof pg.DatabaseError || isPgConnectionLoss(err) : true;
    if (ours && isDatabaseUnavailable(err)) {
      throw new DependencyUnavailableError(`database unavailable: ${describe(err)}`);
    }
    const dead =
      err instanceof PoisonMessageError || nextRoute(task.attempt, retryDelaysMs).kind === "dead-letter";
    try {
      await recordFailure(pool, key, task.attempt, describe(err), dead);
    } catch (dbErr) {
      log.error({ err: dbErr }, "could not record the failed attempt");
      // Never dead-letter what the ledger cannot show: wait for the database.
      if (dead)
        throw new DependencyUnavailableError(`could not record the dead-lettering: ${describe(dbErr)}`);
    }
    throw err;
  }
}

/** Marks an error thrown by the side effect itself, so it is told apart from the ledger's. */
class EffectFailed extends Error {
  override readonly cause: unknown;
  constructor(cause: unknown) {
    super("effect failed");
    this.cause = cause;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
