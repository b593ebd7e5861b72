import { describe, expect, it } from "vitest";
import { isUnrecoverableProducerError } from "#lib/messaging/outbox-relay.ts";

describe("isUnrecoverableProducerError", () => {
  it("recognises the errors after which an idempotent producer never succeeds again", () => {
    expect(isUnrecoverableProducerError({ type: "OUT_OF_ORDER_SEQUENCE_NUMBER" })).toBe(true);
    expect(
      isUnrecoverableProducerError(new Error("The broker received an out of order sequence number")),
    ).toBe(true);
    expect(isUnrecoverableProducerError({ type: "INVALID_PRODUCER_EPOCH" })).toBe(true);
  });

  it("leaves transient errors to the relay's own retries", () => {
    expect(
      isUnrecoverableProducerError(new Error("Connection error: connect ECONNREFUSED 127.0.0.1:9092")),
    ).toBe(false);
    expect(isUnrecoverableProducerError({ type: "NOT_LEADER_FOR_PARTITION" })).toBe(false);
    expect(isUnrecoverableProducerError(undefined)).toBe(false);
  });
});
