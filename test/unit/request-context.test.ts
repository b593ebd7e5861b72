import { describe, expect, it } from "vitest";
import {
  correlationIdFrom,
  currentContext,
  runWithContext,
  setContextOrderId,
} from "#lib/observability/request-context.ts";

describe("request context", () => {
  it("keeps the context across awaits and adds the order id once known", async () => {
    await runWithContext({ correlationId: "c-1" }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      setContextOrderId("order-9");
      expect(currentContext()).toEqual({ correlationId: "c-1", orderId: "order-9" });
    });
    expect(currentContext()).toBeUndefined();
  });

  it("takes the caller's id, else the traceparent's trace id, else the fallback", () => {
    expect(correlationIdFrom("abc-123", null)).toBe("abc-123");
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    expect(correlationIdFrom(null, traceparent)).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(correlationIdFrom("bad id with spaces", "garbage", "event-1")).toBe("event-1");
    expect(correlationIdFrom(undefined)).toMatch(/^[0-9a-f-]{36}$/);
  });
});
