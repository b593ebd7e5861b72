import { randomUUID } from "node:crypto";
import { create, type JsonObject, toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ApplicationFailure } from "@temporalio/activity";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { InventoryService, type ReserveRequest } from "#gen/accord/inventory/v1/inventory_pb.js";
import {
  type FailOrderRequest,
  FailureCode,
  OrderSchema,
  OrderService,
  OrderStatus,
} from "#gen/accord/orders/v1/orders_pb.js";
import { type ChargeRequest, PaymentService, PaymentStatus } from "#gen/accord/payments/v1/payments_pb.js";
import { ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
import { DEFAULT_ISSUER, devClientTokens } from "#lib/auth/dev-identities.ts";
import { createTokenVerifier, TokenRejected } from "#lib/auth/verifier.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { type RpcServer, startRpcServer } from "#lib/rpc/server.ts";
import {
  createOrderActivities,
  type OrderActivitiesHandle,
} from "#services/orchestrator/src/activities/order-activities.ts";

// The real activities over real sockets (Connect JSON) against stand-in
// services built from the generated service descriptors: keys, mapping of
// answers to retryable / non-retryable failures, breaker behaviour. The
// activities take real orchestrator tokens from the realm; the stand-ins do
// not run the authorization interceptor (the services' own tests and the
// attack suite cover it) but record the Authorization header each call
// carried, so one test checks who the activities call as, and for whom.
// Above a first call's time on a loaded two-core machine (300 ms failed there), below the slow case's.
const BREAKER_TIMEOUT_MS = 1_000;

let server: RpcServer;
let handle: OrderActivitiesHandle;
const seen: { reserve: ReserveRequest[]; charge: ChargeRequest[]; failOrder: FailOrderRequest[] } = {
  reserve: [],
  charge: [],
  failOrder: [],
};
/** The Authorization header of the last call each stand-in service received. */
const authorizationSeen: Partial<Record<"inventory" | "payments" | "orders", string | null>> = {};
/** What the stand-in payments service does next. */
let payments: "capture" | "decline" | "unavailable" | "slow" = "capture";
let paymentCalls = 0;

beforeAll(async () => {
  server = await startRpcServer({
    host: "127.0.0.1",
    port: 0,
    health: { readyz: async () => undefined },
    routes: (router) => {
      router.service(InventoryService, {
        async reserve(req, ctx) {
          authorizationSeen.inventory = ctx.requestHeader.get("authorization");
          seen.reserve.push(req);
          return { reservationId: `res-${req.orderId}` };
        },
        async release() {
          return { released: false };
        },
      });
      router.service(PaymentService, {
        async charge(req, ctx) {
          authorizationSeen.payments = ctx.requestHeader.get("authorization");
          paymentCalls += 1;
          seen.charge.push(req);
          if (payments === "decline") throw new ConnectError("card declined", Code.FailedPrecondition);
          if (payments === "unavailable") throw new ConnectError("provider down", Code.Unavailable);
          if (payments === "slow") {
            await new Promise((resolve) => {
              const t = setTimeout(resolve, BREAKER_TIMEOUT_MS * 3);
              ctx.signal.addEventListener("abort", () => clearTimeout(t));
            });
          }
          return {
            payment: {
              paymentId: `pay-${req.orderId}`,
              orderId: req.orderId,
              status: PaymentStatus.CAPTURED,
            },
          };
        },
      });
      router.service(ShippingService, {});
      router.service(OrderService, {
        async failOrder(req, ctx) {
          authorizationSeen.orders = ctx.requestHeader.get("authorization");
          seen.failOrder.push(req);
          return {};
        },
      });
    },
  });
});

const orchestratorTokens = devClientTokens("orchestrator");

// The first call to each callee fetches its token inside the breaker's
// time limit; a loaded realm can take longer than that. Fetched (and
// cached) up front, so the breaker cases time the calls alone.
beforeAll(async () => {
  await Promise.all(
    (["orders", "inventory", "payments", "shipping"] as const).map((audience) =>
      orchestratorTokens.token(audience),
    ),
  );
});

beforeEach(() => {
  handle?.shutdown();
  const url = `http://127.0.0.1:${server.port}`;
  handle = createOrderActivities({
    urls: { orders: url, inventory: url, payments: url, shipping: url },
    breaker: {
      timeoutMs: BREAKER_TIMEOUT_MS,
      volumeThreshold: 3,
      errorThresholdPercentage: 50,
      resetTimeoutMs: 60_000,
    },
    tokens: orchestratorTokens,
    logger: createLogger("orchestrator-activities-test", "silent"),
  });
  payments = "capture";
  paymentCalls = 0;
});

afterAll(async () => {
  handle?.shutdown();
  await server?.close();
});

function order(orderId = randomUUID()): JsonObject {
  return toJson(
    OrderSchema,
    create(OrderSchema, {
      orderId,
      customerId: "cust-a",
      customerEmail: "a@example.com",
      lines: [
        { sku: "SKU-1", quantity: 2, unitPrice: { currencyCode: "EUR", amountMinor: 1500n } },
        {
          sku: "SKU-2",
          quantity: 1,
          unitPrice: { currencyCode: "EUR", amountMinor: 9_007_199_254_740_993n },
        },
      ],
      total: { currencyCode: "EUR", amountMinor: 9_007_199_254_743_993n },
      shippingAddress: { line1: "Main St 1", city: "Berlin", postalCode: "10115", countryCode: "DE" },
      status: OrderStatus.PENDING,
    }),
  ) as JsonObject;
}

async function failure(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApplicationFailure))
    throw new Error(`expected an ApplicationFailure, got ${String(err)}`);
  return err;
}

