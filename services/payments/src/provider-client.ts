import { type Breaker, type BreakerOptions, createBreaker } from "#lib/breaker.ts";
import type { Logger } from "#lib/observability/logger.ts";
import {
  type ChargeOutcome,
  classifyChargeAnswer,
  classifyRefundAnswer,
  type RefundOutcome,
} from "./domain/payments.ts";

/** A 4xx answer: the provider works and refused this request (does not trip the breaker). */
export class ProviderRefusal extends Error {
  override name = "ProviderRefusal";
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    super(`payment provider answered ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** A 5xx answer: the provider is down or broken (counts against the breaker). */
export class ProviderUnavailableError extends Error {
  override name = "ProviderUnavailableError";
  readonly status: number;
  constructor(status: number) {
    super(`payment provider answered ${status}`);
    this.status = status;
  }
}

interface ProviderRequest {
  path: string;
  idempotencyKey: string;
  body: Record<string, unknown>;
}

interface ProviderAnswer {
  status: number;
  body: unknown;
}

export interface ProviderClient {
  charge(input: {
    idempotencyKey: string;
    amountMinor: bigint;
    currency: string;
    reference: string;
  }): Promise<ChargeOutcome>;
  refund(input: { chargeId: string; idempotencyKey: string }): Promise<RefundOutcome>;
  readonly breakerState: Breaker<[ProviderRequest], ProviderAnswer>["state"];
  shutdown(): void;
}

/**
 * HTTP client of the payment provider. Every call goes through one circuit
 * breaker (one dependency) with a per-call timeout; transport errors, 5xx and
 * timeouts count as failures, 4xx answers are business answers. Errors other
 * than ProviderRefusal leave this function: the caller answers Unavailable.
 */
export function createProviderClient(options: {
  baseUrl: string;
  breaker: Omit<BreakerOptions, "isBusinessError" | "logger">;
  logger: Logger;
}): ProviderClient {
  const base = options.baseUrl.replace(/\/+$/, "");
  const post = async (signal: AbortSignal, req: ProviderRequest): Promise<ProviderAnswer> => {
    const res = await fetch(`${base}${req.path}`, {
      method: "POST",
      signal,
      headers: { "content-type": "application/json", "idempotency-key": req.idempotencyKey },
      body: JSON.stringify(req.body),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      body = { raw: text.slice(0, 200) };
    }
    if (res.status >= 500) throw new ProviderUnavailableError(res.status);
    if (res.status >= 400) throw new ProviderRefusal(res.status, body);
    return { status: res.status, body };
  };
  const breaker = createBreaker("payment-provider", post, {
    ...options.breaker,
    isBusinessError: (error) => error instanceof ProviderRefusal,
    logger: options.logger,
  });

  async function send(req: ProviderRequest): Promise<ProviderAnswer> {
    try {
      return await breaker.call(req);
    } catch (error) {
      if (error instanceof ProviderRefusal) return { status: error.status, body: error.body };
      throw error;
    }
  }

  return {
    async charge(input) {
      const answer = await send({
        path: "/v1/charges",
        idempotencyKey: input.idempotencyKey,
        body: {
          amount_minor: input.amountMinor.toString(),
          currency: input.currency,
          reference: input.reference,
        },
      });
      return classifyChargeAnswer(answer.status, answer.body);
    },
    async refund(input) {
      const answer = await send({
        path: `/v1/charges/${encodeURIComponent(input.chargeId)}/refunds`,
        idempotencyKey: input.idempotencyKey,
        body: {},
      });
      return classifyRefundAnswer(answer.status, answer.body);
    },
    get breakerState() {
      return breaker.state;
    },
    shutdown() {
      breaker.shutdown();
    },
  };
}
