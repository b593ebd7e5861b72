import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type GetOrderRequest,
  GetOrderRequestSchema,
  type GetOrderResponse,
  GetOrderResponseSchema,
  OrderService,
} from "#gen/accord/orders/v1/orders_pb.js";
import { createPool } from "#lib/db.ts";
import { getOrder } from "#services/orders/src/db/orders-repo.ts";

// The gRPC baseline: grpc-js, the peer a user would pick instead of Connect's
// gRPC, serving GetOrder with the orders service's own SQL. Its method
// definition is derived from the generated descriptors (path from the
// service descriptor, protobuf-es toBinary/fromBinary as serializers).
const pool = createPool(process.env.BENCH_DATABASE_URL ?? "", Number(process.env.BENCH_POOL_SIZE ?? 20));
const method = OrderService.method.getOrder;

const definition: grpc.ServiceDefinition = {
  GetOrder: {
    path: `/${OrderService.typeName}/${method.name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: GetOrderRequest) => Buffer.from(toBinary(GetOrderRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(GetOrderRequestSchema, b),
    responseSerialize: (m: GetOrderResponse) => Buffer.from(toBinary(GetOrderResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(GetOrderResponseSchema, b),
  },
};

const server = new grpc.Server();
server.addService(definition, {
  GetOrder: (
    call: grpc.ServerUnaryCall<GetOrderRequest, GetOrderResponse>,
    callback: grpc.sendUnaryData<GetOrderResponse>,
  ) => {
    getOrder(pool, call.request.orderId).then(
      (order) => {
        if (!order) callback({ code: grpc.status.NOT_FOUND, details: "not found" });
        else callback(null, create(GetOrderResponseSchema, { order }));
      },
      (error: unknown) => callback({ code: grpc.status.INTERNAL, details: String(error) }),
    );
  },
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) throw error;
  process.stdout.write(`LISTENING ${port}\n`);
});
process.on("SIGTERM", () => {
  server.tryShutdown(() => {
    void pool.end().then(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 3000).unref();
});