describe("order activities", () => {
  it("passes the step's idempotency key and the order's lines and total to the service", async () => {
    const o = order();
    const orderId = String(o.orderId);
    await expect(handle.activities.reserveInventory(o)).resolves.toEqual({ reservationId: `res-${orderId}` });
    await expect(handle.activities.chargePayment(o)).resolves.toEqual({ paymentId: `pay-${orderId}` });
    const reserve = seen.reserve.find((r) => r.orderId === orderId);
    expect(reserve?.idempotencyKey).toBe(`order-${orderId}/reserve`);
    expect(reserve?.items.map((i) => [i.sku, i.quantity])).toEqual([
      ["SKU-1", 2],
      ["SKU-2", 1],
    ]);
    const charge = seen.charge.find((r) => r.orderId === orderId);
    expect(charge?.idempotencyKey).toBe(`order-${orderId}/charge`);
    // int64 beyond 2^53 survives workflow JSON and the activity.
    expect(charge?.amount?.amountMinor).toBe(9_007_199_254_743_993n);
    expect(charge?.customerId).toBe("cust-a");
  });

  it("calls each service with the orchestrator's own token for that service's audience", async () => {
    const o = order();
    await handle.activities.reserveInventory(o);
    await handle.activities.chargePayment(o);
    await handle.activities.failOrder(String(o.orderId), "OTHER", "test");
    const issuer = process.env.OIDC_ISSUER ?? DEFAULT_ISSUER;
    const verifierFor = (audience: string) => createTokenVerifier({ issuer, audience });
    for (const audience of ["inventory", "payments", "orders"] as const) {
      const header = authorizationSeen[audience];
      expect(header, audience).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
      await expect(verifierFor(audience).verify(header)).resolves.toMatchObject({
        kind: "service",
        service: "orchestrator",
      });
    }
    // Each token is for its own callee only: the one sent to inventory is refused by payments.
    const crossed = await verifierFor("payments")
      .verify(authorizationSeen.inventory)
      .catch((e: unknown) => e);
    expect(crossed).toBeInstanceOf(TokenRejected);
    expect((crossed as TokenRejected).reason).toBe("wrong-audience");
  });

  it("maps a business refusal to a non-retryable failure typed by the Connect code", async () => {
    payments = "decline";
    const f = await failure(handle.activities.chargePayment(order()));
    expect(f.nonRetryable).toBe(true);
    expect(f.type).toBe("FailedPrecondition");
    expect(f.message).toBe("payments.Charge: card declined");
    // Business answers prove the service works: they never open the breaker.
    for (let i = 0; i < 5; i++) await failure(handle.activities.chargePayment(order()));
    expect(handle.breakerStates().payments).toBe("closed");
  });

  it("maps Unavailable to a retryable failure and opens the payments breaker only", async () => {
    payments = "unavailable";
    const f = await failure(handle.activities.chargePayment(order()));
    expect(f.nonRetryable).toBe(false);
    expect(f.type).toBe("Unavailable");
    await failure(handle.activities.chargePayment(order()));
    await failure(handle.activities.chargePayment(order()));
    expect(handle.breakerStates()).toMatchObject({ payments: "open", inventory: "closed" });

    // Open: answered at once without calling payments, still retryable for Temporal.
    const callsBefore = paymentCalls;
    const open = await failure(handle.activities.chargePayment(order()));
    expect(open).toMatchObject({ type: "BreakerOpenError", nonRetryable: false });
    expect(paymentCalls).toBe(callsBefore);
    // Other dependencies are unaffected.
    await expect(handle.activities.reserveInventory(order())).resolves.toBeDefined();
  });

  it("times out a slow call alone: a concurrent fast call on the same breaker is not aborted", async () => {
    payments = "slow";
    const slow = failure(handle.activities.chargePayment(order()));
    await new Promise((r) => setTimeout(r, 50));
    payments = "capture";
    const fast = handle.activities.chargePayment(order());
    await expect(fast).resolves.toMatchObject({ paymentId: expect.stringMatching(/^pay-/) });
    const timedOut = await slow;
    expect(timedOut).toMatchObject({ type: "BreakerTimeoutError", nonRetryable: false });
  });

  it("sends FailOrder with the generated failure code", async () => {
    const orderId = randomUUID();
    await handle.activities.failOrder(orderId, "PAYMENT_DECLINED", "card declined");
    expect(seen.failOrder.find((r) => r.orderId === orderId)).toMatchObject({
      failureCode: FailureCode.PAYMENT_DECLINED,
      reason: "card declined",
    });
  });

  it("rejects an order that is not valid protobuf JSON as a non-retryable InvalidArgument", async () => {
    const f = await failure(
      handle.activities.reserveInventory({ orderId: "x", total: { amountMinor: "ten" } }),
    );
    expect(f).toMatchObject({ nonRetryable: true, type: "InvalidArgument" });
  });

  it("an unimplemented method (a stand-in without it) is retried, not a business failure", async () => {
    const f = await failure(handle.activities.createShipment(order()));
    expect(f).toMatchObject({ nonRetryable: false, type: "Unimplemented" });
  });
});
