import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderFailedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { PaymentCapturedSchema } from "#gen/accord/payments/v1/events_pb.js";
import { CONTRACTS_DIR } from "#test/support/pact-consumer.ts";
import type { PactMessage } from "#test/support/pact-provider.ts";
import { type StateHandlers, verifyProvider } from "#test/support/pact-verify.ts";

// Changes of meaning that keep every shape must fail verification of the
// committed pacts: a keyed RPC whose replay answers a new outcome (or takes
// another body under a used key), an amount that turns into major units, an
// enum value the consumer has no branch for, a status call that does not move
// the status. Each kind runs one committed interaction against a tiny provider
// serving the same JSON shapes, once keeping the meaning (verification
// passes) and once changing it (verification fails). The real services verify
// the same pacts in test/contract/provider/.

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "accord-meaning-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

type Json = Record<string, unknown>;

interface PactFile {
  interactions: { description: string; matchingRules?: { body?: Record<string, { matchers: Json[] }> } }[];
}

/** The committed pact cut down to one interaction, written to a file of its own. */
async function onlyInteraction(
  file: string,
  description: string,
  change?: (pact: PactFile) => void,
): Promise<string> {
  const pact = JSON.parse(await readFile(path.join(CONTRACTS_DIR, file), "utf8")) as PactFile;
  pact.interactions = pact.interactions.filter((i) => i.description === description);
  if (pact.interactions.length !== 1) throw new Error(`${file} has no interaction "${description}"`);
  change?.(pact);
  const out = path.join(tmp, `${randomUUID()}-${file}`);
  await writeFile(out, JSON.stringify(pact));
  return out;
}

async function outcome(run: () => Promise<unknown>): Promise<"passed" | "failed"> {
  try {
    await run();
    return "passed";
  } catch {
    return "failed";
  }
}

// ---------------------------------------------------------------- a tiny payments provider

/** JSON with object keys sorted: the same body in any key order compares equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Json)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** Variants of Charge's replay behaviour; "keeps" is what the real service does. */
type ReplayBehaviour = "keeps" | "new-outcome" | "accepts-another-body";

interface TinyPayments {
  url: string;
  stateHandlers: StateHandlers;
  close(): Promise<void>;
}

/**
 * Connect JSON Charge over plain HTTP: payments remembered by idempotency key
 * with a fingerprint of the rest of the body, as the real service keeps them.
 */
