import { describe, expect, it } from "vitest";
import { breakerOptionsFrom } from "#lib/breaker.ts";
import { ConfigError } from "#lib/host/config.ts";
import { loadOrchestratorConfig } from "#services/orchestrator/src/config.ts";
import { loadOrdersConfig } from "#services/orders/src/config.ts";
import { loadPaymentsConfig } from "#services/payments/src/config.ts";

describe("service configuration", () => {
  it("derives topic and group defaults from the env it is given, not from process.env", () => {
    const config = loadOrchestratorConfig({ ACCORD_TOPIC_PREFIX: "e2e-7." });
    expect(config.ORCHESTRATOR_GROUP_ID).toBe("e2e-7.orchestrator");
    expect(config.ORCHESTRATOR_ORDERS_TOPIC).toBe("e2e-7.orders.events");
    // CATALOG_URL has no default (checkout must know where its prices come from).
    const orders = loadOrdersConfig({ CATALOG_URL: "http://127.0.0.1:8087" });
    expect(orders.ORDERS_EVENTS_TOPIC).toBe("orders.events");
    expect(orders.ORDERS_PAYMENTS_TOPIC).toBe("payments.events");
  });

  it("builds every breaker from the same <P>_BREAKER_* fragment", () => {
    const config = loadPaymentsConfig({
      PAYMENTS_PROVIDER_BREAKER_TIMEOUT_MS: "750",
      PAYMENTS_PROVIDER_BREAKER_VOLUME_THRESHOLD: "3",
    });
    expect(breakerOptionsFrom(config, "PAYMENTS_PROVIDER")).toEqual({
      timeoutMs: 750,
      errorThresholdPercentage: 50,
      resetTimeoutMs: 10_000,
      volumeThreshold: 3,
      rollingCountTimeoutMs: 10_000,
    });
    expect(breakerOptionsFrom(loadOrchestratorConfig({}), "ORCHESTRATOR").timeoutMs).toBe(10_000);
  });

  it("talks to Temporal uncompressed unless gzip is asked for, and names any other codec", () => {
    expect(loadOrchestratorConfig({}).TEMPORAL_GRPC_COMPRESSION).toBe("none");
    expect(loadOrchestratorConfig({ TEMPORAL_GRPC_COMPRESSION: "gzip" }).TEMPORAL_GRPC_COMPRESSION).toBe(
      "gzip",
    );
    expect(() => loadOrchestratorConfig({ TEMPORAL_GRPC_COMPRESSION: "brotli" })).toThrow(
      /TEMPORAL_GRPC_COMPRESSION/,
    );
  });

  it("names every bad variable in one error", () => {
    const load = () => loadOrdersConfig({ ORDERS_PORT: "70000", ORDERS_DATABASE: "Orders; DROP" });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/ORDERS_PORT/);
    expect(load).toThrow(/ORDERS_DATABASE/);
  });
});
