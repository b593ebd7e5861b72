import { createHash } from "node:crypto";
import { clone, toBinary } from "@bufbuild/protobuf";
import {
  type ChargeRequest,
  ChargeRequestSchema,
  type RefundRequest,
  RefundRequestSchema,
} from "#gen/accord/payments/v1/payments_pb.js";
import type { Principal } from "#lib/auth/principal.ts";
import { collectViolations, type FieldViolation } from "#lib/rpc/errors.ts";
import type { ReportViolation } from "#lib/validation.ts";

export interface ChargeDraft {
  idempotencyKey: string;
  orderId: string;
  customerId: string;
  currencyCode: string;
  amountMinor: bigint;
}

export interface RefundDraft {
  idempotencyKey: string;
  orderId: string;
  reason: string;
}

export const LIMITS = {
  idempotencyKey: 128,
  id: 128,
  reason: 500,
  // Far below int64 and above any real basket; keeps the provider's string amounts sane.
  amountMinor: 1_000_000_000_000_000n,
} as const;

const KNOWN_CURRENCIES = new Set(Intl.supportedValuesOf("currency"));
// Keys and ids travel in HTTP headers and URLs: printable ASCII without spaces.
const TOKEN = /^[\x21-\x7e]+$/;

/** Validates a Charge request; returns every violation, not just the first. */
export function validateCharge(
  req: ChargeRequest,
): { draft: ChargeDraft } | { violations: FieldViolation[] } {
  const { violations, bad } = collectViolations();
  checkToken(req.idempotencyKey, "idempotency_key", LIMITS.idempotencyKey, bad);
  checkToken(req.orderId, "order_id", LIMITS.id, bad);
  if (req.customerId.length > LIMITS.id) bad("customer_id", `must be at most ${LIMITS.id} characters`);
  const amount = req.amount;
  if (!amount) bad("amount", "is required");
  else {
    if (amount.amountMinor <= 0n) bad("amount.amount_minor", "must be greater than 0");
    else if (amount.amountMinor > LIMITS.amountMinor)
      bad("amount.amount_minor", `must be at most ${LIMITS.amountMinor}`);
    const currency = amount.currencyCode;
    if (!currency) bad("amount.currency_code", "is required");
    else if (!/^[A-Z]{3}$/.test(currency) || !KNOWN_CURRENCIES.has(currency))
      bad("amount.currency_code", `unknown ISO 4217 currency ${JSON.stringify(currency.slice(0, 8))}`);
  }
  if (violations.length > 0 || !amount) return { violations };
  return {
    draft: {
      idempotencyKey: req.idempotencyKey,
      orderId: req.orderId,
      customerId: req.customerId,
      currencyCode: amount.currencyCode,
      amountMinor: amount.amountMinor,
    },
  };
}

export function validateRefund(
  req: RefundRequest,
): { draft: RefundDraft } | { violations: FieldViolation[] } {
  const { violations, bad } = collectViolations();
  checkToken(req.idempotencyKey, "idempotency_key", LIMITS.idempotencyKey, bad);
  checkToken(req.orderId, "order_id", LIMITS.id, bad);
  if (req.reason.length > LIMITS.reason) bad("reason", `must be at most ${LIMITS.reason} characters`);
  if (violations.length > 0) return { violations };
  return { draft: { idempotencyKey: req.idempotencyKey, orderId: req.orderId, reason: req.reason } };
}

/**
 * Whether a charge asks for exactly the amount of the order's payment that
 * holds money. One amount per order: the saga charges the total from
 * OrderPlaced, so a different amount or currency under another key is not
 * the order's charge and must never be answered with that payment.
 */
export function sameAmount(
  draft: Pick<ChargeDraft, "currencyCode" | "amountMinor">,
  payment: { currency_code: string; amount_minor: bigint | string },
): boolean {
  return (
    draft.currencyCode === payment.currency_code.trim() && draft.amountMinor === BigInt(payment.amount_minor)
  );
}

/** The FailedPrecondition text of a charge whose amount differs from the order's payment (names the field). */
export function amountMismatchMessage(
  orderId: string,
  asked: { currencyCode: string; amountMinor: bigint },
  held: { currency_code: string; amount_minor: bigint | string },
): string {
  return (
    `amount: order ${orderId} already has a payment of ${BigInt(held.amount_minor)} ${held.currency_code.trim()} ` +
    `(minor units); a charge of ${asked.amountMinor} ${asked.currencyCode} is refused`
  );
}

