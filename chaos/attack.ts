import { createPublicKey, generateKeyPairSync, randomUUID } from "node:crypto";
import { create, type DescMethod } from "@bufbuild/protobuf";
import { decodeJwt, decodeProtectedHeader, type JWTPayload, SignJWT } from "jose";
import { CatalogService } from "#gen/accord/catalog/v1/catalog_pb.js";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { DeadLetterService } from "#gen/accord/notifications/v1/dead_letters_pb.js";
import { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import { SagaService } from "#gen/accord/orchestrator/v1/saga_pb.js";
import { OrderSchema, OrderService, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentService, PaymentStatus } from "#gen/accord/payments/v1/payments_pb.js";
import { ShipmentStatus, ShippingService } from "#gen/accord/shipping/v1/shipping_pb.js";
import { Health } from "#gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "#gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "#gen/grpc/reflection/v1alpha/reflection_pb.js";
import { DEFAULT_ISSUER, DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { kafkaPasswordFor } from "#lib/messaging/kafka.ts";
import { rpcClient } from "#lib/rpc/clients.ts";
import { type BrokerProcess, startBroker } from "#test/support/broker.ts";
import { ensureProducts } from "#test/support/catalog.ts";
import { bearerFor, callerAs, type TestCaller } from "#test/support/identity.ts";
import { ensureProductionTopics, tryForgedPublish } from "#test/support/kafka-forgery.ts";
import type { Platform } from "#test/support/platform.ts";
import { attackCheckout } from "./attack-checkout.ts";
import { frontDoorAttacks } from "./attack-front-door.ts";
import { attackMoney } from "./attack-money.ts";
import { attackWebhooks } from "./attack-webhooks.ts";
import { type Answer, call, describeAnswer, type Wire } from "./attack-wire.ts";
import { startIsolatedPlatform } from "./chaos.ts";

/**
 * The attack suite (issue 10, item 6): the platform's findings and the usual
 * token attacks, each sent from the attacker's side against a real running
 * platform with real tokens from the real Keycloak, each with the denial it
 * expects and, where the attack would have changed something, a look at the
 * state afterwards through a legitimate caller (ops), because a right code
 * with a changed order is still a breach.
 *
 * Short (npm test) and full (npm run attack) run every group; full sends the
 * token attacks over all three wire paths (Connect on the unary fast path,
 * gRPC and gRPC-Web on connect's adapter) to every service, tries every
 * internal RPC as a customer, a partner and anonymously, and reflection and
 * health on every service; short sends them over Connect and gRPC to orders,
 * every internal RPC as a customer and anonymously, reflection and health on
 * orders.
 */

export type Volume = "short" | "full";

export interface CaseResult {
  group: string;
  name: string;
  /** What was sent, as an attacker would describe it. */
  sent: string;
  /** The denial expected (Connect code and HTTP status, or the Kafka / broker answer). */
  expected: string;
  actual: string;
  /** What the state check afterwards looked at and found. */
  state?: string;
  pass: boolean;
}

export interface AttackReport {
  volume: Volume;
  cases: CaseResult[];
  failed: number;
  ok: boolean;
}

interface Expectation {
  codes: readonly string[];
  /** HTTP statuses accepted; by default the one the Connect protocol gives the code (gRPC: 200). */
  statuses?: readonly number[];
  text: string;
}

interface Check {
  ok: boolean;
  text: string;
}

const CONNECT_STATUS: Record<string, number> = {
  ok: 200,
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
};

function expectCode(...codes: string[]): Expectation {
  return {
    codes,
    text: codes.map((c) => `${c}${CONNECT_STATUS[c] ? ` (HTTP ${CONNECT_STATUS[c]})` : ""}`).join(" or "),
  };
}

const UNAUTHENTICATED = expectCode("unauthenticated");
const PERMISSION_DENIED = expectCode("permission_denied");
const NOT_FOUND = expectCode("not_found");

function statusFits(expect: Expectation, answer: Answer, wire: Wire | undefined): boolean {
  if (expect.statuses) return expect.statuses.includes(answer.status);
  if (wire === undefined) return true;
  if (wire !== "connect") return answer.status === 200;
  const wanted = CONNECT_STATUS[answer.code];
  return wanted === undefined || answer.status === wanted;
}

/** The cases of one run, in the order they ran. */
class Suite {
  readonly results: CaseResult[] = [];
  readonly log: (line: string) => void;
  constructor(log: (line: string) => void) {
    this.log = log;
  }

  async probe(spec: {
    group: string;
    name: string;
    sent: string;
    expect: Expectation;
    wire?: Wire;
    send: () => Promise<Answer>;
    after?: (answer: Answer) => Promise<Check>;
  }): Promise<Answer | undefined> {
    let answer: Answer | undefined;
    let actual: string;
    let denied = false;
    try {
      answer = await spec.send();
      actual = describeAnswer(answer);
      denied = spec.expect.codes.includes(answer.code) && statusFits(spec.expect, answer, spec.wire);
    } catch (error) {
      actual = `attack could not be sent: ${firstLine(error)}`;
    }
    let state: Check | undefined;
    if (spec.after && answer) {
      try {
        state = await spec.after(answer);
      } catch (error) {
        state = { ok: false, text: `state check failed: ${firstLine(error)}` };
      }
    }
    const pass = denied && (state?.ok ?? true);
    this.results.push({
      group: spec.group,
      name: spec.name,
      sent: spec.sent,
      expected: spec.expect.text,
      actual,
      ...(state ? { state: state.text } : {}),
      pass,
    });
    this.log(`[attack] ${pass ? "ok    " : "FAILED"} ${spec.group}: ${spec.name} -> ${actual}`);
    return answer;
  }
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split("\n")[0] ?? "";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the targets

const ALICE = DEMO_USERS.alice.id;
const BOB = DEMO_USERS.bob.id;

interface Targets {
  platform: Platform;
  tag: string;
  sku: string;
  /** A product priced at 666 EUR cents, the total the payment provider always declines. */
  declinedSku: string;
  /** alice's order the saga confirmed: payment captured, shipment created. */
  confirmed: { orderId: string; paymentId: string; shipmentId: string };
  /** A second confirmed order of alice's, the target of the wrong-audience token. */
  spare: { orderId: string };
  /** bob's own order, so his list has something in it. */
  bobOrderId: string;
  /** acme's webhook subscription. */
  acmeSubscriptionId: string;
}

type RpcTarget =
  | "orders"
  | "inventory"
  | "payments"
  | "shipping"
  | "notifications"
  | "catalog"
  | "orchestrator";

/** A legitimate caller's generated client, for setting up and for looking at state afterwards. */
function legit<S extends Parameters<typeof rpcClient>[0]>(
  service: S,
  platform: Platform,
  target: RpcTarget,
  who: TestCaller,
) {
  return rpcClient(service, platform.urls[target], "connect-json", callerAs(who, target));
}

/** An order of one unit of `sku`, with no price: the catalog prices it. */
function placeRequest(tag: string, sku: string, customer: "alice" | "bob") {
  return {
    idempotencyKey: `attack-${tag}-${randomUUID()}`,
    customerId: DEMO_USERS[customer].id,
    customerEmail: `${customer}@example.com`,
    currencyCode: "EUR",
    lines: [{ sku, quantity: 1 }],
    shippingAddress: {
      recipientName: customer,
      line1: "Teststrasse 1",
      city: "Berlin",
      postalCode: "10115",
      countryCode: "DE",
    },
  };
}

async function orderStatus(platform: Platform, orderId: string): Promise<OrderStatus> {
  const { order } = await legit(OrderService, platform, "orders", "olivia").getOrder({ orderId });
  return order?.status ?? OrderStatus.UNSPECIFIED;
}

async function waitForFinal(platform: Platform, orderId: string, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { order } = await legit(OrderService, platform, "orders", "olivia").getOrder({ orderId });
    if (order && order.status !== OrderStatus.PENDING) return order;
    if (Date.now() > deadline) throw new Error(`order ${orderId} still PENDING after ${timeoutMs} ms`);
    await sleep(250);
  }
}

async function prepare(platform: Platform, tag: string, log: (l: string) => void): Promise<Targets> {
  const sku = `ATTACK-${tag}`.toUpperCase();
  const declinedSku = `ATTACK-${tag}-DECLINED`.toUpperCase();
  await ensureProducts(platform.urls.catalog, [
    { sku, prices: { EUR: 1500n } },
    { sku: declinedSku, prices: { EUR: 666n } },
  ]);
  await legit(InventoryService, platform, "inventory", "olivia").setStock({ sku, available: 100n });
  await legit(InventoryService, platform, "inventory", "olivia").setStock({
    sku: declinedSku,
    available: 100n,
  });
  const alice = legit(OrderService, platform, "orders", "alice");
  const bob = legit(OrderService, platform, "orders", "bob");
  log("[attack] setup: alice's two orders and bob's, through the saga");
  const [a1, a2, b1] = await Promise.all([
    alice.placeOrder(placeRequest(tag, sku, "alice")),
    alice.placeOrder(placeRequest(tag, sku, "alice")),
    bob.placeOrder(placeRequest(tag, sku, "bob")),
  ]);
  const ids = [a1, a2, b1].map((r) => r.order?.orderId ?? "");
  const finals = await Promise.all(ids.map((id) => waitForFinal(platform, id)));
  for (const order of finals) {
    if (order.status !== OrderStatus.CONFIRMED) {
      throw new Error(
        `setup: order ${order.orderId} ended ${OrderStatus[order.status]} (${order.failureReason}), not CONFIRMED`,
      );
    }
  }
  const [first, second] = finals as [(typeof finals)[0], (typeof finals)[0]];
  const acme = legit(NotificationService, platform, "notifications", "acme");
  const created = await acme.createWebhookSubscription({ url: `http://127.0.0.1:9/acme-${tag}` });
  return {
    platform,
    tag,
    sku,
    declinedSku,
    confirmed: { orderId: first.orderId, paymentId: first.paymentId, shipmentId: first.shipmentId },
    spare: { orderId: second.orderId },
    bobOrderId: ids[2] ?? "",
    acmeSubscriptionId: created.subscription?.subscriptionId ?? "",
  };
}

// ---------------------------------------------------------------- state checks

async function orderStill(t: Targets, orderId: string, status: OrderStatus): Promise<Check> {
  const now = await orderStatus(t.platform, orderId);
  return {
    ok: now === status,
    text: `order ${short(orderId)} ${OrderStatus[now]} (expected ${OrderStatus[status]})`,
  };
}

async function paymentStill(t: Targets): Promise<Check> {
  const { payment } = await legit(PaymentService, t.platform, "payments", "olivia").getPayment({
    paymentId: t.confirmed.paymentId,
  });
  const status = payment?.status ?? PaymentStatus.UNSPECIFIED;
  return {
    ok: status === PaymentStatus.CAPTURED && !payment?.refundId,
    text: `payment ${PaymentStatus[status]}${payment?.refundId ? `, refund ${payment.refundId}` : ", no refund"}`,
  };
}

async function shipmentStill(t: Targets): Promise<Check> {
  const { shipment } = await legit(ShippingService, t.platform, "shipping", "olivia").getShipment({
    shipmentId: t.confirmed.shipmentId,
  });
  const status = shipment?.status ?? ShipmentStatus.UNSPECIFIED;
  return {
    ok: status === ShipmentStatus.CREATED,
    text: `shipment ${ShipmentStatus[status]} (expected CREATED)`,
  };
}

async function stockOf(t: Targets): Promise<{ available: bigint; reserved: bigint }> {
  const { stock } = await legit(InventoryService, t.platform, "inventory", "olivia").getStock({ sku: t.sku });
  return { available: stock?.available ?? -1n, reserved: stock?.reserved ?? -1n };
}

function stockStill(t: Targets, before: { available: bigint; reserved: bigint }) {
  return async (): Promise<Check> => {
    const now = await stockOf(t);
    return {
      ok: now.available === before.available && now.reserved === before.reserved,
      text: `stock ${t.sku} available ${now.available} reserved ${now.reserved} (before ${before.available}/${before.reserved})`,
    };
  };
}

/** The whole of alice's confirmed order at once: order, payment, shipment. */
async function confirmedUntouched(t: Targets): Promise<Check> {
  const checks = [
    await orderStill(t, t.confirmed.orderId, OrderStatus.CONFIRMED),
    await paymentStill(t),
    await shipmentStill(t),
  ];
  return { ok: checks.every((c) => c.ok), text: checks.map((c) => c.text).join("; ") };
}

async function subscriptionStill(t: Targets): Promise<Check> {
  const { subscriptions } = await legit(
    NotificationService,
    t.platform,
    "notifications",
    "acme",
  ).listWebhookSubscriptions({});
  const there = subscriptions.some((s) => s.subscriptionId === t.acmeSubscriptionId);
  return { ok: there, text: `acme's subscription ${there ? "still listed for acme" : "GONE"}` };
}

function short(id: string): string {
  return id.slice(0, 8);
}

// ---------------------------------------------------------------- groups

type Who = TestCaller | "anonymous";

async function authorization(who: Who, audience: string): Promise<string | undefined> {
  return who === "anonymous" ? undefined : bearerFor(who, audience);
}

function asWho(who: Who): string {
  return who === "anonymous" ? "no Authorization header" : `${who}'s real token`;
}

/** The findings of issue 10, as they were found. */
async function findings(s: Suite, t: Targets): Promise<void> {
  const { urls } = t.platform;
  const group = "findings";

  // 1. A refund with a made-up idempotency key.
  for (const who of ["anonymous", "alice"] as const) {
    await s.probe({
      group,
      name: `Refund of alice's captured payment, made-up key, ${who}`,
      sent: `payments Refund {orderId: alice's confirmed order, idempotencyKey: made up}, ${asWho(who)}`,
      expect: who === "anonymous" ? UNAUTHENTICATED : PERMISSION_DENIED,
      wire: "connect",
      send: async () =>
        call(
          urls.payments,
          PaymentService.method.refund,
          { idempotencyKey: `made-up-${randomUUID()}`, orderId: t.confirmed.orderId, reason: "attack" },
          await authorization(who, "payments"),
        ),
      after: () => confirmedUntouched(t),
    });
  }

  // 2. ListOrders with an empty body.
  await s.probe({
    group,
    name: "ListOrders with an empty body, anonymous",
    sent: "orders ListOrders {}, no Authorization header",
    expect: UNAUTHENTICATED,
    wire: "connect",
    send: () => call(urls.orders, OrderService.method.listOrders, {}, undefined),
  });
  const neverAlices = async (answer: Answer): Promise<Check> => {
    if (answer.code !== "ok") return { ok: true, text: "nothing listed" };
    const orders = (answer.json as { orders?: { orderId?: string; customerId?: string }[] }).orders ?? [];
    const alices = orders.filter(
      (o) => o.customerId === ALICE || o.orderId === t.confirmed.orderId || o.orderId === t.spare.orderId,
    );
    const foreign = orders.filter((o) => o.customerId !== BOB);
    return {
      ok: alices.length === 0 && foreign.length === 0,
      text: `${orders.length} orders listed, ${alices.length} of them alice's, ${foreign.length} not bob's${
        orders.some((o) => o.orderId === t.bobOrderId) ? "; bob's own order listed" : ""
      }`,
    };
  };
  await s.probe({
    group,
    name: "ListOrders with an empty body, as bob",
    sent: "orders ListOrders {}, bob's real token",
    expect: { codes: ["ok"], text: "ok (HTTP 200) with bob's orders only, none of alice's" },
    wire: "connect",
    send: async () => call(urls.orders, OrderService.method.listOrders, {}, await bearerFor("bob", "orders")),
    after: neverAlices,
  });
  await s.probe({
    group,
    name: "ListOrders naming alice as the customer, as bob",
    sent: "orders ListOrders {customerId: alice's id}, bob's real token",
    expect: {
      codes: ["ok", "permission_denied", "invalid_argument"],
      text: "none of alice's orders: ok (HTTP 200) with bob's only, or permission_denied (403) / invalid_argument (400)",
    },
    wire: "connect",
    send: async () =>
      call(
        urls.orders,
        OrderService.method.listOrders,
        { customerId: ALICE },
        await bearerFor("bob", "orders"),
      ),
    after: neverAlices,
  });

  // 3. ConfirmOrder right after PlaceOrder for an order the provider declines.
  const alice = legit(OrderService, t.platform, "orders", "alice");
  const declined = await alice.placeOrder(placeRequest(t.tag, t.declinedSku, "alice"));
  const declinedId = declined.order?.orderId ?? "";
  for (const who of ["anonymous", "alice"] as const) {
    await s.probe({
      group,
      name: `ConfirmOrder of an order the provider will decline, right after PlaceOrder, ${who}`,
      sent: `orders ConfirmOrder {orderId: alice's new 6.66 EUR order, paymentId/shipmentId made up}, ${asWho(who)}`,
      expect: who === "anonymous" ? UNAUTHENTICATED : PERMISSION_DENIED,
      wire: "connect",
      send: async () =>
        call(
          urls.orders,
          OrderService.method.confirmOrder,
          { orderId: declinedId, paymentId: randomUUID(), shipmentId: randomUUID() },
          await authorization(who, "orders"),
        ),
    });
  }
  const final = await waitForFinal(t.platform, declinedId).catch(() => create(OrderSchema, {}));
  s.results.push({
    group,
    name: "the declined order after the ConfirmOrder attempts",
    sent: "(state) the saga ran to its end",
    expected: "FAILED (payment declined), never CONFIRMED",
    actual: OrderStatus[final.status] ?? String(final.status),
    state: final.failureReason ? `failure reason: ${final.failureReason}` : undefined,
    pass: final.status === OrderStatus.FAILED,
  });

  // 4. Anyone cancelling anyone's order.
  await s.probe({
    group,
    name: "CancelOrder of alice's order, as bob",
    sent: "orders CancelOrder {orderId: alice's confirmed order}, bob's real token",
    expect: NOT_FOUND,
    wire: "connect",
    send: async () =>
      call(
        urls.orders,
        OrderService.method.cancelOrder,
        { orderId: t.confirmed.orderId, reason: "attack" },
        await bearerFor("bob", "orders"),
      ),
    after: () => orderStill(t, t.confirmed.orderId, OrderStatus.CONFIRMED),
  });
  await s.probe({
    group,
    name: "CancelOrder of alice's order, anonymous",
    sent: "orders CancelOrder {orderId: alice's confirmed order}, no Authorization header",
    expect: UNAUTHENTICATED,
    wire: "connect",
    send: () =>
      call(urls.orders, OrderService.method.cancelOrder, { orderId: t.confirmed.orderId }, undefined),
    after: () => orderStill(t, t.confirmed.orderId, OrderStatus.CONFIRMED),
  });
  await s.probe({
    group,
    name: "GetOrder of alice's order, as bob",
    sent: "orders GetOrder {orderId: alice's confirmed order}, bob's real token",
    expect: NOT_FOUND,
    wire: "connect",
    send: async () =>
      call(
        urls.orders,
        OrderService.method.getOrder,
        { orderId: t.confirmed.orderId },
        await bearerFor("bob", "orders"),
      ),
  });
  const key = `attack-${t.tag}-${randomUUID()}`;
  const alicesBefore = await alicesOrderIds(t);
  await s.probe({
    group,
    name: "PlaceOrder naming alice as the customer, as bob",
    sent: "orders PlaceOrder {customerId: alice's id, ...}, bob's real token",
    expect: {
      codes: ["permission_denied", "invalid_argument", "ok"],
      text: "no order for alice: permission_denied (403) / invalid_argument (400), or ok (200) placed for bob",
    },
    wire: "connect",
    send: async () =>
      call(
        urls.orders,
        OrderService.method.placeOrder,
        { ...placeRequest(t.tag, t.sku, "alice"), idempotencyKey: key },
        await bearerFor("bob", "orders"),
      ),
    after: async (answer) => {
      const placedFor = (answer.json as { order?: { customerId?: string } } | undefined)?.order?.customerId;
      const added = [...(await alicesOrderIds(t))].filter((id) => !alicesBefore.has(id));
      return {
        ok: (placedFor === undefined || placedFor === BOB) && added.length === 0,
        text: `${placedFor ? `placed for ${placedFor === BOB ? "bob" : placedFor}` : "nothing placed"}; ${added.length} new orders of alice's (listed as ops)`,
      };
    },
  });

  // 5. Stock, reservations, shipments.
  const before = await stockOf(t);
  await s.probe({
    group,
    name: "SetStock as a customer",
    sent: `inventory SetStock {sku: ${t.sku}, available: 0}, alice's real token`,
    expect: PERMISSION_DENIED,
    wire: "connect",
    send: async () =>
      call(
        urls.inventory,
        InventoryService.method.setStock,
        { sku: t.sku, available: 0n },
        await bearerFor("alice", "inventory"),
      ),
    after: stockStill(t, before),
  });

  // 6. Webhook subscriptions.
  const hook = `http://127.0.0.1:9/alice-${t.tag}`;
  await s.probe({
    group,
    name: "CreateWebhookSubscription as a customer",
    sent: `notifications CreateWebhookSubscription {url: ${hook}, every event}, alice's real token`,
    expect: PERMISSION_DENIED,
    wire: "connect",
    send: async () =>
      call(
        urls.notifications,
        NotificationService.method.createWebhookSubscription,
        { url: hook },
        await bearerFor("alice", "notifications"),
      ),
    after: async () => {
      const { subscriptions } = await legit(
        NotificationService,
        t.platform,
        "notifications",
        "olivia",
      ).listWebhookSubscriptions({});
      const made = subscriptions.some((x) => x.url === hook);
      return {
        ok: !made,
        text: made ? "alice's subscription EXISTS" : "no subscription to alice's URL (listed as ops)",
      };
    },
  });
  const paymentsHook = `http://127.0.0.1:9/acme-payments-${t.tag}`;
  await s.probe({
    group,
    name: "CreateWebhookSubscription to payment events, as a partner",
    sent: `notifications CreateWebhookSubscription {url: ${paymentsHook}, eventTypes: [accord.payments.v1.PaymentCaptured]}, acme's real token`,
    expect: PERMISSION_DENIED,
    wire: "connect",
    send: async () =>
      call(
        urls.notifications,
        NotificationService.method.createWebhookSubscription,
        { url: paymentsHook, eventTypes: ["accord.payments.v1.PaymentCaptured"] },
        await bearerFor("acme", "notifications"),
      ),
    after: async () => {
      const { subscriptions } = await legit(
        NotificationService,
        t.platform,
        "notifications",
        "olivia",
      ).listWebhookSubscriptions({});
      const made = subscriptions.some((x) => x.url === paymentsHook);
      return {
        ok: !made,
        text: made ? "the payments subscription EXISTS" : "no subscription to that URL (listed as ops)",
      };
    },
  });
  await s.probe({
    group,
    name: "CreateWebhookSubscription, anonymous",
    sent: `notifications CreateWebhookSubscription {url: ${hook}}, no Authorization header`,
    expect: UNAUTHENTICATED,
    wire: "connect",
    send: () =>
      call(
        urls.notifications,
        NotificationService.method.createWebhookSubscription,
        { url: hook },
        undefined,
      ),
  });
  await s.probe({
    group,
    name: "ListWebhookSubscriptions as globex",
    sent: "notifications ListWebhookSubscriptions {}, globex's real token",
    expect: { codes: ["ok"], text: "ok (HTTP 200) without acme's subscription" },
    wire: "connect",
    send: async () =>
      call(
        urls.notifications,
        NotificationService.method.listWebhookSubscriptions,
        {},
        await bearerFor("globex", "notifications"),
      ),
    after: async (answer) => {
      const listed = (answer.json as { subscriptions?: { subscriptionId?: string }[] }).subscriptions ?? [];
      const acmes = listed.some((x) => x.subscriptionId === t.acmeSubscriptionId);
      return { ok: !acmes, text: `${listed.length} listed, acme's ${acmes ? "LISTED" : "not among them"}` };
    },
  });
  // Deleting or rotating another partner's subscription: another partner is
  // told it does not exist, a customer is not a partner at all; either way
  // acme's subscription is left as it was.
  const onAcmes = [
    ["DeleteWebhookSubscription", NotificationService.method.deleteWebhookSubscription],
    ["RotateWebhookSecret", NotificationService.method.rotateWebhookSecret],
  ] as const;
  const intruders = [
    ["globex", "globex", NOT_FOUND],
    ["a customer", "alice", PERMISSION_DENIED],
  ] as const;
  for (const [rpc, method] of onAcmes) {
    for (const [who, user, expect] of intruders) {
      await s.probe({
        group,
        name: `${rpc} of acme's, as ${who}`,
        sent: `notifications ${rpc} {subscriptionId: acme's}, ${user}'s real token`,
        expect,
        wire: "connect",
        send: async () =>
          call(
            urls.notifications,
            method,
            { subscriptionId: t.acmeSubscriptionId },
            await bearerFor(user, "notifications"),
          ),
        after: () => subscriptionStill(t),
      });
    }
  }
}

async function alicesOrderIds(t: Targets): Promise<Set<string>> {
  const { orders } = await legit(OrderService, t.platform, "orders", "olivia").listOrders({
    customerId: ALICE,
  });
  return new Set(orders.map((o) => o.orderId));
}

interface InternalRpc {
  target: RpcTarget;
  method: DescMethod;
  input: (t: Targets) => Record<string, unknown>;
  what: string;
  after: (t: Targets, before: { available: bigint; reserved: bigint }) => () => Promise<Check>;
}

const made = () => `made-up-${randomUUID()}`;
const address = {
  recipientName: "Mallory",
  line1: "Elsewhere 1",
  city: "Berlin",
  postalCode: "10115",
  countryCode: "DE",
};

/** Every RPC only Accord's own processes (or ops) may call, aimed at alice's confirmed order. */
const INTERNAL: InternalRpc[] = [
  ...(
    [
      [
        OrderService.method.confirmOrder,
        (t: Targets) => ({ orderId: t.confirmed.orderId, paymentId: made(), shipmentId: made() }),
      ],
      [
        OrderService.method.failOrder,
        (t: Targets) => ({ orderId: t.confirmed.orderId, failureCode: 4, reason: "attack" }),
      ],
      [OrderService.method.markOrderCancelled, (t: Targets) => ({ orderId: t.confirmed.orderId })],
      [OrderService.method.markOrderDelivered, (t: Targets) => ({ orderId: t.confirmed.orderId })],
    ] as const
  ).map(([method, input]) => ({
    target: "orders" as const,
    method,
    input,
    what: "alice's confirmed order",
    after: (t: Targets) => () => confirmedUntouched(t),
  })),
  {
    target: "payments",
    method: PaymentService.method.charge,
    input: (t) => ({
      idempotencyKey: made(),
      orderId: t.confirmed.orderId,
      customerId: ALICE,
      amount: { currencyCode: "EUR", amountMinor: 100n },
    }),
    what: "alice's order, 1.00 EUR",
    after: (t) => () => paymentStill(t),
  },
  {
    target: "payments",
    method: PaymentService.method.refund,
    input: (t) => ({ idempotencyKey: made(), orderId: t.confirmed.orderId, reason: "attack" }),
    what: "alice's captured payment",
    after: (t) => () => confirmedUntouched(t),
  },
  {
    target: "payments",
    method: PaymentService.method.getPayment,
    input: (t) => ({ paymentId: t.confirmed.paymentId }),
    what: "alice's payment",
    after: () => async () => ({ ok: true, text: "read only" }),
  },
  {
    target: "inventory",
    method: InventoryService.method.reserve,
    input: (t) => ({
      idempotencyKey: made(),
      orderId: t.confirmed.orderId,
      items: [{ sku: t.sku, quantity: 50 }],
    }),
    what: "50 units of the run's SKU",
    after: (t, before) => stockStill(t, before),
  },
  {
    target: "inventory",
    method: InventoryService.method.release,
    input: (t) => ({ idempotencyKey: made(), orderId: t.confirmed.orderId, reason: "attack" }),
    what: "alice's order's reservation",
    after: (t, before) => stockStill(t, before),
  },
  {
    target: "inventory",
    method: InventoryService.method.setStock,
    input: (t) => ({ sku: t.sku, available: 0n }),
    what: "the run's SKU to 0",
    after: (t, before) => stockStill(t, before),
  },
  {
    target: "shipping",
    method: ShippingService.method.createShipment,
    input: (t) => ({
      idempotencyKey: made(),
      orderId: t.confirmed.orderId,
      address,
      items: [{ sku: t.sku, quantity: 1 }],
    }),
    what: "a shipment of alice's order to another address",
    after: (t) => () => shipmentStill(t),
  },
  {
    target: "shipping",
    method: ShippingService.method.cancelShipment,
    input: (t) => ({ idempotencyKey: made(), orderId: t.confirmed.orderId, reason: "attack" }),
    what: "alice's shipment",
    after: (t) => () => shipmentStill(t),
  },
  {
    target: "shipping",
    method: ShippingService.method.confirmDelivery,
    input: (t) => ({ shipmentId: t.confirmed.shipmentId }),
    what: "alice's shipment",
    after: (t) => async () => {
      const checks = [
        await shipmentStill(t),
        await orderStill(t, t.confirmed.orderId, OrderStatus.CONFIRMED),
      ];
      return { ok: checks.every((c) => c.ok), text: checks.map((c) => c.text).join("; ") };
    },
  },
  {
    target: "shipping",
    method: ShippingService.method.getShipment,
    input: (t) => ({ shipmentId: t.confirmed.shipmentId }),
    what: "alice's shipment (address)",
    after: () => async () => ({ ok: true, text: "read only" }),
  },
  {
    target: "catalog",
    method: CatalogService.method.upsertProduct,
    input: (t) => ({
      product: {
        sku: t.sku,
        name: "Mallory's price",
        prices: [{ currencyCode: "EUR", amountMinor: 1n }],
        active: true,
      },
    }),
    what: "the run's product at 1 cent",
    after: (t) => () => priceStill(t),
  },
  {
    target: "catalog",
    method: CatalogService.method.lookupPrices,
    input: (t) => ({ skus: [t.sku], currencyCode: "EUR" }),
    what: "checkout's price lookup of the run's product",
    after: () => async () => ({ ok: true, text: "read only" }),
  },
  {
    target: "orchestrator",
    method: SagaService.method.getSaga,
    input: (t) => ({ orderId: t.confirmed.orderId }),
    what: "alice's saga (steps, failures)",
    after: () => async () => ({ ok: true, text: "read only" }),
  },
  {
    target: "notifications",
    method: DeadLetterService.method.listDeadLetterQueues,
    input: () => ({}),
    what: "the dead-letter queues",
    after: () => async () => ({ ok: true, text: "read only" }),
  },
  {
    target: "notifications",
    method: DeadLetterService.method.listDeadLetters,
    input: () => ({ queue: "webhook.dlq", limit: 10 }),
    what: "the dead-lettered webhooks",
    after: () => async () => ({ ok: true, text: "read only" }),
  },
  {
    target: "notifications",
    method: DeadLetterService.method.replayDeadLetters,
    input: () => ({ queue: "webhook.dlq", all: true }),
    what: "every dead-lettered webhook",
    // Refused by the authorization interceptor before the handler runs; no queue is read.
    after: () => async () => ({ ok: true, text: "nothing checked beyond the refusal" }),
  },
];

/** The run's product still has the price prepare() gave it. */
async function priceStill(t: Targets): Promise<Check> {
  const { product } = await legit(CatalogService, t.platform, "catalog", "olivia").getProduct({ sku: t.sku });
  const eur = product?.prices.find((p) => p.currencyCode === "EUR")?.amountMinor;
  return { ok: eur === 1500n, text: `the run's product at ${eur ?? "no"} EUR cents` };
}

/** Each internal RPC as someone who is not Accord's process that owns the step. */
async function internalRpcs(s: Suite, t: Targets, volume: Volume): Promise<void> {
  const callers: Who[] = volume === "full" ? ["alice", "acme", "anonymous"] : ["alice", "anonymous"];
  const wires: Wire[] = volume === "full" ? ["connect", "grpc"] : ["connect"];
  for (const rpc of INTERNAL) {
    for (const who of callers) {
      for (const wire of wires) {
        const before = await stockOf(t);
        await s.probe({
          group: "internal RPCs",
          name: `${rpc.method.name} as ${who === "anonymous" ? "anonymous" : who === "acme" ? "a partner" : "a customer"} (${wire})`,
          sent: `${rpc.target} ${rpc.method.name} on ${rpc.what}, ${asWho(who)}, ${wire}`,
          expect: who === "anonymous" ? UNAUTHENTICATED : PERMISSION_DENIED,
          wire,
          send: async () =>
            call(
              t.platform.urls[rpc.target],
              rpc.method,
              rpc.input(t),
              await authorization(who, rpc.target),
              wire,
            ),
          after: rpc.after(t, before),
        });
      }
    }
  }
}

// ---------------------------------------------------------------- tokens

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

interface RealmKey {
  kid: string;
  pem: string;
}

async function realmSigningKey(issuer: string): Promise<RealmKey> {
  const res = await fetch(`${issuer}/protocol/openid-connect/certs`, { signal: AbortSignal.timeout(5000) });
  const { keys } = (await res.json()) as { keys: (Record<string, string> & { kid: string })[] };
  const jwk = keys.find(
    (k) => k.kty === "RSA" && (k.use ?? "sig") === "sig" && (k.alg ?? "RS256") === "RS256",
  );
  if (!jwk) throw new Error("the realm publishes no RS256 signing key");
  const pem = createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
  return { kid: jwk.kid, pem };
}

/** Tokens an attacker can make: each is refused by the verifier for a different reason. */
async function forgedTokens(issuer: string): Promise<{ name: string; header: string; sent: string }[]> {
  const real = (await bearerFor("olivia", "orders")).slice("Bearer ".length);
  const claims = decodeJwt(real);
  const realKid = decodeProtectedHeader(real).kid ?? "";
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const now = Math.floor(Date.now() / 1000);
  const fresh: JWTPayload = { ...claims, iat: now, exp: now + 300 };
  const sign = (
    payload: JWTPayload,
    header: { alg: string; kid?: string },
    key: Parameters<SignJWT["sign"]>[0],
  ) => new SignJWT(payload).setProtectedHeader({ ...header, typ: "JWT" }).sign(key);
  const realm = await realmSigningKey(issuer);
  const [, realBody, realSignature] = real.split(".");
  const bearer = (token: string) => `Bearer ${token}`;
  return [
    {
      name: "another issuer",
      header: bearer(
        await sign(
          { ...fresh, iss: "http://127.0.0.1:8181/realms/attacker" },
          { alg: "RS256", kid: "attacker-1" },
          privateKey,
        ),
      ),
      sent: "olivia's claims (ops), iss http://127.0.0.1:8181/realms/attacker, signed with the attacker's own RSA key, kid attacker-1",
    },
    {
      name: "another issuer, no kid",
      header: bearer(
        await sign({ ...fresh, iss: "http://127.0.0.1:8181/realms/attacker" }, { alg: "RS256" }, privateKey),
      ),
      sent: "olivia's claims, another iss, the attacker's RSA key, no kid",
    },
    {
      name: "the realm's issuer and kid, the attacker's key",
      header: bearer(await sign(fresh, { alg: "RS256", kid: realKid }, privateKey)),
      sent: "olivia's claims (ops) exactly, the realm's kid, signed with the attacker's own RSA key",
    },
    {
      name: "the realm's issuer, a made-up kid",
      header: bearer(await sign(fresh, { alg: "RS256", kid: `made-up-${randomUUID()}` }, privateKey)),
      sent: "olivia's claims, a kid the realm never published (forces a key-set refresh), the attacker's key",
    },
    {
      name: "alg none, no signature",
      header: bearer(`${b64url({ alg: "none", typ: "JWT" })}.${b64url(fresh)}.`),
      sent: 'olivia\'s claims, header {"alg":"none"}, empty signature',
    },
    {
      name: "alg none, the real signature kept",
      header: bearer(`${b64url({ alg: "none", typ: "JWT", kid: realKid })}.${realBody}.${realSignature}`),
      sent: 'olivia\'s real token with its header swapped for {"alg":"none"}',
    },
    {
      name: "HS256 with the realm's public key as the secret",
      header: bearer(
        await sign(fresh, { alg: "HS256", kid: realm.kid }, new TextEncoder().encode(realm.pem)),
      ),
      sent: "olivia's claims, alg HS256, HMAC keyed with the realm's RSA public key (PEM), the realm's kid (algorithm confusion)",
    },
    {
      name: "claims edited, the realm's signature kept",
      header: bearer(
        `${real.split(".")[0]}.${b64url({ ...claims, sub: ALICE, realm_access: { roles: ["ops"] } })}.${realSignature}`,
      ),
      sent: "olivia's real token with sub changed to alice's id, the original signature",
    },
    { name: "garbage", header: "Bearer !!not-a-token!!", sent: "Authorization: Bearer !!not-a-token!!" },
    { name: "three dots of nothing", header: "Bearer a.b.c", sent: "Authorization: Bearer a.b.c" },
    {
      name: "Basic credentials",
      header: `Basic ${Buffer.from("alice:alice").toString("base64")}`,
      sent: "Authorization: Basic alice:alice (the demo password)",
    },
    { name: "scheme only", header: "Bearer", sent: "Authorization: Bearer" },
    {
      name: "two tokens",
      header: `Bearer ${real}, Bearer ${real}`,
      sent: "olivia's real token twice, comma-joined",
    },
    {
      name: "9 KB header",
      header: `Bearer ${"A".repeat(9_000)}`,
      sent: "Authorization: Bearer + 9,000 characters",
    },
  ];
}

/** Every bad token on an ops-only method: any accepted one would list every customer's orders. */
async function tokens(s: Suite, t: Targets, volume: Volume): Promise<void> {
  const issuer = process.env.OIDC_ISSUER ?? DEFAULT_ISSUER;
  const group = "tokens";
  // The expiry probe's 1 s token, started first: the wait runs while the other cases do.
  const probeTokens = callerAs("accord-expiry-probe", "orders").tokens;
  const probe = await probeTokens.token("orders");
  const probeExpiry = (decodeJwt(probe).exp ?? 0) * 1000;
  const skewSec = Number(process.env.AUTH_CLOCK_SKEW_SEC ?? 5);
  await s.probe({
    group,
    name: "control: the expiry probe's token while it is valid",
    sent: "orders ListOrders {}, a fresh token of accord-expiry-probe (role ops, lifespan 1 s)",
    expect: {
      codes: ["ok"],
      text: "ok (HTTP 200): the token is good until it expires, so the expired case below tests expiry alone",
    },
    wire: "connect",
    send: () => call(t.platform.urls.orders, OrderService.method.listOrders, {}, `Bearer ${probe}`),
  });

  const targets: RpcTarget[] =
    volume === "full"
      ? ["orders", "inventory", "payments", "shipping", "notifications", "catalog", "orchestrator"]
      : ["orders"];
  const wires: Wire[] = volume === "full" ? ["connect", "grpc", "grpc-web"] : ["connect", "grpc"];
  const forged = await forgedTokens(issuer);
  const opsMethod: Record<RpcTarget, { method: DescMethod; input: Record<string, unknown> }> = {
    orders: { method: OrderService.method.listOrders, input: {} },
    inventory: { method: InventoryService.method.setStock, input: { sku: t.sku, available: 0n } },
    payments: { method: PaymentService.method.getPayment, input: { paymentId: t.confirmed.paymentId } },
    shipping: { method: ShippingService.method.getShipment, input: { shipmentId: t.confirmed.shipmentId } },
    notifications: { method: NotificationService.method.listWebhookSubscriptions, input: {} },
    catalog: {
      method: CatalogService.method.upsertProduct,
      input: {
        product: { sku: t.sku, name: "Mallory's price", prices: [{ currencyCode: "EUR", amountMinor: 1n }] },
      },
    },
    orchestrator: { method: SagaService.method.getSaga, input: { orderId: t.confirmed.orderId } },
  };
  const cases = [
    { name: "no token", header: undefined as string | undefined, sent: "no Authorization header" },
    ...forged,
  ];
  for (const target of targets) {
    const { method, input } = opsMethod[target];
    for (const c of cases) {
      for (const wire of wires) {
        await s.probe({
          group,
          name: `${c.name} -> ${target} ${method.name} (${wire})`,
          sent: c.sent,
          expect: UNAUTHENTICATED,
          wire,
          send: () => call(t.platform.urls[target], method, input, c.header, wire),
        });
      }
    }
    // A real token for another service, aimed at a method its caller may call
    // on this one (on orders the saga's FailOrder), so only the audience stops it.
    const elsewhere = target === "payments" ? "shipping" : "payments";
    const onOrders = target === "orders";
    const aimed = onOrders ? OrderService.method.failOrder : method;
    for (const wire of wires) {
      await s.probe({
        group,
        name: `a token whose audience is another service -> ${target} ${aimed.name} (${wire})`,
        sent: `the orchestrator's real token for audience ${elsewhere}${onOrders ? ", FailOrder of alice's second confirmed order (the orchestrator may call FailOrder)" : ""}`,
        expect: UNAUTHENTICATED,
        wire,
        send: async () =>
          call(
            t.platform.urls[target],
            aimed,
            onOrders ? { orderId: t.spare.orderId, failureCode: 4, reason: "attack" } : input,
            await bearerFor("orchestrator", elsewhere),
            wire,
          ),
        ...(onOrders ? { after: () => orderStill(t, t.spare.orderId, OrderStatus.CONFIRMED) } : {}),
      });
    }
  }
  // 100 KB: the HTTP layer may refuse it before any code of ours (431, or the
  // HTTP/2 stream refused); what must not happen is a 5xx or an answer.
  for (const wire of wires) {
    await s.probe({
      group,
      name: `100 KB Authorization header -> orders ListOrders (${wire})`,
      sent: "Authorization: Bearer + 100,000 characters",
      expect: {
        codes: ["unauthenticated", "http 431", "stream error", "no answer"],
        statuses: [0, 200, 401, 431],
        text: "unauthenticated (401), or refused by the HTTP layer (431 / stream refused); never 5xx, never ok",
      },
      wire,
      send: () =>
        call(
          t.platform.urls.orders,
          OrderService.method.listOrders,
          {},
          `Bearer ${"A".repeat(100_000)}`,
          wire,
        ),
    });
  }

  const wait = probeExpiry + (skewSec + 1) * 1000 - Date.now();
  if (wait > 0) {
    s.log(`[attack] waiting ${Math.ceil(wait / 1000)} s for the probe token to expire beyond the clock skew`);
    await sleep(wait);
  }
  for (const wire of wires) {
    await s.probe({
      group,
      name: `expired token -> orders ListOrders (${wire})`,
      sent: `the same accord-expiry-probe token, ${skewSec + 1} s after its exp (lifespan 1 s + ${skewSec} s clock skew + 1 s)`,
      expect: UNAUTHENTICATED,
      wire,
      send: () => call(t.platform.urls.orders, OrderService.method.listOrders, {}, `Bearer ${probe}`, wire),
    });
  }
}

// ---------------------------------------------------------------- reflection and health

async function reflectionAndHealth(s: Suite, t: Targets, volume: Volume): Promise<void> {
  const group = "reflection and health";
  const targets: RpcTarget[] =
    volume === "full"
      ? ["orders", "inventory", "payments", "shipping", "notifications", "catalog", "orchestrator"]
      : ["orders"];
  for (const target of targets) {
    const url = t.platform.urls[target];
    for (const [version, service] of [
      ["v1", ReflectionV1],
      ["v1alpha", ReflectionV1alpha],
    ] as const) {
      if (volume === "short" && version === "v1alpha") continue;
      const method = service.method.serverReflectionInfo;
      const list = { messageRequest: { case: "listServices", value: "" } };
      await s.probe({
        group,
        name: `reflection ${version} ListServices on ${target}, anonymous`,
        sent: `grpc.reflection.${version}.ServerReflection/ServerReflectionInfo {list_services}, no Authorization header, gRPC`,
        expect: UNAUTHENTICATED,
        wire: "grpc",
        send: () => call(url, method, list, undefined, "grpc"),
      });
      await s.probe({
        group,
        name: `reflection ${version} ListServices on ${target}, as a customer`,
        sent: `grpc.reflection.${version}.ServerReflection/ServerReflectionInfo {list_services}, alice's real token, gRPC`,
        expect: PERMISSION_DENIED,
        wire: "grpc",
        send: async () => call(url, method, list, await bearerFor("alice", target), "grpc"),
      });
      await s.probe({
        group,
        name: `control: reflection ${version} ListServices on ${target}, as ops`,
        sent: `grpc.reflection.${version}.ServerReflection/ServerReflectionInfo {list_services}, olivia's real token, gRPC`,
        expect: {
          codes: ["ok"],
          text: "ok: ops may explore the API, so the refusals above are the token's doing",
        },
        wire: "grpc",
        send: async () => call(url, method, list, await bearerFor("olivia", target), "grpc"),
      });
    }
    await s.probe({
      group,
      name: `health Check on ${target}, anonymous (open by design)`,
      sent: 'grpc.health.v1.Health/Check {service: ""}, no Authorization header, gRPC',
      expect: {
        codes: ["ok"],
        text: "ALLOWED: ok with status SERVING (health stays open so probes need no token; it says nothing about data)",
      },
      wire: "grpc",
      send: () => call(url, Health.method.check, { service: "" }, undefined, "grpc"),
      after: async (answer) => {
        const status = (answer.json as { status?: string } | undefined)?.status;
        return { ok: status === "SERVING", text: `status ${status}` };
      },
    });
  }
}

// ---------------------------------------------------------------- Kafka

async function kafka(s: Suite): Promise<void> {
  const group = "kafka";
  // The production topic: the per-service ACLs are written for its name
  // (every sandboxed platform shares one principal of its own). The forged
  // event is an order no one placed of a SKU no one stocks: were it
  // accepted, the saga it started would stop at the reservation.
  const topic = "orders.events";
  // Readers of the topic may describe it: on a fresh broker the answer would be "no such topic", not the ACL's.
  await ensureProductionTopics();
  const forged = (user: string | undefined, password: string | undefined) => async (): Promise<Answer> => {
    const outcome = await tryForgedPublish({
      topic,
      ...(user === undefined ? {} : { username: user, password: password ?? "" }),
    });
    return {
      status: 0,
      code: outcome,
      message: outcome === "ACCEPTED" ? "the broker appended the forged event" : "",
    };
  };
  for (const user of ["payments", "notifications", "orchestrator", "chaos"]) {
    await s.probe({
      group,
      name: `forged OrderPlaced on ${topic} as ${user}`,
      sent: `kafkajs producer, SASL SCRAM user "${user}" with its own password, one forged OrderPlaced to ${topic}`,
      expect: {
        codes: ["TOPIC_AUTHORIZATION_FAILED"],
        text: "TOPIC_AUTHORIZATION_FAILED (only orders writes orders.events)",
      },
      send: forged(user, kafkaPasswordFor(user)),
    });
  }
  await s.probe({
    group,
    name: "producer without SASL",
    sent: `kafkajs producer, no SASL at all, one forged OrderPlaced to ${topic}`,
    expect: {
      codes: ["CONNECTION_CLOSED", "CONNECTION_FAILED", "SASL_AUTHENTICATION_FAILED", "REQUEST_TIMED_OUT"],
      text: "the connection refused or closed by the broker (CONNECTION_CLOSED) before any request is served",
    },
    send: forged(undefined, undefined),
  });
  await s.probe({
    group,
    name: "the orders user with a guessed password",
    sent: `kafkajs producer, SASL SCRAM user "orders" with password "orders", one forged OrderPlaced to ${topic}`,
    expect: { codes: ["SASL_AUTHENTICATION_FAILED"], text: "SASL_AUTHENTICATION_FAILED" },
    send: forged("orders", "orders"),
  });
}

// ---------------------------------------------------------------- Pact Broker

interface BrokerAnswer {
  status: number;
  body: unknown;
}

async function brokerRequest(
  broker: BrokerProcess,
  method: string,
  path: string,
  body: unknown,
  authorization?: string,
): Promise<BrokerAnswer> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/hal+json",
  };
  if (authorization !== undefined) headers.authorization = authorization;
  const res = await fetch(`${broker.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, body: parsed };
}

async function pactBroker(s: Suite, tag: string): Promise<void> {
  const group = "pact broker";
  const broker = await startBroker();
  try {
    const ci = await bearerFor("accord-ci", "pact-broker");
    const consumer = `attack-consumer-${tag}`;
    const provider = `attack-provider-${tag}`;
    // The legitimate release pipeline sets the stage: an environment, a pact, a provider version.
    const env = await brokerRequest(
      broker,
      "POST",
      "/environments",
      { name: `attack-${tag}`, production: false },
      ci,
    );
    if (env.status >= 300)
      throw new Error(`broker setup: POST /environments as accord-ci answered ${env.status}`);
    const envUuid = (env.body as { uuid: string }).uuid;
    const pact = {
      consumer: { name: consumer },
      provider: { name: provider },
      interactions: [
        { description: "a request", request: { method: "GET", path: "/x" }, response: { status: 200 } },
      ],
      metadata: { pactSpecification: { version: "2.0.0" } },
    };
    const published = await brokerRequest(
      broker,
      "PUT",
      `/pacts/provider/${provider}/consumer/${consumer}/version/1.0.0`,
      pact,
      ci,
    );
    if (published.status >= 300)
      throw new Error(`broker setup: publishing a pact as accord-ci answered ${published.status}`);
    const verifyHref = (published.body as { _links?: Record<string, { href?: string }> })._links?.[
      "pb:publish-verification-results"
    ]?.href;
    if (!verifyHref)
      throw new Error("broker setup: the published pact links no pb:publish-verification-results");
    const verifyPath = new URL(verifyHref).pathname;
    const version = await brokerRequest(broker, "PUT", `/pacticipants/${provider}/versions/broken-1`, {}, ci);
    if (version.status >= 300)
      throw new Error(`broker setup: creating a provider version answered ${version.status}`);

    const attackers: { who: string; header: () => Promise<string | undefined>; expect: number[] }[] = [
      { who: "without a token", header: async () => undefined, expect: [401] },
      { who: "with a customer token", header: () => bearerFor("alice", "pact-broker"), expect: [401, 403] },
      {
        who: "with a service token for the broker (no release role)",
        header: () => bearerFor("orchestrator", "pact-broker"),
        expect: [403],
      },
    ];
    for (const a of attackers) {
      const statusText = a.expect.map((n) => `HTTP ${n}`).join(" or ");
      await s.probe({
        group,
        name: `publish a successful verification result ${a.who}`,
        sent: `POST ${verifyPath} {success: true, providerApplicationVersion: broken-1}`,
        expect: { codes: a.expect.map((n) => `http ${n}`), statuses: a.expect, text: statusText },
        send: async () => {
          const r = await brokerRequest(
            broker,
            "POST",
            verifyPath,
            { success: true, providerApplicationVersion: "broken-1" },
            await a.header(),
          );
          return { status: r.status, code: `http ${r.status}`, message: brokerError(r) };
        },
        after: async () => {
          const verified = await matrixVerified(broker, consumer, provider, ci);
          return {
            ok: !verified,
            text: verified
              ? "the matrix HAS a verification by broken-1"
              : "no verification of the pact by broken-1 in the matrix",
          };
        },
      });
      await s.probe({
        group,
        name: `record a deployment ${a.who}`,
        sent: `POST /pacticipants/${provider}/versions/broken-1/deployed-versions/environment/<attack env>`,
        expect: { codes: a.expect.map((n) => `http ${n}`), statuses: a.expect, text: statusText },
        send: async () => {
          const r = await brokerRequest(
            broker,
            "POST",
            `/pacticipants/${provider}/versions/broken-1/deployed-versions/environment/${envUuid}`,
            {},
            await a.header(),
          );
          return { status: r.status, code: `http ${r.status}`, message: brokerError(r) };
        },
        after: async () => {
          const n = await deployedCount(broker, envUuid, ci);
          return { ok: n === 0, text: `${n} versions currently deployed to the attack environment` };
        },
      });
      await s.probe({
        group,
        name: `delete the environment ${a.who}`,
        sent: "DELETE /environments/<attack env>",
        expect: { codes: a.expect.map((n) => `http ${n}`), statuses: a.expect, text: statusText },
        send: async () => {
          const r = await brokerRequest(
            broker,
            "DELETE",
            `/environments/${envUuid}`,
            undefined,
            await a.header(),
          );
          return { status: r.status, code: `http ${r.status}`, message: brokerError(r) };
        },
        after: async () => {
          const still = await brokerRequest(broker, "GET", `/environments/${envUuid}`, undefined, ci);
          return { ok: still.status === 200, text: `the environment answers ${still.status}` };
        },
      });
    }
    // Controls: the same writes by the release pipeline's own client go
    // through, and the state checks above see them, so they could see a breach.
    await s.probe({
      group,
      name: "control: the verification result from accord-ci (release role)",
      sent: `POST ${verifyPath} {success: true, providerApplicationVersion: broken-1}, accord-ci's real token`,
      expect: {
        codes: ["http 201", "http 200"],
        statuses: [200, 201],
        text: "accepted (HTTP 201), and the matrix shows it",
      },
      send: async () => {
        const r = await brokerRequest(
          broker,
          "POST",
          verifyPath,
          { success: true, providerApplicationVersion: "broken-1" },
          ci,
        );
        return { status: r.status, code: `http ${r.status}`, message: brokerError(r) };
      },
      after: async () => {
        const verified = await matrixVerified(broker, consumer, provider, ci);
        return {
          ok: verified,
          text: verified ? "the matrix shows the verification" : "the matrix does NOT show it",
        };
      },
    });
    await s.probe({
      group,
      name: "control: the deployment recorded by accord-ci (release role)",
      sent: "POST /pacticipants/<provider>/versions/broken-1/deployed-versions/environment/<attack env>, accord-ci's real token",
      expect: {
        codes: ["http 201", "http 200"],
        statuses: [200, 201],
        text: "accepted (HTTP 201), and currently-deployed lists it",
      },
      send: async () => {
        const r = await brokerRequest(
          broker,
          "POST",
          `/pacticipants/${provider}/versions/broken-1/deployed-versions/environment/${envUuid}`,
          {},
          ci,
        );
        return { status: r.status, code: `http ${r.status}`, message: brokerError(r) };
      },
      after: async () => {
        const n = await deployedCount(broker, envUuid, ci);
        return { ok: n === 1, text: `${n} versions currently deployed to the attack environment` };
      },
    });
  } finally {
    await broker.stop();
  }
}

