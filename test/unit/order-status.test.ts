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

  it("moves only a confirmed or delivered order to REFUNDED (an ops refund), and a late delivery leaves it", () => {
    expect(planTransition(OrderStatus.CONFIRMED, OrderStatus.REFUNDED)).toBe("apply");
    expect(planTransition(OrderStatus.DELIVERED, OrderStatus.REFUNDED)).toBe("apply");
    expect(planTransition(OrderStatus.REFUNDED, OrderStatus.REFUNDED)).toBe("already");
    for (const saga of [
      OrderStatus.PENDING,
      OrderStatus.CANCELLING,
      OrderStatus.FAILED,
      OrderStatus.CANCELLED,
    ]) {
      expect(planTransition(saga, OrderStatus.REFUNDED)).toBe("refuse");
    }
    expect(planTransition(OrderStatus.REFUNDED, OrderStatus.DELIVERED)).toBe("already");
    expect(planTransition(OrderStatus.REFUNDED, OrderStatus.CONFIRMED)).toBe("refuse");
    expect(planTransition(OrderStatus.REFUNDED, OrderStatus.CANCELLING)).toBe("refuse");
  });
});