/**
 * Who a Refund is for, from its verified caller: the orchestrator is the saga
 * compensating, a person with the ops role an operator. Anyone else is
 * undefined (the authorization table lets no one else in).
 */
export function refundInitiatorOf(principal: Principal): "SAGA" | "OPS" | undefined {
  if (principal.kind === "service" && principal.service === "orchestrator") return "SAGA";
  if (principal.kind === "user" && principal.roles.has("ops")) return "OPS";
  return undefined;
}

/** Fingerprint of a Charge without its key: a replay matches, a different body does not. */
export function chargeFingerprint(req: ChargeRequest): string {
  const copy = clone(ChargeRequestSchema, req);
  copy.idempotencyKey = "";
  return createHash("sha256").update(toBinary(ChargeRequestSchema, copy)).digest("hex");
}

export function refundFingerprint(req: RefundRequest): string {
  const copy = clone(RefundRequestSchema, req);
  copy.idempotencyKey = "";
  return createHash("sha256").update(toBinary(RefundRequestSchema, copy)).digest("hex");
}

// ------------------------------------------------------------ provider answers

/** What a charge answer from the provider means for the payment row. */
export type ChargeOutcome =
  | { kind: "captured"; chargeId: string }
  | { kind: "declined"; reason: string }
  /** The provider refused the request itself (4xx): nothing was taken. */
  | { kind: "rejected"; reason: string }
  /** The provider holds this key for a different charge body. */
  | { kind: "key-conflict" }
  /** The answer does not tell the outcome; the row stays PENDING. */
  | { kind: "unknown"; detail: string };

export type RefundOutcome =
  | { kind: "refunded"; refundId: string }
  /** Refunded earlier under another key; no money moved now. */
  | { kind: "already-refunded"; refundId: string }
  | { kind: "rejected"; reason: string }
  | { kind: "key-conflict" }
  | { kind: "unknown"; detail: string };

/** Maps an HTTP answer of POST /v1/charges (2xx or 4xx; 5xx never gets here). */
export function classifyChargeAnswer(status: number, body: unknown): ChargeOutcome {
  const b = asRecord(body);
  if (status === 200 || status === 201) {
    if (b.status === "captured" && typeof b.charge_id === "string" && b.charge_id)
      return { kind: "captured", chargeId: b.charge_id };
    if (b.status === "declined")
      return {
        kind: "declined",
        reason: typeof b.decline_reason === "string" && b.decline_reason ? b.decline_reason : "declined",
      };
    return { kind: "unknown", detail: `unexpected charge answer ${JSON.stringify(body).slice(0, 200)}` };
  }
  if (status === 409 && b.error === "idempotency_key_reused") return { kind: "key-conflict" };
  if (status >= 400 && status < 500)
    return { kind: "rejected", reason: `rejected_by_provider: ${describe(b, status)}` };
  return { kind: "unknown", detail: `unexpected status ${status}` };
}

/** Maps an HTTP answer of POST /v1/charges/{id}/refunds. */
export function classifyRefundAnswer(status: number, body: unknown): RefundOutcome {
  const b = asRecord(body);
  if (
    (status === 200 || status === 201) &&
    b.status === "refunded" &&
    typeof b.refund_id === "string" &&
    b.refund_id
  )
    return { kind: "refunded", refundId: b.refund_id };
  if (status === 409 && b.error === "already_refunded" && typeof b.refund_id === "string" && b.refund_id)
    return { kind: "already-refunded", refundId: b.refund_id };
  if (status === 409 && b.error === "idempotency_key_reused") return { kind: "key-conflict" };
  if (status >= 400 && status < 500) return { kind: "rejected", reason: describe(b, status) };
  return {
    kind: "unknown",
    detail: `unexpected refund answer ${status} ${JSON.stringify(body).slice(0, 200)}`,
  };
}

/** The message of the FailedPrecondition a declined charge answers (also on every replay). */
export function declinedMessage(reason: string): string {
  return `payment declined: ${reason}`;
}

function describe(b: Record<string, unknown>, status: number): string {
  return typeof b.error === "string" && b.error ? b.error : `http_${status}`;
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function checkToken(value: string, field: string, max: number, bad: ReportViolation) {
  if (value.trim() === "") bad(field, "is required");
  else if (value.length > max) bad(field, `must be at most ${max} characters`);
  else if (!TOKEN.test(value)) bad(field, "may contain only printable ASCII without spaces");
}
