import { randomUUID } from "node:crypto";
import { type DescMessage, toJsonString } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Channel,
  ListWebhookSubscriptionsResponseSchema,
  NotificationService,
} from "#gen/accord/notifications/v1/notifications_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { eventRegistry } from "#lib/messaging/events.ts";
import { sealPlaintextSecrets } from "#services/notifications/src/db/notifications-repo.ts";
import { DEV_NOTIFICATIONS_SECRET_KEY } from "#services/notifications/src/dev-secret-key.ts";
import {
  type FieldSpec,
  PARTNER_EVENT_TYPES,
  WEBHOOK_POLICY,
} from "#services/notifications/src/domain/entitlement.ts";
import { type TaskChannel, taskIdFor } from "#services/notifications/src/domain/routing.ts";
import { createSecretBox, parseSecretKey } from "#services/notifications/src/domain/secret-box.ts";
import { createEgressGuard, type Resolver } from "#services/notifications/src/egress/guard.ts";
import { createNotificationService } from "#services/notifications/src/notification-service.ts";
import { type HandlersUnderTest, startHandlersUnderTest } from "#test/support/handlers-under-test.ts";
import { personPrincipal, servicePrincipal } from "#test/support/identity.ts";

// The NotificationService handlers in this process, on a migrated database
// of their own, called with the generated client through createRouterTransport
// as acme (a partner) unless a test says otherwise. The Kafka dispatcher and
// the RabbitMQ workers are notifications-flow.test.ts's; tokens and the
// authorization table are tested against the real process there.
// Its RPCs keep no idempotency keys: each create makes a subscription.
// No real resolver is ever asked (its server is not on loopback): names of
// *.example resolve, here, to a public address (nothing is ever sent from
// this file: no worker runs), rebound.example to a private one.
const fakeResolver: Resolver = async (hostname) => {
  if (hostname === "rebound.example") return [{ address: "10.0.0.1", family: 4 }];
  if (hostname === "metadata.example")
    return [
      { address: "93.184.215.14", family: 4 },
      { address: "fd00:ec2::254", family: 6 },
    ];
  if (hostname.endsWith(".example")) return [{ address: "93.184.215.14", family: 4 }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
};
const box = createSecretBox(parseSecretKey(DEV_NOTIFICATIONS_SECRET_KEY));
const SUBSCRIPTION_LIMIT = 20;

let notifications: HandlersUnderTest<typeof NotificationService>;
let globex: HandlersUnderTest<typeof NotificationService>["client"];
let olivia: HandlersUnderTest<typeof NotificationService>["client"];

beforeAll(async () => {
  notifications = await startHandlersUnderTest({
    name: "notifications",
    service: NotificationService,
    handlers: ({ pool, logger }) =>
      createNotificationService({
        pool,
        logger,
        guard: createEgressGuard({ allowLoopbackHttp: false, resolve: fakeResolver }),
        box,
        maxSubscriptionsPerOwner: SUBSCRIPTION_LIMIT,
        secretOverlapSeconds: 3600,
      }),
    caller: personPrincipal("acme"),
  });
  globex = notifications.clientAs(personPrincipal("globex"));
  olivia = notifications.clientAs(personPrincipal("olivia"));
});

afterAll(async () => {
  await notifications?.stop();
});

const failure = (e: unknown) => ConnectError.from(e);
const ids = (list: { subscriptions: { subscriptionId: string }[] }) =>
  list.subscriptions.map((s) => s.subscriptionId);

describe("notifications handlers in process", () => {
  it("creates a subscription owned by the caller, returns its secret once, lists it without the secret and deletes it", async () => {
    const created = await notifications.client.createWebhookSubscription({
      url: "https://partner.example/hooks/accord",
      eventTypes: ["accord.orders.v1.OrderConfirmed"],
    });
    expect(created.signingSecret).toMatch(/^whsec_/);
    const subscriptionId = created.subscription?.subscriptionId ?? "";
    expect(created.subscription?.eventTypes).toEqual(["accord.orders.v1.OrderConfirmed"]);
    expect(created.subscription?.ownerId).toBe(DEMO_USERS.acme.id);

    const listed = await notifications.client.listWebhookSubscriptions({});
    expect(ids(listed)).toContain(subscriptionId);
    expect(toJsonString(ListWebhookSubscriptionsResponseSchema, listed)).not.toContain(created.signingSecret);

    await notifications.client.deleteWebhookSubscription({ subscriptionId });
    const after = await notifications.client.listWebhookSubscriptions({});
    expect(ids(after)).not.toContain(subscriptionId);
    const again = await notifications.client.deleteWebhookSubscription({ subscriptionId }).catch(failure);
    expect((again as ConnectError).code).toBe(Code.NotFound);
  });

  it("a partner neither lists nor deletes another partner's subscription; ops sees and deletes both", async () => {
    const acmes = await notifications.client.createWebhookSubscription({ url: "https://acme.example/hooks" });
    const globexs = await globex.createWebhookSubscription({ url: "https://globex.example/hooks" });
    const acmeId = acmes.subscription?.subscriptionId ?? "";
    const globexId = globexs.subscription?.subscriptionId ?? "";
    expect(globexs.subscription?.ownerId).toBe(DEMO_USERS.globex.id);

    const globexList = await globex.listWebhookSubscriptions({});
    expect(ids(globexList)).toContain(globexId);
    expect(ids(globexList)).not.toContain(acmeId);
    expect(globexList.subscriptions.every((s) => s.ownerId === DEMO_USERS.globex.id)).toBe(true);
    const acmeList = await notifications.client.listWebhookSubscriptions({});
    expect(ids(acmeList)).toContain(acmeId);
    expect(ids(acmeList)).not.toContain(globexId);

    // Not found, the same answer as an unknown id: globex learns nothing about acme's.
    const stolen = await globex.deleteWebhookSubscription({ subscriptionId: acmeId }).catch(failure);
    expect((stolen as ConnectError).code).toBe(Code.NotFound);
    expect(ids(await notifications.client.listWebhookSubscriptions({}))).toContain(acmeId);

    const all = await olivia.listWebhookSubscriptions({});
    expect(ids(all)).toEqual(expect.arrayContaining([acmeId, globexId]));
    await olivia.deleteWebhookSubscription({ subscriptionId: acmeId });
    await olivia.deleteWebhookSubscription({ subscriptionId: globexId });
    expect(ids(await olivia.listWebhookSubscriptions({}))).not.toEqual(
      expect.arrayContaining([acmeId, globexId]),
    );
  });

  it("a partner subscribes to order and shipment lifecycle events only; ops to any known type", async () => {
    const denied = await notifications.client
      .createWebhookSubscription({
        url: "https://acme.example/hooks",
        eventTypes: ["accord.orders.v1.OrderConfirmed", "accord.payments.v1.PaymentCaptured"],
      })
      .catch(failure);
    expect((denied as ConnectError).code).toBe(Code.PermissionDenied);
    expect((denied as ConnectError).rawMessage).toBe(
      "event_types[1]: accord.payments.v1.PaymentCaptured is not available to partners (order and shipment lifecycle events are)",
    );
    const signal = await notifications.client
      .createWebhookSubscription({
        url: "https://acme.example/hooks",
        eventTypes: ["accord.orders.v1.OrderCancellationRequested"],
      })
      .catch(failure);
    expect((signal as ConnectError).code).toBe(Code.PermissionDenied);
    expect((signal as ConnectError).rawMessage).toContain("event_types[0]");

    // An unknown type is bad input before it is a matter of rights.
    const unknown = await notifications.client
      .createWebhookSubscription({ url: "https://acme.example/hooks", eventTypes: ["accord.orders.v1.Nope"] })
      .catch(failure);
    expect((unknown as ConnectError).code).toBe(Code.InvalidArgument);
    expect((unknown as ConnectError).rawMessage).toContain("event_types[0]");

    const shipments = await notifications.client.createWebhookSubscription({
      url: "https://acme.example/hooks",
      eventTypes: ["accord.shipping.v1.ShipmentCreated", "accord.orders.v1.OrderPlaced"],
    });
    expect(shipments.subscription?.eventTypes).toEqual([
      "accord.shipping.v1.ShipmentCreated",
      "accord.orders.v1.OrderPlaced",
    ]);
    const payments = await olivia.createWebhookSubscription({
      url: "https://ops.example/hooks",
      eventTypes: ["accord.payments.v1.PaymentDeclined"],
    });
    expect(payments.subscription?.ownerId).toBe(DEMO_USERS.olivia.id);
  });

  it("refuses callers that own no subscriptions even if the table let them in", async () => {
    const alice = notifications.clientAs(personPrincipal("alice"));
    const asCustomer = await alice
      .createWebhookSubscription({ url: "https://alice.example/hooks" })
      .catch(failure);
    expect((asCustomer as ConnectError).code).toBe(Code.PermissionDenied);
    const asService = await notifications
      .clientAs(servicePrincipal("orders"))
      .createWebhookSubscription({ url: "https://orders.example/hooks" })
      .catch(failure);
    expect((asService as ConnectError).code).toBe(Code.PermissionDenied);
    const anonymous = await notifications
      .clientAs({ kind: "anonymous" })
      .listWebhookSubscriptions({})
      .catch(failure);
    expect((anonymous as ConnectError).code).toBe(Code.Unauthenticated);
  });

  it("ListDeliveries shows a partner the deliveries to its own subscriptions only; ops sees every channel", async () => {
    const acmes = await notifications.client.createWebhookSubscription({ url: "https://acme.example/d" });
    const globexs = await globex.createWebhookSubscription({ url: "https://globex.example/d" });
    const acmeId = acmes.subscription?.subscriptionId ?? "";
    const globexId = globexs.subscription?.subscriptionId ?? "";
    const orderId = randomUUID();
    const eventId = `evt-${randomUUID()}`;
    // The rows the dispatcher writes for one event: email, a webhook per subscription, analytics.
    const rows: [TaskChannel, string | null][] = [
      ["email", null],
      ["webhook", acmeId],
      ["webhook", globexId],
      ["analytics", null],
    ];
    for (const [channel, subscriptionId] of rows) {
      await notifications.pool.query(
        `INSERT INTO deliveries (delivery_id, event_id, event_type, order_id, channel, subscription_id, status)
         VALUES ($1, $2, 'accord.orders.v1.OrderConfirmed', $3, $4, $5, 'DELIVERED')`,
        [taskIdFor(eventId, channel, subscriptionId ?? ""), eventId, orderId, channel, subscriptionId],
      );
    }

    const forAcme = await notifications.client.listDeliveries({ orderId });
    expect(forAcme.deliveries.map((d) => [d.channel, d.subscriptionId])).toEqual([[Channel.WEBHOOK, acmeId]]);
    const forGlobex = await globex.listDeliveries({ orderId });
    expect(forGlobex.deliveries.map((d) => d.subscriptionId)).toEqual([globexId]);
    expect(forGlobex.deliveries.map((d) => d.deliveryId)).not.toContain(
      taskIdFor(eventId, "webhook", acmeId),
    );
    const forOps = await olivia.listDeliveries({ orderId });
    expect(forOps.deliveries.map((d) => d.channel).sort()).toEqual(
      [Channel.EMAIL, Channel.WEBHOOK, Channel.WEBHOOK, Channel.ANALYTICS].sort(),
    );
  });

  it("answers InvalidArgument naming the fields", async () => {
    const bad = await notifications.client
      .createWebhookSubscription({ url: "ftp://x.example", eventTypes: ["Nope"] })
      .catch(failure);
    expect(bad).toBeInstanceOf(ConnectError);
    expect((bad as ConnectError).code).toBe(Code.InvalidArgument);
    expect((bad as ConnectError).rawMessage).toContain("url: must use http or https");
    expect((bad as ConnectError).rawMessage).toContain("event_types[0]");

    const noOrder = await notifications.client.listDeliveries({ orderId: " " }).catch(failure);
    expect((noOrder as ConnectError).code).toBe(Code.InvalidArgument);
    expect((noOrder as ConnectError).rawMessage).toContain("order_id");
    const badId = await notifications.client
      .deleteWebhookSubscription({ subscriptionId: "nope" })
      .catch(failure);
    expect((badId as ConnectError).code).toBe(Code.InvalidArgument);
    expect((badId as ConnectError).rawMessage).toContain("subscription_id");
  });

  it("lists no deliveries for an order it never notified about", async () => {
    const { deliveries } = await notifications.client.listDeliveries({ orderId: randomUUID() });
    expect(deliveries).toEqual([]);
  });
});

describe("webhook egress, limits and secrets in the handlers", () => {
  it("refuses, naming the url, every URL the guard refuses, and stores none of them", async () => {
    const refused = [
      ["http://partner.example/hooks", "plain http is not allowed"],
      ["https://127.0.0.1/hooks", "loopback"],
      ["https://[::1]/hooks", "loopback"],
      ["https://10.0.0.1/hooks", "private"],
      ["https://169.254.169.254/latest/meta-data", "metadata"],
      ["https://[::ffff:169.254.169.254]/", "metadata"],
      ["https://100.64.0.1/", "carrier-grade NAT"],
      ["https://[fd00::1]/", "unique-local"],
      ["https://rebound.example/hooks", "rebound.example resolves to a private address"],
      ["https://metadata.example/hooks", "cloud metadata"],
      ["https://nowhere.invalid/hooks", "does not resolve"],
    ] as const;
    const before = await notifications.pool.query("SELECT count(*)::int AS n FROM webhook_subscriptions");
    for (const [url, why] of refused) {
      const err = await notifications.client.createWebhookSubscription({ url }).catch(failure);
      expect(err, url).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code, url).toBe(Code.InvalidArgument);
      expect((err as ConnectError).rawMessage, url).toMatch(/^url: /);
      expect((err as ConnectError).rawMessage, url).toContain(why);
    }
    const after = await notifications.pool.query("SELECT count(*)::int AS n FROM webhook_subscriptions");
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it("stores the secret sealed, never in plaintext", async () => {
    const created = await notifications.client.createWebhookSubscription({ url: "https://sealed.example/h" });
    const id = created.subscription?.subscriptionId ?? "";
    const { rows } = await notifications.pool.query(
      "SELECT signing_secret, signing_secret_sealed FROM webhook_subscriptions WHERE subscription_id = $1",
      [id],
    );
    expect(rows[0].signing_secret).toBeNull();
    expect(rows[0].signing_secret_sealed).not.toContain(created.signingSecret);
    expect(box.open(rows[0].signing_secret_sealed, id)).toBe(created.signingSecret);
    // Bound to its row: copied onto another subscription it does not open.
    expect(() => box.open(rows[0].signing_secret_sealed, randomUUID())).toThrow();
  });

  it("rotates a secret for its owner with an overlap, not for another partner", async () => {
    const created = await notifications.client.createWebhookSubscription({ url: "https://rotate.example/h" });
    const subscriptionId = created.subscription?.subscriptionId ?? "";
    const stolen = await globex.rotateWebhookSecret({ subscriptionId }).catch(failure);
    expect((stolen as ConnectError).code).toBe(Code.NotFound);
    const rotated = await notifications.client.rotateWebhookSecret({ subscriptionId, overlapSeconds: 600 });
    expect(rotated.signingSecret).toMatch(/^whsec_/);
    expect(rotated.signingSecret).not.toBe(created.signingSecret);
    const expires = Number(rotated.previousSecretExpiresAt?.seconds ?? 0n) * 1000;
    expect(Math.abs(expires - (Date.now() + 600_000))).toBeLessThan(30_000);
    const { rows } = await notifications.pool.query(
      "SELECT signing_secret_sealed, previous_secret_sealed FROM webhook_subscriptions WHERE subscription_id = $1",
      [subscriptionId],
    );
    expect(box.open(rows[0].signing_secret_sealed, subscriptionId)).toBe(rotated.signingSecret);
    expect(box.open(rows[0].previous_secret_sealed, subscriptionId)).toBe(created.signingSecret);
    const badOverlap = await notifications.client
      .rotateWebhookSecret({ subscriptionId, overlapSeconds: -1 })
      .catch(failure);
    expect((badOverlap as ConnectError).code).toBe(Code.InvalidArgument);
    expect((badOverlap as ConnectError).rawMessage).toContain("overlap_seconds");
    const badId = await notifications.client.rotateWebhookSecret({ subscriptionId: "x" }).catch(failure);
    expect((badId as ConnectError).rawMessage).toContain("subscription_id");
  });

  it("caps subscriptions per owner, concurrent creates included, with ResourceExhausted naming the limit", async () => {
    const partner = notifications.clientAs({
      kind: "user",
      subject: randomUUID(),
      roles: new Set(["partner"]),
    });
    const answers = await Promise.all(
      Array.from({ length: SUBSCRIPTION_LIMIT + 5 }, (_, i) =>
        partner.createWebhookSubscription({ url: `https://flood.example/${i}` }).catch(failure),
      ),
    );
    const refused = answers.filter((a) => a instanceof ConnectError) as ConnectError[];
    expect(answers.length - refused.length).toBe(SUBSCRIPTION_LIMIT);
    expect(refused).toHaveLength(5);
    for (const e of refused) {
      expect(e.code).toBe(Code.ResourceExhausted);
      expect(e.rawMessage).toContain(`at most ${SUBSCRIPTION_LIMIT} webhook subscriptions per owner`);
    }
    expect((await partner.listWebhookSubscriptions({})).subscriptions).toHaveLength(SUBSCRIPTION_LIMIT);
  });
});

describe("migration 003: plaintext secrets from before encryption", () => {
  it("are sealed by the start-up sweep and the plaintext cleared", async () => {
    const legacyId = randomUUID();
    await notifications.pool.query(
      "INSERT INTO webhook_subscriptions (subscription_id, url, signing_secret) VALUES ($1, $2, $3)",
      [legacyId, "https://old.example/hooks", "whsec_plain"],
    );
    expect(await sealPlaintextSecrets(notifications.pool, box)).toBeGreaterThanOrEqual(1);
    const { rows } = await notifications.pool.query(
      "SELECT signing_secret, signing_secret_sealed FROM webhook_subscriptions WHERE subscription_id = $1",
      [legacyId],
    );
    expect(rows[0].signing_secret).toBeNull();
    expect(box.open(rows[0].signing_secret_sealed, legacyId)).toBe("whsec_plain");
    expect(await sealPlaintextSecrets(notifications.pool, box)).toBe(0);
    await notifications.pool.query("DELETE FROM webhook_subscriptions WHERE subscription_id = $1", [
      legacyId,
    ]);
  });
});

describe("migration 002: subscriptions from before ownership", () => {
  it("an ownerless row is listed and deletable by ops only", async () => {
    const legacyId = randomUUID();
    await notifications.pool.query(
      "INSERT INTO webhook_subscriptions (subscription_id, url, signing_secret) VALUES ($1, $2, $3)",
      [legacyId, "https://unknown.example/hooks", "whsec_legacy"],
    );
    expect(ids(await notifications.client.listWebhookSubscriptions({}))).not.toContain(legacyId);
    const stolen = await notifications.client
      .deleteWebhookSubscription({ subscriptionId: legacyId })
      .catch(failure);
    expect((stolen as ConnectError).code).toBe(Code.NotFound);
    const listed = await olivia.listWebhookSubscriptions({});
    expect(listed.subscriptions.find((s) => s.subscriptionId === legacyId)?.ownerId).toBe("");
    await olivia.deleteWebhookSubscription({ subscriptionId: legacyId });
  });
});

describe("webhook policy table", () => {
  // A typo in the table would silently drop a field a partner needs, or name
  // one that does not exist; every event type must have a row.
  function unknownFields(schema: DescMessage, spec: FieldSpec, at: string): string[] {
    return Object.entries(spec).flatMap(([jsonName, rule]) => {
      const field = schema.fields.find((f) => f.jsonName === jsonName);
      if (!field) return [`${at}${jsonName}`];
      if (rule === true) return [];
      return field.message ? unknownFields(field.message, rule, `${at}${jsonName}.`) : [`${at}${jsonName}`];
    });
  }

  it("has a row for every event type, naming only fields the event has", () => {
    const eventTypes = [...eventRegistry].filter((d) => d.kind === "message").map((d) => d.typeName);
    expect(Object.keys(WEBHOOK_POLICY).sort()).toEqual(eventTypes.sort());
    for (const [type, policy] of Object.entries(WEBHOOK_POLICY)) {
      const schema = eventRegistry.getMessage(type);
      if (!schema) throw new Error(`${type} is not an event`);
      expect(unknownFields(schema, policy.fields, ""), type).toEqual([]);
    }
    expect(PARTNER_EVENT_TYPES.some((t) => t.startsWith("accord.payments."))).toBe(false);
  });
});
