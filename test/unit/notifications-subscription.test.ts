import { describe, expect, it } from "vitest";
import { eventRegistry } from "#lib/messaging/events.ts";
import {
  subscriptionMatches,
  validateSubscription,
} from "#services/notifications/src/domain/subscription.ts";

const check = (url: string, eventTypes: string[] = []) =>
  validateSubscription({ url, eventTypes }, eventRegistry);

describe("validateSubscription", () => {
  it("accepts http and https URLs and known event types, dropping duplicates", () => {
    expect(
      check("https://partner.example/hooks", [
        "accord.orders.v1.OrderConfirmed",
        "accord.orders.v1.OrderConfirmed",
      ]),
    ).toEqual({
      draft: { url: "https://partner.example/hooks", eventTypes: ["accord.orders.v1.OrderConfirmed"] },
    });
    expect(check("http://127.0.0.1:9000/x")).toEqual({
      draft: { url: "http://127.0.0.1:9000/x", eventTypes: [] },
    });
  });

  it.each([
    ["", "url: is required"],
    ["not a url", "url: is not a valid absolute URL"],
    ["ftp://example.com/x", "url: must use http or https"],
    ["https://user:pw@example.com/", "url: must not contain credentials"],
  ])("rejects url %j", (url, problem) => {
    const result = check(url);
    expect("violations" in result && result.violations.map((v) => `${v.field}: ${v.message}`)).toEqual([
      problem,
    ]);
  });

  it("names the index of an unknown event type", () => {
    const result = check("https://x.example", [
      "accord.orders.v1.OrderConfirmed",
      "OrderConfirmed",
      "accord.orders.v1.Order",
    ]);
    expect("violations" in result && result.violations.map((v) => v.field)).toEqual([
      "event_types[1]",
      "event_types[2]",
    ]);
  });

  it("empty event_types matches every event", () => {
    expect(subscriptionMatches([], "accord.payments.v1.PaymentCaptured")).toBe(true);
    expect(
      subscriptionMatches(["accord.orders.v1.OrderConfirmed"], "accord.payments.v1.PaymentCaptured"),
    ).toBe(false);
  });
});