async function matrixVerified(
  broker: BrokerProcess,
  consumer: string,
  provider: string,
  token: string,
): Promise<boolean> {
  const matrix = await brokerRequest(
    broker,
    "GET",
    `/matrix?q[][pacticipant]=${consumer}&q[][version]=1.0.0&q[][pacticipant]=${provider}&q[][version]=broken-1&latestby=cvpv`,
    undefined,
    token,
  );
  const rows = (matrix.body as { matrix?: { verificationResult?: unknown }[] }).matrix ?? [];
  return rows.some((r) => r.verificationResult);
}

async function deployedCount(broker: BrokerProcess, envUuid: string, token: string): Promise<number> {
  const deployed = await brokerRequest(
    broker,
    "GET",
    `/environments/${envUuid}/deployed-versions/currently-deployed`,
    undefined,
    token,
  );
  return (
    (deployed.body as { _embedded?: { deployedVersions?: unknown[] }; deployedVersions?: unknown[] })
      ._embedded?.deployedVersions ??
    (deployed.body as { deployedVersions?: unknown[] }).deployedVersions ??
    []
  ).length;
}

function brokerError(r: BrokerAnswer): string {
  const error = (r.body as { error?: unknown } | undefined)?.error;
  return typeof error === "string" ? error : "";
}

