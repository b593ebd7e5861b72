import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { v7 as uuidv7 } from "uuid";
import {
  PaymentCapturedSchema,
  PaymentDeclinedSchema,
  PaymentRefundedSchema,
  RefundInitiator,
} from "#gen/accord/payments/v1/events_pb.js";
import type { Payment, PaymentService } from "#gen/accord/payments/v1/payments_pb.js";
import { principalOf } from "#lib/auth/principal.ts";
import { inTransaction, type Pool, type PoolClient } from "#lib/db.ts";
import { encodeEvent, sourceFor } from "#lib/messaging/events.ts";
import { enqueueOutbox } from "#lib/messaging/outbox.ts";
import type { Logger } from "#lib/observability/logger.ts";
import { traceparentOf } from "#lib/observability/request-context.ts";
import { invalidArgument, requireUuid } from "#lib/rpc/errors.ts";
import {
  claimRefund,
  findLivePayment,
  findPaymentById,
  findPaymentByKey,
  findRefund,
  finishRefund,
  insertPendingPayment,
  lockOrder,
  markCaptured,
  markDeclined,
  markRefunded,
  orderHasSagaRefund,
  type PaymentRow,
  type RefundInitiatorName,
  type RefundRow,
  rowToPayment,
} from "./db/payments-repo.ts";
import {
  amountMismatchMessage,
  type ChargeOutcome,
  chargeFingerprint,
  declinedMessage,
  refundFingerprint,
  refundInitiatorOf,
  sameAmount,
  validateCharge,
  validateRefund,
} from "./domain/payments.ts";
import { providerFailure } from "./errors.ts";
import type { ProviderClient } from "./provider-client.ts";

const SOURCE = sourceFor("payments");
/** Where an operator's refund keys are stored and sent, apart from the saga's. */
const OPS_KEY_PREFIX = "ops/";
// Rounds of "someone else changed the order's payments under us, look again".
const MAX_ROUNDS = 5;

export interface PaymentServiceDeps {
  pool: Pool;
  provider: ProviderClient;
  logger: Logger;
  topic: string;
}

/**
 * PaymentService. The one rule: no path charges twice.
 * - Charge records the attempt as PENDING under its idempotency key (unique)
 *   BEFORE calling the provider, and sends the same key to the provider, which
 *   answers a repeated key with its first outcome. A retry after a timeout or
 *   crash re-asks the provider with that key and completes the row.
 * - At most one attempt per order may be in flight or captured (unique partial
 *   index); a Charge with another key for an order that has a captured payment
 *   returns that payment when it asks for the same amount and currency, and is
 *   refused (FailedPrecondition naming amount) when it does not: one amount per
 *   order, so a smaller charge made first is never taken for the saga's. One
 *   whose attempt is still PENDING settles it first.
 * - Once the saga asked to refund an order (its compensation ran), a Charge
 *   with a new key for that order is refused: a late charge must not take
 *   money after its compensation ran. An operator's refund applies only to a
 *   captured payment; without one it is refused and leaves no such mark.
 */
