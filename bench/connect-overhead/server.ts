import http from "node:http";
import { create, fromBinary, fromJson, toBinary, toJson } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  GetOrderRequestSchema,
  GetOrderResponseSchema,
  OrderService,
  OrderStatus,
} from "#gen/accord/orders/v1/orders_pb.js";
import { startRpcServer } from "#lib/rpc/server.ts";
import { startRpcServer as startBaseline } from "#tools/connect-baseline/baseline-connect-server.ts";

// One benchmark target per process, chosen by argv[2]; prints "LISTENING <port>".
// connect-plain: connectNodeAdapter behind http.createServer; rpc-server-before:
// startRpcServer as it was before ADR 0009; rpc-server: startRpcServer
// (lib/rpc/server.ts) as it is now; raw: node:http with the same protobuf-es JSON mapping.
const mode = process.argv[2] ?? "raw";
const port = Number(process.argv[3] ?? 0);

const order = create(GetOrderResponseSchema, {
  order: {
    orderId: "0190b7f4-6c1e-7a3b-9d2e-5f4a3b2c1d0e",
    customerId: "customer-bench",
    customerEmail: "bench@example.com",
    lines: [{ sku: "BOOK-1", quantity: 3, unitPrice: { currencyCode: "EUR", amountMinor: 1000n } }],
    total: { currencyCode: "EUR", amountMinor: 3000n },
    shippingAddress: { line1: "Main St 1", city: "Berlin", postalCode: "10115", countryCode: "DE" },
    status: OrderStatus.PENDING,
    createdAt: timestampFromDate(new Date("2025-01-01T00:00:00Z")),
    updatedAt: timestampFromDate(new Date("2025-01-01T00:00:00Z")),
  },
});

const routes = (router: import("@connectrpc/connect").ConnectRouter) =>
  router.service(OrderService, { getOrder: () => order });

async function main(): Promise<number> {
  if (mode === "connect-plain") {
    const server = http.createServer(connectNodeAdapter({ routes }));
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    return (server.address() as import("node:net").AddressInfo).port;
  }
  if (mode === "rpc-server-before") {
    // The pre-fix server (tools/connect-baseline), kept verbatim for the before/after comparison.
    const server = await startBaseline({
      routes,
      health: { readyz: async () => {} },
      host: "127.0.0.1",
      port,
    });
    return server.port;
  }
  if (mode === "rpc-server") {
    const server = await startRpcServer({
      routes,
      health: { readyz: async () => {} },
      host: "127.0.0.1",
      port,
    });
    return server.port;
  }
  // raw: node:http with the same protobuf-es mapping (JSON or binary), no Connect.
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const bytes = Buffer.concat(chunks);
      const binary = req.headers["content-type"] === "application/proto";
      // Decoded like a real handler would, though the answer is fixed.
      void (binary
        ? fromBinary(GetOrderRequestSchema, bytes)
        : fromJson(GetOrderRequestSchema, JSON.parse(bytes.toString("utf8"))));
      const body = binary
        ? toBinary(GetOrderResponseSchema, order)
        : Buffer.from(JSON.stringify(toJson(GetOrderResponseSchema, order)));
      res.writeHead(200, {
        "content-type": binary ? "application/proto" : "application/json",
        "content-length": body.byteLength,
      });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return (server.address() as import("node:net").AddressInfo).port;
}

main().then((p) => console.log(`LISTENING ${p}`));
// A clean exit lets --cpu-prof write its profile.
process.on("SIGINT", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
