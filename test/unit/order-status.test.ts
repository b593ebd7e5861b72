import { describe, expect, it } from "vitest";
import { OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { planTransition } from "#services/orders/src/domain/status.ts";

describe("planTransition", () => {
  it("lets the saga move a pending order to each outcome", () => {
    for (const target of [
      OrderStatus.CONFIRMED,
      OrderStatus.FAILED,
      OrderStatus.CANCELLED,
      OrderStatus.CANCELLING,
    ]) {
      expect(planTransition(OrderStatus.PENDING, target)).toBe("apply");
    }
  });

  it("answers a repeated step with 'already' so retries write no second event", () => {
    expect(planTransition(OrderStatus.CONFIRMED, OrderStatus.CONFIRMED)).toBe("already");
    expect(planTransition(OrderStatus.CANCELLED, OrderStatus.CANCELLING)).toBe("already");
  });

  it("refuses to cancel or fail an order that shipped or ended", () => {
    expect(planTransition(OrderStatus.CONFIRMED, OrderStatus.CANCELLING)).toBe("refuse");
    expect(planTransition(OrderStatus.DELIVERED, OrderStatus.FAILED)).toBe("refuse");
    expect(planTransition(OrderStatus.FAILED, OrderStatus.CONFIRMED)).toBe("refuse");
    expect(planTransition(OrderStatus.PENDING, OrderStatus.DELIVERED)).toBe("refuse");
  });

  it("lets a shipment that won the race confirm a cancelling order", () => {
    expect(planTransition(OrderStatus.CANCELLING, OrderStatus.CONFIRMED)).toBe("apply");
    expect(planTransition(OrderStatus.CONFIRMED, OrderStatus.DELIVERED)).toBe("apply");
  });
});