// ---------------------------------------------------------------- the whole run

/** The groups of the suite, in the order they run; `npm run attack -- --only kafka,tokens` runs some. */
export const GROUPS = [
  "findings",
  "internal",
  "tokens",
  "reflection",
  "kafka",
  "broker",
  "frontdoor",
  "webhooks",
  "money",
  "checkout",
] as const;
export type Group = (typeof GROUPS)[number];
const PLATFORM_GROUPS: readonly Group[] = ["findings", "internal", "tokens", "reflection"];

export async function runAttack(
  volume: Volume,
  log: (line: string) => void = (l) => console.log(l),
  only: readonly Group[] = GROUPS,
): Promise<AttackReport> {
  const suite = new Suite(log);
  const tag = randomUUID().slice(0, 6).toLowerCase();
  if (only.some((g) => PLATFORM_GROUPS.includes(g))) {
    // Under "chaos-": the sandbox prefix Kafka's ACL table grants command-line runs.
    const prefix = `chaos-attack-${tag}.`;
    log(`[attack] starting the platform (topics ${prefix}*)`);
    const { platform, cleanup } = await startIsolatedPlatform(prefix);
    try {
      const targets = await prepare(platform, tag, log);
      const steps: [Group, string, () => Promise<void>][] = [
        ["findings", "the findings of issue 10", () => findings(suite, targets)],
        ["internal", "internal RPCs", () => internalRpcs(suite, targets, volume)],
        ["tokens", "tokens", () => tokens(suite, targets, volume)],
        ["reflection", "reflection and health", () => reflectionAndHealth(suite, targets, volume)],
      ];
      for (const [group, title, step] of steps) {
        if (!only.includes(group)) continue;
        log(`[attack] ${title}`);
        await step().catch((error: unknown) => failedGroup(suite, title, error));
      }
    } finally {
      await cleanup().catch((error: unknown) =>
        log(`[attack] stopping the platform failed: ${firstLine(error)}`),
      );
    }
  }
  if (only.includes("kafka")) {
    log("[attack] kafka");
    await kafka(suite).catch((error: unknown) => failedGroup(suite, "kafka", error));
  }
  if (only.includes("broker")) {
    log("[attack] pact broker");
    await pactBroker(suite, tag).catch((error: unknown) => failedGroup(suite, "pact broker", error));
  }
  if (only.includes("frontdoor"))
    await frontDoorAttacks(suite, volume).catch((e: unknown) => failedGroup(suite, "front door", e));
  // Groups that run their own processes and hand back their cases.
  const ownGroups = [
    ["webhooks", attackWebhooks],
    ["money", attackMoney],
    ["checkout", attackCheckout],
  ] as const;
  for (const [group, attack] of ownGroups) {
    if (!only.includes(group)) continue;
    log(`[attack] ${group}`);
    await attack(log, tag).then(
      (cases) => {
        suite.results.push(...cases);
      },
      (error: unknown) => failedGroup(suite, group, error),
    );
  }
  const failed = suite.results.filter((c) => !c.pass).length;
  return { volume, cases: suite.results, failed, ok: failed === 0 };
}