export function createPaymentService(deps: PaymentServiceDeps): Partial<ServiceImpl<typeof PaymentService>> {
  const { pool, provider, logger, topic } = deps;

  async function emit(
    client: PoolClient,
    row: PaymentRow,
    event: "captured" | "declined" | "refunded",
    traceparent: string | undefined,
  ) {
    const base = {
      paymentId: row.payment_id,
      orderId: row.order_id,
      amount: { currencyCode: row.currency_code, amountMinor: row.amount_minor },
    };
    const options = { source: SOURCE, key: row.order_id, traceparent };
    const encoded =
      event === "captured"
        ? encodeEvent(PaymentCapturedSchema, create(PaymentCapturedSchema, base), options)
        : event === "declined"
          ? encodeEvent(
              PaymentDeclinedSchema,
              create(PaymentDeclinedSchema, { ...base, reason: row.decline_reason ?? "" }),
              options,
            )
          : encodeEvent(
              PaymentRefundedSchema,
              create(PaymentRefundedSchema, {
                ...base,
                reason: row.refund_reason ?? "",
                initiator: initiatorOf(row.refund_initiator ?? "SAGA"),
              }),
              options,
            );
    await enqueueOutbox(client, topic, encoded);
  }

  /**
   * Asks the provider for the outcome of a PENDING attempt, with the attempt's
   * own key and stored body, and records it (state + event in one
   * transaction). Returns the settled row. Throws Unavailable when the outcome
   * stays unknown; the row then stays PENDING for the next retry.
   */
  async function settle(row: PaymentRow, traceparent: string | undefined): Promise<PaymentRow> {
    let outcome: ChargeOutcome;
    try {
      outcome = await provider.charge({
        idempotencyKey: row.idempotency_key,
        amountMinor: row.amount_minor,
        currency: row.currency_code,
        reference: row.order_id,
      });
    } catch (error) {
      logger.warn({ err: error, paymentId: row.payment_id, orderId: row.order_id }, "charge outcome unknown");
      throw providerFailure(error);
    }
    if (outcome.kind === "unknown") {
      logger.warn({ paymentId: row.payment_id, detail: outcome.detail }, "charge outcome unknown");
      throw new ConnectError(
        "payment provider gave no usable answer; retry with the same key",
        Code.Unavailable,
      );
    }
    if (outcome.kind === "key-conflict") {
      // Our key is unique here, so the provider remembers it from elsewhere
      // (e.g. a wiped database). Nothing is decided; a human must look.
      logger.error(
        { paymentId: row.payment_id, key: row.idempotency_key },
        "provider holds our key for another charge",
      );
      throw new ConnectError(
        "payment provider holds this idempotency key for a different charge",
        Code.FailedPrecondition,
      );
    }
    const settled = await inTransaction(pool, async (client) => {
      const updated =
        outcome.kind === "captured"
          ? await markCaptured(client, row.payment_id, outcome.chargeId)
          : await markDeclined(client, row.payment_id, outcome.reason);
      if (updated)
        await emit(client, updated, outcome.kind === "captured" ? "captured" : "declined", traceparent);
      return updated;
    });
    if (settled) {
      logger.info(
        { paymentId: row.payment_id, orderId: row.order_id, outcome: outcome.kind },
        outcome.kind === "captured" ? "payment captured" : "payment declined",
      );
      return settled;
    }
    // A concurrent request with the same key completed it first: same provider answer, read it.
    const current = await findPaymentById(pool, row.payment_id);
    if (!current) throw new Error(`payment ${row.payment_id} vanished`);
    return current;
  }

  /** The answer of Charge for a settled row: the payment, or FailedPrecondition when declined. */
  function chargeAnswer(row: PaymentRow): { payment: Payment } {
    if (row.status === "DECLINED") {
      throw new ConnectError(declinedMessage(row.decline_reason ?? "declined"), Code.FailedPrecondition);
    }
    if (row.status === "PENDING") {
      throw new ConnectError("payment outcome still unknown; retry with the same key", Code.Unavailable);
    }
    return { payment: rowToPayment(row) };
  }

  /**
   * An operator's refund claim: the stored one for a known key (its replay),
   * else a new one, but only while the order has a captured payment. No
   * captured payment: FailedPrecondition and nothing is written, so a refund
   * sent before the charge cannot block the saga's charge later.
   */
  async function claimOpsRefund(
    client: PoolClient,
    idempotencyKey: string,
    orderId: string,
    requestHash: string,
    reason: string,
  ): Promise<RefundRow> {
    await lockOrder(client, orderId);
    const known = await findRefund(client, idempotencyKey);
    if (known) return known;
    const live = await findLivePayment(client, orderId);
    if (live?.status !== "CAPTURED") throw opsNothingToRefund(orderId, live);
    return claimRefund(client, idempotencyKey, orderId, requestHash, reason, "OPS");
  }

  return {
    async charge(req, ctx) {
      const checked = validateCharge(req);
      if ("violations" in checked) throw invalidArgument(checked.violations);
      const draft = checked.draft;
      const requestHash = chargeFingerprint(req);
      const traceparent = traceparentOf(ctx);

      for (let round = 0; round < MAX_ROUNDS; round++) {
        const step = await inTransaction(pool, async (client) => {
          await lockOrder(client, draft.orderId);
          const mine = await findPaymentByKey(client, draft.idempotencyKey);
          if (mine) return { kind: "mine" as const, row: mine };
          const live = await findLivePayment(client, draft.orderId);
          if (live) return { kind: "live" as const, row: live };
          if (await orderHasSagaRefund(client, draft.orderId)) return { kind: "compensated" as const };
          const paymentId = uuidv7();
          if (!(await insertPendingPayment(client, paymentId, draft, requestHash)))
            return { kind: "race" as const };
          const row = await findPaymentById(client, paymentId);
          if (!row) throw new Error("payment vanished inside its own transaction");
          return { kind: "new" as const, row };
        });

        switch (step.kind) {
          case "mine":
            if (step.row.request_hash !== requestHash) {
              throw new ConnectError(
                "idempotency_key: already used for a different charge; use a new key for a new charge",
                Code.AlreadyExists,
              );
            }
            return chargeAnswer(
              step.row.status === "PENDING" ? await settle(step.row, traceparent) : step.row,
            );
          case "new":
            return chargeAnswer(await settle(step.row, traceparent));
          case "live":
            // Another key's attempt for this order. Still pending: settle it
            // before anything else, then look again (a decline frees the
            // order for this attempt). Captured or refunded: that is the
            // order's payment, but only for a charge of the same amount.
            if (step.row.status === "PENDING") {
              await settle(step.row, traceparent);
              continue;
            }
            if (!sameAmount(draft, step.row)) {
              logger.warn(
                {
                  orderId: draft.orderId,
                  paymentId: step.row.payment_id,
                  asked: draft.amountMinor.toString(),
                  held: step.row.amount_minor.toString(),
                },
                "charge refused: the order's payment has another amount",
              );
              throw new ConnectError(
                amountMismatchMessage(draft.orderId, draft, step.row),
                Code.FailedPrecondition,
              );
            }
            return chargeAnswer(step.row);
          case "compensated":
            throw new ConnectError(
              `order_id: order ${draft.orderId} was already refunded (compensated); a new charge is refused`,
              Code.FailedPrecondition,
            );
          case "race":
            continue;
        }
      }
      throw new ConnectError("concurrent charges for this order; retry", Code.Aborted);
    },

    async refund(req, ctx) {
      const initiator = refundInitiatorOf(principalOf(ctx));
      // The table lets only the orchestrator and ops in; anyone else reaching here is a table mistake.
      if (!initiator) throw new ConnectError("caller may not call Refund", Code.PermissionDenied);
      const checked = validateRefund(req);
      if ("violations" in checked) throw invalidArgument(checked.violations);
      const { orderId, reason } = checked.draft;
      // An operator's keys live apart from the saga's ("order-<id>/refund"),
      // here and at the provider: an operator reusing the saga's key can
      // neither take its outcome nor block its compensation.
      const idempotencyKey =
        initiator === "OPS"
          ? `${OPS_KEY_PREFIX}${checked.draft.idempotencyKey}`
          : checked.draft.idempotencyKey;
      const requestHash = refundFingerprint(req);
      const traceparent = traceparentOf(ctx);

      // The key is recorded first (under the order lock). For the saga, from
      // here on no new charge for this order can start, so "nothing to
      // refund" stays true. For ops, only when there is a captured payment to
      // give back: otherwise nothing is recorded and later charges still go.
      const claim = await inTransaction(pool, (client) =>
        initiator === "SAGA"
          ? lockOrder(client, orderId).then(() =>
              claimRefund(client, idempotencyKey, orderId, requestHash, reason, "SAGA"),
            )
          : claimOpsRefund(client, idempotencyKey, orderId, requestHash, reason),
      );
      if (claim.request_hash !== requestHash || claim.initiator !== initiator) {
        throw new ConnectError(
          "idempotency_key: already used for a different refund; use a new key",
          Code.AlreadyExists,
        );
      }
      if (claim.status !== "PENDING") {
        const row = claim.payment_id ? await findPaymentById(pool, claim.payment_id) : undefined;
        return { payment: row ? rowToPayment(row) : undefined, refunded: claim.status === "REFUNDED" };
      }

      for (let round = 0; round < MAX_ROUNDS; round++) {
        const live = await findLivePayment(pool, orderId);
        if (initiator === "OPS" && live?.status === "PENDING") {
          // Cannot follow a claim made for a captured payment; were it so, an
          // operator's refund still never settles a charge.
          throw opsNothingToRefund(orderId, live);
        }
        if (!live || live.status === "REFUNDED") {
          // Nothing (left) to give back: harmless success, remembered under the key.
          await inTransaction(pool, (client) =>
            finishRefund(client, idempotencyKey, "NOTHING", live?.payment_id ?? null),
          );
          logger.info({ orderId, alreadyRefunded: Boolean(live) }, "refund: nothing to refund");
          return { payment: live ? rowToPayment(live) : undefined, refunded: false };
        }
        if (live.status === "PENDING") {
          // Charge outcome unknown (timed out?): it may have gone through, so
          // settle it with its own key first, then refund what was captured.
          await settle(live, traceparent);
          continue;
        }

        let outcome: Awaited<ReturnType<ProviderClient["refund"]>>;
        try {
          outcome = await provider.refund({ chargeId: live.provider_charge_id ?? "", idempotencyKey });
        } catch (error) {
          logger.warn({ err: error, orderId }, "refund outcome unknown");
          throw providerFailure(error);
        }
        if (outcome.kind === "unknown") {
          throw new ConnectError(
            "payment provider gave no usable answer; retry with the same key",
            Code.Unavailable,
          );
        }
        if (outcome.kind === "key-conflict" || outcome.kind === "rejected") {
          logger.error({ orderId, paymentId: live.payment_id, outcome }, "provider refused the refund");
          throw new ConnectError(
            `payment provider refused the refund: ${outcome.kind === "rejected" ? outcome.reason : "idempotency key held for another refund"}`,
            Code.FailedPrecondition,
          );
        }
        const refundedNow = await inTransaction(pool, async (client) => {
          await lockOrder(client, orderId);
          const updated = await markRefunded(client, live.payment_id, {
            refundId: outcome.refundId,
            reason,
            initiator,
          });
          if (updated) await emit(client, updated, "refunded", traceparent);
          await finishRefund(client, idempotencyKey, updated ? "REFUNDED" : "NOTHING", live.payment_id);
          return Boolean(updated);
        });
        const row = await findPaymentById(pool, live.payment_id);
        if (refundedNow) logger.info({ orderId, paymentId: live.payment_id, initiator }, "payment refunded");
        return { payment: row ? rowToPayment(row) : undefined, refunded: refundedNow };
      }
      throw new ConnectError("concurrent changes to this order's payment; retry", Code.Aborted);
    },

    async getPayment(req) {
      requireUuid(req.paymentId, "payment_id");
      const row = await findPaymentById(pool, req.paymentId);
      if (!row) throw new ConnectError(`payment ${req.paymentId} not found`, Code.NotFound);
      return { payment: rowToPayment(row) };
    },
  };
}

/** Why an operator's refund was refused: the order has no captured payment (none, pending or refunded). */
function opsNothingToRefund(orderId: string, live: PaymentRow | undefined): ConnectError {
  const why =
    live === undefined
      ? "has no captured payment"
      : live.status === "REFUNDED"
        ? `was refunded already (payment ${live.payment_id})`
        : "has a charge whose outcome is not known yet; retry later";
  return new ConnectError(`order_id: order ${orderId} ${why}; nothing was refunded`, Code.FailedPrecondition);
}

/** The stored initiator of a refund as PaymentRefunded names it (rows from before the column: the saga). */
function initiatorOf(name: RefundInitiatorName): RefundInitiator {
  return name === "OPS" ? RefundInitiator.OPS : RefundInitiator.SAGA;
}
