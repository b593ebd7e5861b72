import http from "node:http";
import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { GetOrderRequestSchema, GetOrderResponseSchema } from "#gen/accord/orders/v1/orders_pb.js";
import { createPool } from "#lib/db.ts";
import { getOrder } from "#services/orders/src/db/orders-repo.ts";

// The baseline for the Connect lookup: plain node:http, no framework, the
// orders service's own SQL (its repository function) and the same protobuf-es
// JSON mapping Connect uses. Whatever the Connect row costs beyond this row is
// the RPC stack. BENCH_DATABASE_URL: the orders database to read.
const pool = createPool(process.env.BENCH_DATABASE_URL ?? "", Number(process.env.BENCH_POOL_SIZE ?? 20));

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    void (async () => {
      try {
        const request = fromJsonString(GetOrderRequestSchema, Buffer.concat(chunks).toString("utf8"));
        const order = await getOrder(pool, request.orderId);
        if (!order) {
          res.writeHead(404, { "content-type": "application/json" });
          res.end('{"code":"not_found"}');
          return;
        }
        const body = toJsonString(GetOrderResponseSchema, create(GetOrderResponseSchema, { order }));
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.end(body);
      } catch (error) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: String(error) }));
      }
    })();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`LISTENING ${port}\n`);
});
process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  void pool.end().then(() => process.exit(0));
});
