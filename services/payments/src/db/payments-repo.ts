import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Payment, PaymentSchema, PaymentStatus } from "#gen/accord/payments/v1/payments_pb.js";
import type { Pool, PoolClient } from "#lib/db.ts";
import type { ChargeDraft } from "../domain/payments.ts";

type Db = Pool | PoolClient;

export type RowStatus = "PENDING" | "CAPTURED" | "DECLINED" | "REFUNDED";

/** Who asked for a refund (refunds.initiator, payments.refund_initiator). */
export type RefundInitiatorName = "SAGA" | "OPS";

export interface PaymentRow {
  payment_id: string;
  order_id: string;
  customer_id: string;
  currency_code: string;
  amount_minor: bigint;
  status: RowStatus;
  idempotency_key: string;
  request_hash: string;
  provider_charge_id: string | null;
  decline_reason: string | null;
  refund_id: string | null;
  refund_reason: string | null;
  refund_initiator: RefundInitiatorName | null;
  created_at: Date;
}

export interface RefundRow {
  idempotency_key: string;
  order_id: string;
  request_hash: string;
  status: "PENDING" | "REFUNDED" | "NOTHING";
  payment_id: string | null;
  reason: string;
  initiator: RefundInitiatorName;
}

/**
 * Serialises every charge and refund decision of one order (transaction-scoped
 * advisory lock): a Charge never slips in between a Refund's "nothing to
 * refund" and its record of that decision.
 */
export async function lockOrder(client: PoolClient, orderId: string): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock(hashtext('accord.payments.order'), hashtext($1))", [
    orderId,
  ]);
}

export async function findPaymentByKey(db: Db, key: string): Promise<PaymentRow | undefined> {
  return (await db.query<PaymentRow>("SELECT * FROM payments WHERE idempotency_key = $1", [key])).rows[0];
}

export async function findPaymentById(db: Db, paymentId: string): Promise<PaymentRow | undefined> {
  return (await db.query<PaymentRow>("SELECT * FROM payments WHERE payment_id = $1", [paymentId])).rows[0];
}

/** The order's attempt that is in flight, captured or refunded (at most one, by a unique index). */
export async function findLivePayment(db: Db, orderId: string): Promise<PaymentRow | undefined> {
  return (
    await db.query<PaymentRow>(
      "SELECT * FROM payments WHERE order_id = $1 AND status IN ('PENDING', 'CAPTURED', 'REFUNDED')",
      [orderId],
    )
  ).rows[0];
}

/** Records the attempt as PENDING before the provider is called. False when a unique constraint refused it. */
export async function insertPendingPayment(
  client: PoolClient,
  paymentId: string,
  draft: ChargeDraft,
  requestHash: string,
): Promise<boolean> {
  const result = await client.query(
    `INSERT INTO payments (payment_id, order_id, customer_id, currency_code, amount_minor, status,
                           idempotency_key, request_hash)
     VALUES ($1, $2, $3, $4, $5, 'PENDING', $6, $7)
     ON CONFLICT DO NOTHING`,
    [
      paymentId,
      draft.orderId,
      draft.customerId,
      draft.currencyCode,
      draft.amountMinor.toString(),
      draft.idempotencyKey,
      requestHash,
    ],
  );
  return result.rowCount === 1;
}

/** PENDING -> CAPTURED; undefined when another request completed the row first. */
export async function markCaptured(client: PoolClient, paymentId: string, chargeId: string) {
  return (
    await client.query<PaymentRow>(
      `UPDATE payments SET status = 'CAPTURED', provider_charge_id = $2, updated_at = now()
        WHERE payment_id = $1 AND status = 'PENDING' RETURNING *`,
      [paymentId, chargeId],
    )
  ).rows[0];
}

/** PENDING -> DECLINED; undefined when another request completed the row first. */
export async function markDeclined(client: PoolClient, paymentId: string, reason: string) {
  return (
    await client.query<PaymentRow>(
      `UPDATE payments SET status = 'DECLINED', decline_reason = $2, updated_at = now()
        WHERE payment_id = $1 AND status = 'PENDING' RETURNING *`,
      [paymentId, reason],
    )
  ).rows[0];
}

/** CAPTURED -> REFUNDED; undefined when it was not (or no longer) CAPTURED. */
export async function markRefunded(
  client: PoolClient,
  paymentId: string,
  refund: { refundId: string; reason: string; initiator: RefundInitiatorName },
) {
  return (
    await client.query<PaymentRow>(
      `UPDATE payments SET status = 'REFUNDED', refund_id = $2, refund_reason = $3, refund_initiator = $4,
                           refunded_at = now(), updated_at = now()
        WHERE payment_id = $1 AND status = 'CAPTURED' RETURNING *`,
      [paymentId, refund.refundId, refund.reason, refund.initiator],
    )
  ).rows[0];
}

/**
 * Whether the saga asked to refund the order (its compensation ran): then a
 * new charge must not take money. An operator's refund request is recorded
 * only for a captured payment, and is not such a mark.
 */
export async function orderHasSagaRefund(client: PoolClient, orderId: string): Promise<boolean> {
  return (
    ((
      await client.query("SELECT 1 FROM refunds WHERE order_id = $1 AND initiator = 'SAGA' LIMIT 1", [
        orderId,
      ])
    ).rowCount ?? 0) > 0
  );
}

/** Records the refund key (PENDING) unless it exists; returns the stored row either way. */
export async function claimRefund(
  client: PoolClient,
  key: string,
  orderId: string,
  requestHash: string,
  reason: string,
  initiator: RefundInitiatorName,
): Promise<RefundRow> {
  await client.query(
    `INSERT INTO refunds (idempotency_key, order_id, request_hash, status, reason, initiator)
     VALUES ($1, $2, $3, 'PENDING', $4, $5) ON CONFLICT (idempotency_key) DO NOTHING`,
    [key, orderId, requestHash, reason, initiator],
  );
  const row = (await client.query<RefundRow>("SELECT * FROM refunds WHERE idempotency_key = $1", [key]))
    .rows[0];
  if (!row) throw new Error("refund row vanished inside its own transaction");
  return row;
}

export async function finishRefund(
  client: PoolClient,
  key: string,
  status: "REFUNDED" | "NOTHING",
  paymentId: string | null,
): Promise<void> {
  await client.query(
    `UPDATE refunds SET status = $2, payment_id = $3, updated_at = now()
      WHERE idempotency_key = $1 AND status = 'PENDING'`,
    [key, status, paymentId],
  );
}

export async function findRefund(db: Db, key: string): Promise<RefundRow | undefined> {
  return (await db.query<RefundRow>("SELECT * FROM refunds WHERE idempotency_key = $1", [key])).rows[0];
}

const STATUS: Record<RowStatus, PaymentStatus> = {
  // PENDING has no contract value: its outcome is not known yet.
  PENDING: PaymentStatus.UNSPECIFIED,
  CAPTURED: PaymentStatus.CAPTURED,
  DECLINED: PaymentStatus.DECLINED,
  REFUNDED: PaymentStatus.REFUNDED,
};

export function rowToPayment(row: PaymentRow): Payment {
  return create(PaymentSchema, {
    paymentId: row.payment_id,
    orderId: row.order_id,
    amount: { currencyCode: row.currency_code, amountMinor: row.amount_minor },
    status: STATUS[row.status],
    providerReference: row.provider_charge_id ?? "",
    declineReason: row.decline_reason ?? "",
    createdAt: timestampFromDate(row.created_at),
    refundId: row.refund_id ?? "",
  });
}
