import { createHash, randomBytes } from "node:crypto";

/**
 * The simulated card processor's state and rules, kept in memory (a restart
 * forgets every charge, refund and idempotency key — fine for a simulator).
 * No I/O here: the HTTP layer (server.ts) maps these answers to responses.
 */

/** amount_minor that always declines, so tests can provoke a decline deterministically. */
export const ALWAYS_DECLINED_AMOUNT = "666";
export const DETERMINISTIC_DECLINE_REASON = "insufficient_funds";
/** Reason of the random declines driven by declineRate. */
export const RANDOM_DECLINE_REASON = "card_declined";

export interface Behaviour {
  /** Delay before each /v1 POST answer; the charge is recorded before the delay (see server.ts). */
  latencyMs: number;
  /** Share of charges declined at random, 0..1. */
  declineRate: number;
  /** When true, /v1 POSTs answer 503 and record nothing. */
  outage: boolean;
}

export interface Charge {
  charge_id: string;
  reference: string;
  amount_minor: string;
  currency: string;
  status: "captured" | "declined";
  decline_reason?: string;
  refund_id?: string;
  idempotency_key: string;
  created_at: string;
}

/** An HTTP-shaped answer: the status code and the JSON body. */
export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

interface Remembered {
  fingerprint: string;
  answer: Answer;
}

const AMOUNT = /^[1-9][0-9]{0,17}$/;
const CURRENCY = /^[A-Z]{3}$/;
const KEY_MAX = 255;
const REFERENCE_MAX = 255;

export function createProcessor(initial: Behaviour, random: () => number = Math.random) {
  const behaviour: Behaviour = { ...initial };
  const charges = new Map<string, Charge>();
  // Idempotency memories, one namespace per operation: key -> first answer.
  const chargeKeys = new Map<string, Remembered>();
  const refundKeys = new Map<string, Remembered>();
  let captures = 0;
  let refunds = 0;

  function replay(memory: Map<string, Remembered>, key: string, fingerprint: string): Answer | undefined {
    const earlier = memory.get(key);
    if (!earlier) return undefined;
    if (earlier.fingerprint !== fingerprint) {
      return {
        status: 409,
        body: {
          error: "idempotency_key_reused",
          message: "this Idempotency-Key was used with a different request",
        },
      };
    }
    return earlier.answer;
  }

  return {
    behaviour(): Behaviour {
      return { ...behaviour };
    },

    setBehaviour(change: Partial<Behaviour>): Behaviour {
      Object.assign(behaviour, change);
      return { ...behaviour };
    },

    /** POST /v1/charges. The same key always gets the first answer; nothing is captured twice. */
    charge(key: string | undefined, input: unknown): Answer {
      if (!key || key.length > KEY_MAX)
        return badRequest(`Idempotency-Key header is required (1..${KEY_MAX} chars)`);
      const body = parseChargeBody(input);
      if ("error" in body) return badRequest(body.error);
      const fingerprint = hash([body.amount_minor, body.currency, body.reference]);
      const earlier = replay(chargeKeys, key, fingerprint);
      if (earlier) return earlier;

      const declineReason =
        body.amount_minor === ALWAYS_DECLINED_AMOUNT
          ? DETERMINISTIC_DECLINE_REASON
          : random() < behaviour.declineRate
            ? RANDOM_DECLINE_REASON
            : undefined;
      const charge: Charge = {
        charge_id: `ch_${randomBytes(12).toString("hex")}`,
        reference: body.reference,
        amount_minor: body.amount_minor,
        currency: body.currency,
        status: declineReason ? "declined" : "captured",
        ...(declineReason ? { decline_reason: declineReason } : {}),
        idempotency_key: key,
        created_at: new Date().toISOString(),
      };
      charges.set(charge.charge_id, charge);
      if (!declineReason) captures += 1;
      const answer: Answer = {
        status: 201,
        body: {
          charge_id: charge.charge_id,
          status: charge.status,
          ...(declineReason ? { decline_reason: declineReason } : {}),
        },
      };
      chargeKeys.set(key, { fingerprint, answer });
      return answer;
    },

    /** POST /v1/charges/{id}/refunds: refunds a captured charge in full, once. */
    refund(chargeId: string, key: string | undefined): Answer {
      if (!key || key.length > KEY_MAX)
        return badRequest(`Idempotency-Key header is required (1..${KEY_MAX} chars)`);
      const earlier = replay(refundKeys, key, hash([chargeId]));
      if (earlier) return earlier;
      const charge = charges.get(chargeId);
      // Refusals are not remembered under the key: they changed nothing.
      if (!charge)
        return { status: 404, body: { error: "charge_not_found", message: `no charge ${chargeId}` } };
      if (charge.status !== "captured") {
        return {
          status: 409,
          body: { error: "charge_not_captured", message: "a declined charge cannot be refunded" },
        };
      }
      if (charge.refund_id) {
        // Another key refunded it already: say so, with the refund that did it.
        return {
          status: 409,
          body: {
            error: "already_refunded",
            message: "the charge is refunded already",
            refund_id: charge.refund_id,
          },
        };
      }
      charge.refund_id = `re_${randomBytes(12).toString("hex")}`;
      refunds += 1;
      const answer: Answer = {
        status: 201,
        body: { refund_id: charge.refund_id, charge_id: chargeId, status: "refunded" },
      };
      refundKeys.set(key, { fingerprint: hash([chargeId]), answer });
      return answer;
    },

    /** GET /v1/charges?reference=: every charge (captured or declined) for a reference. */
    list(reference: string | undefined): Answer {
      const found = [...charges.values()].filter((c) => reference === undefined || c.reference === reference);
      return {
        status: 200,
        body: {
          charges: found,
          captured: found.filter((c) => c.status === "captured").length,
          refunded: found.filter((c) => c.refund_id !== undefined).length,
        },
      };
    },

    get(chargeId: string): Answer {
      const charge = charges.get(chargeId);
      return charge
        ? { status: 200, body: { ...charge } }
        : { status: 404, body: { error: "charge_not_found", message: `no charge ${chargeId}` } };
    },

    stats() {
      return { charges: charges.size, captures, refunds };
    },
  };
}