async function tinyPayments(behaviour: ReplayBehaviour): Promise<TinyPayments> {
  const byKey = new Map<string, { paymentId: string; body: string }>();
  const fingerprint = (body: Json) => canonical({ ...body, idempotencyKey: undefined });
  const answer = (res: http.ServerResponse, status: number, body: Json) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk: Buffer) => {
      raw += chunk.toString("utf8");
    });
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/accord.payments.v1.PaymentService/Charge") {
        answer(res, 404, { code: "unimplemented", message: `${req.url} not served` });
        return;
      }
      const body = JSON.parse(raw) as Json;
      const key = String(body.idempotencyKey);
      const first = byKey.get(key);
      if (first && behaviour !== "new-outcome") {
        if (first.body === fingerprint(body)) {
          answer(res, 200, { payment: { paymentId: first.paymentId, orderId: body.orderId } });
          return;
        }
        if (behaviour === "keeps") {
          answer(res, 409, {
            code: "already_exists",
            message: "idempotency_key: already used for a different charge; use a new key for a new charge",
          });
          return;
        }
      }
      const paymentId = randomUUID();
      byKey.set(key, { paymentId, body: fingerprint(body) });
      answer(res, 200, { payment: { paymentId, orderId: body.orderId } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as { port: number };
  const stateHandlers: StateHandlers = {
    "a charge was already made for an order": async (params) => {
      const { amountMinor, paymentId } = params as { amountMinor: string; paymentId?: string };
      const orderId = randomUUID();
      const first = {
        orderId,
        customerId: "customer-42",
        amount: { currencyCode: "EUR", amountMinor },
      };
      byKey.set(`order-${orderId}/charge`, {
        paymentId: paymentId ?? randomUUID(),
        body: fingerprint(first),
      });
      return { orderId };
    },
  };
  return {
    url: `http://127.0.0.1:${port}`,
    stateHandlers,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function verifyCharge(description: string, behaviour: ReplayBehaviour) {
  const pactUrl = await onlyInteraction("orchestrator-payments.json", description);
  const provider = await tinyPayments(behaviour);
  try {
    return await outcome(() =>
      verifyProvider({
        provider: "payments",
        baseUrl: provider.url,
        source: { pactUrls: [pactUrl] },
        stateHandlers: provider.stateHandlers,
        logLevel: "error",
      }),
    );
  } finally {
    await provider.close();
  }
}

describe("a keyed RPC whose replay changes meaning fails verification", () => {
  const replay = "Charge replayed with the key and body of a captured charge";
  const otherBody = "Charge with the key of a captured charge and another amount";

  it("passes when the replay answers the first payment", async () => {
    expect(await verifyCharge(replay, "keeps")).toBe("passed");
  });

  it("fails when the replay answers a new payment (the same shape)", async () => {
    expect(await verifyCharge(replay, "new-outcome")).toBe("failed");
  });

  it("passes when a used key with another amount is refused with already_exists", async () => {
    expect(await verifyCharge(otherBody, "keeps")).toBe("passed");
  });

  it("fails when a used key with another amount makes a new charge", async () => {
    expect(await verifyCharge(otherBody, "accepts-another-body")).toBe("failed");
  });
});

// ---------------------------------------------------------------- messages

function message(ceType: string, topic: string, content: Json): PactMessage {
  return { __pactMessageMetadata: { ce_type: ceType, topic }, message: content as PactMessage["message"] };
}

async function verifyMessage(pactUrl: string, provider: string, description: string, content: PactMessage) {
  return outcome(() =>
    verifyProvider({
      provider,
      source: { pactUrls: [pactUrl] },
      messageProviders: { [description]: async () => content },
      logLevel: "error",
    }),
  );
}

describe("an event whose amount changes unit fails verification", () => {
  const description = "a PaymentCaptured event";
  const captured = (amountMinor: string) =>
    message(PaymentCapturedSchema.typeName, "payments.events", {
      paymentId: randomUUID(),
      orderId: randomUUID(),
      amount: { currencyCode: "EUR", amountMinor },
    });

  it("passes with the charged amount in minor units (2500)", async () => {
    const pactUrl = await onlyInteraction("notifications-payments.json", description);
    expect(await verifyMessage(pactUrl, "payments", description, captured("2500"))).toBe("passed");
  });

  it("fails with the same amount in major units (25)", async () => {
    const pactUrl = await onlyInteraction("notifications-payments.json", description);
    expect(await verifyMessage(pactUrl, "payments", description, captured("25"))).toBe("failed");
  });

  it("the shape-only rule the pact had before (any decimal string) let major units through", async () => {
    const pactUrl = await onlyInteraction("notifications-payments.json", description, (pact) => {
      const rule = pact.interactions[0]?.matchingRules?.body?.["$.amount.amountMinor"];
      if (!rule) throw new Error("the pact pins no $.amount.amountMinor");
      rule.matchers = [{ match: "regex", regex: "^[0-9]+$" }];
    });
    expect(await verifyMessage(pactUrl, "payments", description, captured("25"))).toBe("passed");
  });
});

describe("an event with an enum value the consumer does not handle fails verification", () => {
  const description = "an OrderFailed event";
  const failed = (failureCode: string) =>
    message(OrderFailedSchema.typeName, "orders.events", {
      orderId: randomUUID(),
      customerId: "customer-42",
      customerEmail: "ada@example.com",
      failureCode,
      reason: "payment declined: insufficient_funds",
    });

  it("passes with a failure code the email has a text for", async () => {
    const pactUrl = await onlyInteraction("notifications-orders.json", description);
    expect(await verifyMessage(pactUrl, "orders", description, failed("FAILURE_CODE_SHIPPING_FAILED"))).toBe(
      "passed",
    );
  });

  it("fails with a well-formed failure code the consumer does not handle", async () => {
    const pactUrl = await onlyInteraction("notifications-orders.json", description);
    expect(await verifyMessage(pactUrl, "orders", description, failed("FAILURE_CODE_FRAUD_SUSPECTED"))).toBe(
      "failed",
    );
  });
});

// ---------------------------------------------------------------- a status that does not move

describe("a status RPC that answers another status fails verification", () => {
  async function verifyConfirm(status: string) {
    const pactUrl = await onlyInteraction("orchestrator-orders.json", "ConfirmOrder for a pending order");
    const server = http.createServer((req, res) => {
      let raw = "";
      req.on("data", (chunk: Buffer) => {
        raw += chunk.toString("utf8");
      });
      req.on("end", () => {
        const { orderId } = JSON.parse(raw || "{}") as { orderId?: string };
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ order: { orderId, status } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const { port } = server.address() as { port: number };
    try {
      return await outcome(() =>
        verifyProvider({
          provider: "orders",
          baseUrl: `http://127.0.0.1:${port}`,
          source: { pactUrls: [pactUrl] },
          stateHandlers: { "an order exists": async () => ({ orderId: randomUUID() }) },
          logLevel: "error",
        }),
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  it("passes when ConfirmOrder answers the order CONFIRMED", async () => {
    expect(await verifyConfirm("ORDER_STATUS_CONFIRMED")).toBe("passed");
  });

  it("fails when ConfirmOrder answers it still PENDING", async () => {
    expect(await verifyConfirm("ORDER_STATUS_PENDING")).toBe("failed");
  });
});
