import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InventoryService, StockSchema } from "#gen/accord/inventory/v1/inventory_pb.js";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { CORRELATION_HEADER, currentContext, runWithContext } from "#lib/observability/request-context.ts";
import { rpcClient } from "#lib/rpc/clients.ts";
import { type RpcServer, startRpcServer } from "#lib/rpc/server.ts";
import { freePort } from "#test/support/service-process.ts";

// Two real servers on real sockets: a call into the first one, which calls the
// second with the shared client, keeps one correlation id end to end.
let front: RpcServer;
let back: RpcServer;

beforeAll(async () => {
  back = await startRpcServer({
    host: "127.0.0.1",
    port: await freePort(),
    health: { readyz: async () => {} },
    routes: (router) =>
      router.service(InventoryService, {
        // Answers with the correlation id it sees, in the sku field.
        getStock: async () => ({
          stock: create(StockSchema, { sku: currentContext()?.correlationId ?? "" }),
        }),
      }),
  });
  const inventory = rpcClient(InventoryService, `http://127.0.0.1:${back.port}`, "connect-json");
  front = await startRpcServer({
    host: "127.0.0.1",
    port: await freePort(),
    health: { readyz: async () => {} },
    routes: (router) =>
      router.service(OrderService, {
        getOrder: async () => {
          const { stock } = await inventory.getStock({ sku: "x" });
          return { order: { orderId: currentContext()?.correlationId ?? "", customerId: stock?.sku ?? "" } };
        },
      }),
  });
});

afterAll(async () => {
  await front?.close();
  await back?.close();
});

describe("correlation ids", () => {
  it("uses the caller's id, passes it downstream and echoes it", async () => {
    let echoed: string | null = null;
    const client = createClient(
      OrderService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${front.port}`, httpVersion: "1.1" }),
    );
    const { order } = await client.getOrder(
      { orderId: "ignored" },
      {
        headers: { [CORRELATION_HEADER]: "checkout-42" },
        onHeader: (h) => {
          echoed = h.get(CORRELATION_HEADER);
        },
      },
    );
    expect(order?.orderId).toBe("checkout-42");
    expect(order?.customerId).toBe("checkout-42");
    expect(echoed).toBe("checkout-42");
  });

  it("makes one up when the caller sent none, and the shared client sends the current one", async () => {
    const client = rpcClient(OrderService, `http://127.0.0.1:${front.port}`, "grpc");
    const { order } = await client.getOrder({ orderId: "x" });
    expect(order?.orderId).toMatch(/^[0-9a-f-]{36}$/);
    expect(order?.customerId).toBe(order?.orderId);
    const fromContext = await runWithContext({ correlationId: "outer-7" }, () =>
      client.getOrder({ orderId: "x" }),
    );
    expect(fromContext.order?.customerId).toBe("outer-7");
  });
});