export type Processor = ReturnType<typeof createProcessor>;

/** Validates a runtime behaviour change (POST /admin/behaviour). */
export function parseBehaviourChange(input: unknown): Partial<Behaviour> | { error: string } {
  if (typeof input !== "object" || input === null || Array.isArray(input))
    return { error: "body must be a JSON object" };
  const raw = input as Record<string, unknown>;
  const change: Partial<Behaviour> = {};
  for (const name of Object.keys(raw)) {
    if (!["latencyMs", "declineRate", "outage"].includes(name)) return { error: `unknown field ${name}` };
  }
  if (raw.latencyMs !== undefined) {
    if (
      typeof raw.latencyMs !== "number" ||
      !Number.isInteger(raw.latencyMs) ||
      raw.latencyMs < 0 ||
      raw.latencyMs > 600_000
    )
      return { error: "latencyMs must be an integer 0..600000" };
    change.latencyMs = raw.latencyMs;
  }
  if (raw.declineRate !== undefined) {
    if (typeof raw.declineRate !== "number" || !(raw.declineRate >= 0 && raw.declineRate <= 1))
      return { error: "declineRate must be a number 0..1" };
    change.declineRate = raw.declineRate;
  }
  if (raw.outage !== undefined) {
    if (typeof raw.outage !== "boolean") return { error: "outage must be true or false" };
    change.outage = raw.outage;
  }
  return change;
}

function parseChargeBody(
  input: unknown,
): { amount_minor: string; currency: string; reference: string } | { error: string } {
  if (typeof input !== "object" || input === null || Array.isArray(input))
    return { error: "body must be a JSON object" };
  const { amount_minor, currency, reference } = input as Record<string, unknown>;
  if (typeof amount_minor !== "string" || !AMOUNT.test(amount_minor))
    return { error: "amount_minor must be a positive integer in a string" };
  if (typeof currency !== "string" || !CURRENCY.test(currency))
    return { error: "currency must be 3 upper-case letters" };
  if (typeof reference !== "string" || reference === "" || reference.length > REFERENCE_MAX)
    return { error: `reference must be 1..${REFERENCE_MAX} characters` };
  return { amount_minor, currency, reference };
}

function badRequest(message: string): Answer {
  return { status: 400, body: { error: "invalid_request", message } };
}

function hash(parts: string[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}
