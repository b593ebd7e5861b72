import { create, equals, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { validate as uuidValidate, version as uuidVersion } from "uuid";
import { describe, expect, it } from "vitest";
import { AddressSchema, LineItemSchema, MoneySchema } from "#gen/accord/common/v1/common_pb.js";
import { OrderPlacedSchema } from "#gen/accord/orders/v1/events_pb.js";
import { OrderSchema, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentCapturedSchema } from "#gen/accord/payments/v1/events_pb.js";
import {
  ALL_TOPICS,
  decodeEvent,
  dlqTopicFor,
  type EncodedEvent,
  encodeEvent,
  eventRegistry,
  isEventOf,
  normalizeHeaders,
  PoisonEventError,
  type PoisonReason,
  sourceFor,
  topicFor,
} from "#lib/messaging/events.ts";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

function orderPlaced() {
  const eur = (amountMinor: bigint) => create(MoneySchema, { currencyCode: "EUR", amountMinor });
  return create(OrderPlacedSchema, {
    order: create(OrderSchema, {
      orderId: "0197a6f2-3c1e-7a4b-9f00-5d1c2b3a4e5f",
      customerId: "cust-42",
      customerEmail: "ada@example.com",
      lines: [
        create(LineItemSchema, { sku: "SKU-RED-MUG", quantity: 2, unitPrice: eur(1250n) }),
        create(LineItemSchema, { sku: "SKU-TEA-1KG", quantity: 1, unitPrice: eur(2999n) }),
      ],
      total: eur(5499n),
      shippingAddress: create(AddressSchema, {
        recipientName: "Ada Lovelace",
        line1: "12 St James's Square",
        city: "London",
        postalCode: "SW1Y 4JH",
        countryCode: "GB",
      }),
      status: OrderStatus.PENDING,
      createdAt: timestampFromDate(new Date("2025-06-01T10:00:00.123Z")),
    }),
  });
}

function encoded(): EncodedEvent {
  return encodeEvent(OrderPlacedSchema, orderPlaced(), {
    source: sourceFor("orders"),
    key: "0197a6f2-3c1e-7a4b-9f00-5d1c2b3a4e5f",
    id: "0197a6f2-0000-7000-8000-000000000001",
    time: new Date("2025-06-01T10:00:01.000Z"),
    traceparent: TRACEPARENT,
  });
}

/** Runs decodeEvent and returns the PoisonEventError it throws (fails the test if it does not). */
function poisonOf(value: Buffer | null, headers: Record<string, string | Buffer | undefined>) {
  try {
    decodeEvent(eventRegistry, { value, headers });
  } catch (error) {
    expect(error).toBeInstanceOf(PoisonEventError);
    return error as PoisonEventError;
  }
  throw new Error("decodeEvent accepted a poison event");
}

describe("encodeEvent", () => {
  it("writes binary protobuf with the CloudEvents binary-mode headers", () => {
    const event = encoded();
    expect(event.key).toBe("0197a6f2-3c1e-7a4b-9f00-5d1c2b3a4e5f");
    expect(event.headers).toStrictEqual({
      ce_id: "0197a6f2-0000-7000-8000-000000000001",
      ce_type: "accord.orders.v1.OrderPlaced",
      ce_source: "/accord/orders",
      ce_time: "2025-06-01T10:00:01.000Z",
      ce_specversion: "1.0",
      "content-type": "application/protobuf",
      traceparent: TRACEPARENT,
    });
    expect(Buffer.isBuffer(event.value)).toBe(true);
    expect(event.value.equals(Buffer.from(toBinary(OrderPlacedSchema, orderPlaced())))).toBe(true);
  });

  it("fills ce_id with a UUIDv7 and ce_time with now, and leaves out an absent traceparent", () => {
    const before = Date.now();
    const { headers } = encodeEvent(OrderPlacedSchema, orderPlaced(), { source: "/accord/orders", key: "k" });
    const id = headers.ce_id ?? "";
    expect(uuidValidate(id) && uuidVersion(id)).toBe(7);
    const time = Date.parse(headers.ce_time ?? "");
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(Date.now());
    expect(headers).not.toHaveProperty("traceparent");
  });

  it("drops a malformed traceparent instead of sending it", () => {
    const { headers } = encodeEvent(OrderPlacedSchema, orderPlaced(), {
      source: "/accord/orders",
      key: "k",
      traceparent: "not-a-trace",
    });
    expect(headers).not.toHaveProperty("traceparent");
  });

  it("refuses a message of another type than the schema", () => {
    const captured = create(PaymentCapturedSchema, { paymentId: "p1" });
    // @ts-expect-error the compiler already rejects it; the runtime check covers casts and `any`.
    expect(() => encodeEvent(OrderPlacedSchema, captured, { source: "/accord/payments", key: "p1" })).toThrow(
      /PaymentCaptured/,
    );
  });
});

describe("decodeEvent", () => {
  it("round-trips: same headers, equal message, the registry's schema", () => {
    const event = encoded();
    const decoded = decodeEvent(eventRegistry, event);
    expect(decoded).toMatchObject({
      id: "0197a6f2-0000-7000-8000-000000000001",
      type: "accord.orders.v1.OrderPlaced",
      source: "/accord/orders",
      time: "2025-06-01T10:00:01.000Z",
      traceparent: TRACEPARENT,
    });
    expect(decoded.schema.typeName).toBe(OrderPlacedSchema.typeName);
    expect(isEventOf(decoded, OrderPlacedSchema)).toBe(true);
    expect(isEventOf(decoded, PaymentCapturedSchema)).toBe(false);
    if (!isEventOf(decoded, OrderPlacedSchema)) throw new Error("unreachable");
    expect(equals(OrderPlacedSchema, decoded.message, orderPlaced())).toBe(true);
    expect(decoded.message).toEqual(orderPlaced());
    expect(decoded.message.order?.total?.amountMinor).toBe(5499n);
  });

  it("reads headers as kafkajs delivers them: Buffers, and arrays for repeated headers", () => {
    const event = encoded();
    const asKafkaJs: Record<string, Buffer | Buffer[]> = {};
    for (const [name, value] of Object.entries(event.headers)) asKafkaJs[name] = Buffer.from(value);
    asKafkaJs.ce_source = [Buffer.from("/accord/stale"), Buffer.from("/accord/orders")];
    const decoded = decodeEvent(eventRegistry, { value: event.value, headers: asKafkaJs });
    expect(decoded.source).toBe("/accord/orders");
    expect(decoded.id).toBe("0197a6f2-0000-7000-8000-000000000001");
  });

  it("knows every domain's events", () => {
    const names = [...eventRegistry].filter((t) => t.kind === "message").map((t) => t.typeName);
    expect(names).toEqual(
      expect.arrayContaining([
        "accord.orders.v1.OrderPlaced",
        "accord.inventory.v1.InventoryReserved",
        "accord.payments.v1.PaymentCaptured",
        "accord.shipping.v1.ShipmentCreated",
      ]),
    );
    // Only events: the messages they embed are not events.
    expect(names).not.toContain("accord.orders.v1.Order");
    expect(names).not.toContain("accord.common.v1.Money");
  });

  const cases: [string, PoisonReason, () => [Buffer | null, Record<string, string | undefined>]][] = [
    ["garbage bytes", "undecodable", () => [Buffer.from([0xff, 0xff, 0xff, 0xff]), encoded().headers]],
    [
      "text instead of protobuf",
      "undecodable",
      () => [Buffer.from("this is not protobuf"), encoded().headers],
    ],
    ["a tombstone (null value)", "undecodable", () => [null, encoded().headers]],
    [
      "an unknown ce_type",
      "unknown_type",
      () => [encoded().value, { ...encoded().headers, ce_type: "accord.orders.v1.OrderTeleported" }],
    ],
    [
      "a non-event ce_type",
      "unknown_type",
      () => [encoded().value, { ...encoded().headers, ce_type: "accord.orders.v1.Order" }],
    ],
    [
      "a missing ce_id",
      "missing_header",
      () => [encoded().value, { ...encoded().headers, ce_id: undefined }],
    ],
    [
      "an empty ce_source",
      "missing_header",
      () => [encoded().value, { ...encoded().headers, ce_source: "" }],
    ],
    [
      "a missing content-type",
      "missing_header",
      () => [encoded().value, { ...encoded().headers, "content-type": undefined }],
    ],
    [
      "a JSON content-type",
      "wrong_content_type",
      () => [encoded().value, { ...encoded().headers, "content-type": "application/json" }],
    ],
    [
      "ce_specversion 0.3",
      "unsupported_specversion",
      () => [encoded().value, { ...encoded().headers, ce_specversion: "0.3" }],
    ],
    [
      "a ce_time that is no time",
      "invalid_time",
      () => [encoded().value, { ...encoded().headers, ce_time: "soon" }],
    ],
  ];

  it.each(cases)("rejects %s as poison (%s)", (_what, reason, make) => {
    const [value, headers] = make();
    const error = poisonOf(value, headers);
    expect(error.reason).toBe(reason);
    expect(error.message.startsWith(`${reason}: `)).toBe(true);
  });

  it("names the offending header or type in the reason", () => {
    const { value, headers } = encoded();
    expect(poisonOf(value, { ...headers, ce_id: undefined }).message).toContain("ce_id");
    expect(poisonOf(value, { ...headers, ce_type: "x.y.Z" }).message).toContain("x.y.Z");
  });

  it("accepts content-type parameters and case, and drops a malformed traceparent", () => {
    const { value, headers } = encoded();
    const decoded = decodeEvent(eventRegistry, {
      value,
      headers: {
        ...headers,
        "content-type": "Application/Protobuf; proto=accord.orders.v1.OrderPlaced",
        traceparent: "x",
      },
    });
    expect(decoded.type).toBe("accord.orders.v1.OrderPlaced");
    expect(decoded).not.toHaveProperty("traceparent");
  });
});

describe("normalizeHeaders", () => {
  it("turns Buffers to strings, keeps the last of repeated values, drops undefined", () => {
    expect(
      normalizeHeaders({ a: Buffer.from("1"), b: "2", c: ["x", Buffer.from("3")], d: undefined, e: [] }),
    ).toStrictEqual({ a: "1", b: "2", c: "3" });
    expect(normalizeHeaders(undefined)).toStrictEqual({});
  });
});

describe("topics", () => {
  // The test run may set ACCORD_TOPIC_PREFIX (test/setup/infrastructure.ts);
  // the names below are what follows it.
  const prefix = process.env.ACCORD_TOPIC_PREFIX ?? "";

  it("names domain topics and their dead-letter topics", () => {
    expect(topicFor("orders")).toBe(`${prefix}orders.events`);
    expect(dlqTopicFor(topicFor("payments"))).toBe(`${prefix}payments.events.dlq`);
    expect(sourceFor("shipping")).toBe("/accord/shipping");
  });

  it("puts ACCORD_TOPIC_PREFIX in front of every domain topic", () => {
    const saved = process.env.ACCORD_TOPIC_PREFIX;
    try {
      process.env.ACCORD_TOPIC_PREFIX = "e2e-1.";
      expect(topicFor("inventory")).toBe("e2e-1.inventory.events");
      delete process.env.ACCORD_TOPIC_PREFIX;
      expect(topicFor("inventory")).toBe("inventory.events");
    } finally {
      if (saved === undefined) delete process.env.ACCORD_TOPIC_PREFIX;
      else process.env.ACCORD_TOPIC_PREFIX = saved;
    }
  });

  it("lists the four domain topics and their .dlq topics", () => {
    expect([...ALL_TOPICS].sort()).toStrictEqual(
      [
        "inventory.events",
        "inventory.events.dlq",
        "orders.events",
        "orders.events.dlq",
        "payments.events",
        "payments.events.dlq",
        "shipping.events",
        "shipping.events.dlq",
      ]
        .map((t) => `${prefix}${t}`)
        .sort(),
    );
  });
});
