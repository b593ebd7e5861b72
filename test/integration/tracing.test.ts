import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { NotificationService } from "#gen/accord/notifications/v1/notifications_pb.js";
import { OrderService, OrderStatus, PlaceOrderRequestSchema } from "#gen/accord/orders/v1/orders_pb.js";
import { DEMO_USERS } from "#lib/auth/dev-identities.ts";
import { rpcClient } from "#lib/rpc/clients.ts";
import { ensureProducts, testSku } from "#test/support/catalog.ts";
import { callerAs } from "#test/support/identity.ts";
import { type Platform, startPlatform } from "#test/support/platform.ts";

// One order is one trace: the whole platform as real processes exporting to
// the real Zipkin (infra.sh starts it on 127.0.0.1:9411), an order placed by
// alice with a real token, and the trace read back from Zipkin's API.
const ZIPKIN = process.env.ZIPKIN_URL ?? "http://127.0.0.1:9411";

interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name?: string;
  kind?: string;
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
}

let platform: Platform;
const received: { body: string }[] = [];
let receiver: http.Server;

beforeAll(async () => {
  const zipkin = await fetch(`${ZIPKIN}/health`).catch(() => undefined);
  if (!zipkin?.ok) throw new Error(`Zipkin does not answer at ${ZIPKIN} (bash infra/infra.sh up zipkin)`);
  // Info lines of the two processes whose log lines are checked for trace_id and span_id.
  platform = await startPlatform({ orders: { LOG_LEVEL: "info" }, orchestrator: { LOG_LEVEL: "info" } });
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on("end", () => {
      received.push({ body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const notifications = rpcClient(
    NotificationService,
    platform.urls.notifications,
    "connect-json",
    callerAs("acme", "notifications"),
  );
  await notifications.createWebhookSubscription({
    url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/trace`,
    eventTypes: ["accord.orders.v1.OrderConfirmed"],
  });
}, 180_000);

afterAll(async () => {
  receiver?.close();
  await platform?.stop();
}, 60_000);

async function zipkinJson<T>(path: string): Promise<T> {
  const res = await fetch(`${ZIPKIN}${path}`);
  if (!res.ok) throw new Error(`zipkin ${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** Whether `span` descends from `ancestor` through parentIds inside the trace. */
function descendsFrom(span: ZipkinSpan, ancestor: ZipkinSpan, byId: Map<string, ZipkinSpan>): boolean {
  let current: ZipkinSpan | undefined = span;
  for (let hops = 0; current && hops < 100; hops++) {
    if (current.id === ancestor.id) return true;
    current = current.parentId ? byId.get(current.parentId) : undefined;
  }
  return false;
}

describe("tracing", () => {
  it("one order is one trace in Zipkin from PlaceOrder to the webhook delivery, parents in causal order", async () => {
    const inventory = rpcClient(
      InventoryService,
      platform.urls.inventory,
      "grpc",
      callerAs("olivia", "inventory"),
    );
    const orders = rpcClient(OrderService, platform.urls.orders, "connect-json", callerAs("alice", "orders"));
    const sku = testSku("SKU");
    await ensureProducts(platform.urls.catalog, [{ sku, prices: { EUR: 700n } }]);
    await inventory.setStock({ sku, available: 5n });
    const { order } = await orders.placeOrder(
      create(PlaceOrderRequestSchema, {
        idempotencyKey: `trace-${randomUUID()}`,
        customerId: DEMO_USERS.alice.id,
        customerEmail: `trace-${randomUUID().slice(0, 8)}@example.com`,
        currencyCode: "EUR",
        lines: [{ sku, quantity: 1 }],
        shippingAddress: {
          recipientName: "Trace",
          line1: "Teststrasse 1",
          city: "Berlin",
          postalCode: "10115",
          countryCode: "DE",
        },
      }),
    );
    const orderId = order?.orderId ?? "";
    expect(orderId).not.toBe("");
    await vi.waitFor(
      async () => {
        const { order: now } = await orders.getOrder({ orderId });
        if (now?.status !== OrderStatus.CONFIRMED) throw new Error(`still ${OrderStatus[now?.status ?? 0]}`);
      },
      { timeout: 45_000, interval: 1_000 },
    );
    await vi.waitFor(
      () => {
        if (!received.some((r) => r.body.includes(orderId))) throw new Error("no webhook for the order yet");
      },
      { timeout: 30_000, interval: 250 },
    );

    const topics = {
      orders: `${platform.topicPrefix}orders.events`,
    };
    // Spans arrive batched (1 s) from nine processes; wait until every hop is in.
    const expected: [service: string, name: string][] = [
      ["orders", "accord.orders.v1.orderservice/placeorder"],
      ["orders", `publish ${topics.orders}`],
      ["orchestrator", `process ${topics.orders}`],
      ["orchestrator", "startworkflow:orderworkflow"],
      ["orchestrator", "runactivity:reserveinventory"],
      ["orchestrator", "accord.inventory.v1.inventoryservice/reserve"],
      ["inventory", "accord.inventory.v1.inventoryservice/reserve"],
      ["payments", "accord.payments.v1.paymentservice/charge"],
      ["shipping", "accord.shipping.v1.shippingservice/createshipment"],
      ["orders", "accord.orders.v1.orderservice/confirmorder"],
      ["notifications", `process ${topics.orders}`],
      ["notifications", "webhook-worker"],
      ["notifications", "post"],
    ];
    const { traceId, spans } = await vi.waitFor(
      async () => {
        const traces = await zipkinJson<ZipkinSpan[][]>(
          `/api/v2/traces?annotationQuery=${encodeURIComponent(`order.id=${orderId}`)}&limit=1000`,
        );
        // The test's own GetOrder polls are traces of their own (its client sends no
        // traceparent); everything else tagged with the order id is one trace.
        const ids = new Set(
          traces
            .filter((t) => !t.some((s) => !s.parentId && s.name === "accord.orders.v1.orderservice/getorder"))
            .flat()
            .map((s) => s.traceId),
        );
        expect([...ids]).toHaveLength(1);
        const id = [...ids][0] ?? "";
        const all = await zipkinJson<ZipkinSpan[]>(`/api/v2/trace/${id}`);
        const missing = expected.filter(
          ([service, name]) =>
            !all.some(
              (s) =>
                s.localEndpoint?.serviceName === service &&
                (s.name === name || (name === "webhook-worker" && isWebhookConsumer(s))),
            ),
        );
        if (missing.length > 0) throw new Error(`missing spans: ${JSON.stringify(missing)}`);
        // Each process exports in its own batches, so a child can be in Zipkin before
        // its parent: wait for the parents too (the orphan check below still fails
        // when one never comes).
        const present = new Set(all.map((s) => s.id));
        const waitingFor = all.filter((s) => s.parentId && !present.has(s.parentId));
        if (waitingFor.length > 0)
          throw new Error(`parents not in yet: ${waitingFor.map((s) => s.name).join(", ")}`);
        return { traceId: id, spans: all };
      },
      { timeout: 40_000, interval: 1_000 },
    );

    const byId = new Map(spans.map((s) => [s.id, s]));
    // Every parent is a span of the same trace: no hop started a trace of its own.
    const orphans = spans.filter((s) => s.parentId && !byId.has(s.parentId));
    expect(orphans.map((s) => `${s.localEndpoint?.serviceName} ${s.name}`)).toEqual([]);
    const roots = spans.filter((s) => !s.parentId);
    expect(roots.map((s) => s.name)).toEqual(["accord.orders.v1.orderservice/placeorder"]);

    const find = (service: string, predicate: (s: ZipkinSpan) => boolean) => {
      const span = spans.find((s) => s.localEndpoint?.serviceName === service && predicate(s));
      if (!span) throw new Error(`no ${service} span`);
      return span;
    };
    const placeOrder = find("orders", (s) => s.name === "accord.orders.v1.orderservice/placeorder");
    expect(placeOrder.kind).toBe("SERVER");
    expect(placeOrder.tags?.["rpc.system"]).toBe("connect_rpc");
    expect(placeOrder.tags?.["order.id"]).toBe(orderId);
    const workflow = find("orchestrator", (s) => s.name === "startworkflow:orderworkflow");
    const ancestors = (span: ZipkinSpan) => {
      const chain: ZipkinSpan[] = [];
      for (let p = byId.get(span.parentId ?? ""); p; p = byId.get(p.parentId ?? "")) chain.push(p);
      return chain;
    };
    // The saga's chain: PlaceOrder -> relay publish -> bridge consumer -> workflow start -> each activity.
    // Nothing is recorded inside the workflow sandbox (ADR 0023): the activities hang off the start.
    const activities = spans.filter((s) => (s.name ?? "").startsWith("runactivity:"));
    expect(activities.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        "runactivity:reserveinventory",
        "runactivity:chargepayment",
        "runactivity:createshipment",
        "runactivity:confirmorder",
      ]),
    );
    for (const activity of activities) expect(activity.parentId, activity.name).toBe(workflow.id);
    expect(spans.filter((s) => /^(runworkflow|startactivity|handlesignal):/.test(s.name ?? ""))).toEqual([]);
    const bridge = ancestors(workflow).find((s) => s.name === `process ${topics.orders}`);
    expect(bridge?.kind).toBe("CONSUMER");
    expect(bridge?.localEndpoint?.serviceName).toBe("orchestrator");
    const publish = byId.get(bridge?.parentId ?? "");
    expect(publish?.name).toBe(`publish ${topics.orders}`);
    expect(publish?.kind).toBe("PRODUCER");
    expect(publish?.localEndpoint?.serviceName).toBe("orders");
    expect(publish?.tags).toMatchObject({
      "messaging.system": "kafka",
      "messaging.destination.name": topics.orders,
      "messaging.operation": "publish",
      "order.id": orderId,
    });
    expect(byId.get(publish?.parentId ?? "")?.id).toBe(placeOrder.id);
    for (const [service, name] of [
      ["inventory", "accord.inventory.v1.inventoryservice/reserve"],
      ["payments", "accord.payments.v1.paymentservice/charge"],
      ["shipping", "accord.shipping.v1.shippingservice/createshipment"],
      ["orders", "accord.orders.v1.orderservice/confirmorder"],
    ] as const) {
      const callee = find(service, (s) => s.name === name);
      expect(callee.kind).toBe("SERVER");
      const caller = byId.get(callee.parentId ?? "");
      // The callee's parent is the orchestrator's client span, inside an activity of the workflow.
      expect(caller?.kind, name).toBe("CLIENT");
      expect(caller?.localEndpoint?.serviceName).toBe("orchestrator");
      expect(descendsFrom(callee, workflow, byId), name).toBe(true);
    }
    // The orchestrator calls over gRPC by default (ORCHESTRATOR_RPC_PROTOCOL); either way a status is recorded.
    const reserve = find("inventory", (s) => s.name === "accord.inventory.v1.inventoryservice/reserve");
    expect(["grpc", "connect_rpc"]).toContain(reserve.tags?.["rpc.system"]);
    // The notification chain: the event's consumer -> AMQP publish -> webhook worker -> its POST.
    const post = find("notifications", (s) => s.name === "post" && s.kind === "CLIENT");
    const postChain = ancestors(post);
    const webhook = postChain.find(isWebhookConsumer);
    expect(webhook, "webhook worker span above the POST").toBeDefined();
    expect(
      postChain.some((s) => s.kind === "PRODUCER" && s.localEndpoint?.serviceName === "notifications"),
    ).toBe(true);
    const dispatcher = postChain.find(
      (s) => s.name === `process ${topics.orders}` && s.localEndpoint?.serviceName === "notifications",
    );
    expect(dispatcher?.kind).toBe("CONSUMER");
    expect(postChain.at(-1)?.id).toBe(placeOrder.id);
    // Log lines of the traced work carry its trace_id and span_id.
    const ordersLog = logLines(platform.processes.get("orders")?.output() ?? "");
    const placed = ordersLog.find((l) => l.msg === "order placed" && l.orderId === orderId);
    expect(placed?.trace_id).toBe(traceId);
    expect(placed?.span_id).toBe(placeOrder.id);
    const bridgeLog = logLines(platform.processes.get("orchestrator")?.output() ?? "").find(
      (l) => l.msg === "order saga started" && l.trace_id === traceId,
    );
    expect(bridgeLog?.span_id).toBe(bridge?.id);
  }, 150_000);
});

function isWebhookConsumer(span: ZipkinSpan): boolean {
  return span.kind === "CONSUMER" && (span.name ?? "").includes("webhook");
}

function logLines(output: string): Record<string, string>[] {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, string>;
      } catch {
        return {};
      }
    });
}