function failedGroup(s: Suite, group: string, error: unknown): void {
  s.results.push({
    group,
    name: "(group could not run)",
    sent: "",
    expected: "every case of the group",
    actual: firstLine(error),
    pass: false,
  });
}

export function formatAttack(report: AttackReport): string {
  const lines: string[] = [];
  const groups = [...new Set(report.cases.map((c) => c.group))];
  // The summary first, then every case with what was sent and what came back.
  for (const group of groups) {
    const cases = report.cases.filter((c) => c.group === group);
    const failed = cases.filter((c) => !c.pass);
    lines.push(
      `${group.padEnd(22)} ${String(cases.length - failed.length).padStart(4)}/${String(cases.length).padEnd(4)} as expected${
        failed.length > 0 ? `; NOT: ${failed.map((c) => c.name).join("; ")}` : ""
      }`,
    );
  }
  lines.push("");
  for (const group of groups) {
    const cases = report.cases.filter((c) => c.group === group);
    lines.push(`${group}: ${cases.filter((c) => c.pass).length}/${cases.length} as expected`);
    for (const c of cases) {
      lines.push(`  ${c.pass ? "ok  " : "FAIL"} ${c.name}`);
      lines.push(`       sent:     ${c.sent}`);
      lines.push(`       expected: ${c.expected}`);
      lines.push(`       actual:   ${c.actual}`);
      if (c.state) lines.push(`       after:    ${c.state}`);
    }
  }
  lines.push(
    report.ok
      ? `ATTACK: all ${report.cases.length} cases denied as expected`
      : `ATTACK: ${report.failed} of ${report.cases.length} cases NOT as expected`,
  );
  return lines.join("\n");
}
