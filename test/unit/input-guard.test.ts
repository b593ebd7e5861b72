import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { PlaceOrderRequestSchema } from "#gen/accord/orders/v1/orders_pb.js";
import { findNulString } from "#lib/rpc/input-guard.ts";

describe("findNulString", () => {
  it("finds NUL in nested messages and lists, by proto field path", () => {
    const req = create(PlaceOrderRequestSchema, {
      customerId: "c-1",
      lines: [{ sku: "A" }, { sku: "B\u0000" }],
      shippingAddress: { city: "Berlin" },
    });
    expect(findNulString(PlaceOrderRequestSchema, req)).toBe("lines[1].sku");
    req.lines = [];
    if (req.shippingAddress) req.shippingAddress.postalCode = "1\u00000";
    expect(findNulString(PlaceOrderRequestSchema, req)).toBe("shipping_address.postal_code");
  });

  it("passes clean input", () => {
    const req = create(PlaceOrderRequestSchema, { customerId: "c-1", lines: [{ sku: "A" }] });
    expect(findNulString(PlaceOrderRequestSchema, req)).toBeUndefined();
  });
});
