import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { InventoryService } from "#gen/accord/inventory/v1/inventory_pb.js";
import { OrderService } from "#gen/accord/orders/v1/orders_pb.js";
import { answerQuestion, createReflectionIndex } from "#lib/rpc/reflection.ts";

const names = (answer: Uint8Array[] | undefined) =>
  answer?.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name);

describe("the reflection symbol index", () => {
  const index = createReflectionIndex([OrderService, InventoryService]);

  it("lists the served services, then health and both reflection versions", () => {
    expect(index.services).toEqual([
      "accord.orders.v1.OrderService",
      "accord.inventory.v1.InventoryService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
    expect(createReflectionIndex([InventoryService], { health: false }).services).not.toContain(
      "grpc.health.v1.Health",
    );
  });

  it("indexes every file, including transitive imports", () => {
    const files = [...index.registry.files].map((f) => f.proto.name);
    expect(files).toEqual(
      expect.arrayContaining([
        "accord/orders/v1/orders.proto",
        "accord/inventory/v1/inventory.proto",
        "accord/common/v1/common.proto",
        "grpc/health/v1/health.proto",
        "grpc/reflection/v1/reflection.proto",
        "grpc/reflection/v1alpha/reflection.proto",
      ]),
    );
  });

  it("answers a file with its imports, the file first", () => {
    const orders = names(index.fileByFilename("accord/orders/v1/orders.proto"));
    expect(orders?.[0]).toBe("accord/orders/v1/orders.proto");
    expect(orders).toContain("accord/common/v1/common.proto");
    expect(new Set(orders).size).toBe(orders?.length);
    expect(index.fileByFilename("accord/orders/v1/orders")).toBeUndefined();
  });

  it.each([
    ["a service", "accord.inventory.v1.InventoryService", "accord/inventory/v1/inventory.proto"],
    ["a method", "accord.inventory.v1.InventoryService.GetStock", "accord/inventory/v1/inventory.proto"],
    ["a message", "accord.inventory.v1.Stock", "accord/inventory/v1/inventory.proto"],
    ["a field", "accord.inventory.v1.Stock.available", "accord/inventory/v1/inventory.proto"],
    ["an enum", "accord.inventory.v1.ReservationStatus", "accord/inventory/v1/inventory.proto"],
    [
      "an enum value",
      "accord.inventory.v1.RESERVATION_STATUS_RESERVED",
      "accord/inventory/v1/inventory.proto",
    ],
    ["a nested enum", "grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
    ["a nested enum's value", "grpc.health.v1.HealthCheckResponse.SERVING", "grpc/health/v1/health.proto"],
    [
      "a oneof",
      "grpc.reflection.v1.ServerReflectionRequest.message_request",
      "grpc/reflection/v1/reflection.proto",
    ],
    ["an import's message", "accord.common.v1.SkuQuantity", "accord/common/v1/common.proto"],
    ["a leading dot", ".accord.inventory.v1.Stock", "accord/inventory/v1/inventory.proto"],
  ])("finds the file of %s", (_what, symbol, file) => {
    expect(names(index.fileContainingSymbol(symbol))?.[0]).toBe(file);
  });

  it("does not find what is not there", () => {
    expect(index.fileContainingSymbol("accord.inventory.v1.Nope")).toBeUndefined();
    expect(index.fileContainingSymbol("accord.inventory.v1.Stock.nope")).toBeUndefined();
    // Field names are proto names, not JSON names.
    expect(index.fileContainingSymbol("accord.inventory.v1.ReserveRequest.orderId")).toBeUndefined();
    expect(index.fileContainingSymbol("accord.inventory.v1")).toBeUndefined();
  });

  it("knows no extensions, but tells known messages from unknown ones", () => {
    expect(index.extensionNumbersOf("accord.inventory.v1.Stock")).toEqual([]);
    expect(index.extensionNumbersOf("accord.inventory.v1.Nope")).toBeUndefined();
    expect(index.fileContainingExtension("accord.inventory.v1.Stock", 1000)).toBeUndefined();
  });
});

describe("answerQuestion", () => {
  const index = createReflectionIndex([InventoryService]);

  it("answers NOT_FOUND (5) for unknown names and INVALID_ARGUMENT (3) for an empty request", () => {
    expect(answerQuestion(index, { case: "fileByFilename", value: "x.proto" })).toMatchObject({
      case: "errorResponse",
      value: { errorCode: 5 },
    });
    expect(answerQuestion(index, { case: "fileContainingSymbol", value: "x.Y" })).toMatchObject({
      case: "errorResponse",
      value: { errorCode: 5 },
    });
    expect(
      answerQuestion(index, {
        case: "fileContainingExtension",
        value: { containingType: "accord.inventory.v1.Stock", extensionNumber: 7 },
      }),
    ).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
    expect(answerQuestion(index, { case: "allExtensionNumbersOfType", value: "x.Y" })).toMatchObject({
      case: "errorResponse",
      value: { errorCode: 5 },
    });
    expect(answerQuestion(index, { case: undefined })).toMatchObject({
      case: "errorResponse",
      value: { errorCode: 3 },
    });
  });

  it("answers list_services and all_extension_numbers_of_type", () => {
    expect(answerQuestion(index, { case: "listServices", value: "*" })).toEqual({
      case: "listServicesResponse",
      value: {
        service: [
          { name: "accord.inventory.v1.InventoryService" },
          { name: "grpc.health.v1.Health" },
          { name: "grpc.reflection.v1.ServerReflection" },
          { name: "grpc.reflection.v1alpha.ServerReflection" },
        ],
      },
    });
    expect(
      answerQuestion(index, { case: "allExtensionNumbersOfType", value: ".accord.inventory.v1.Stock" }),
    ).toEqual({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "accord.inventory.v1.Stock", extensionNumber: [] },
    });
  });
});
