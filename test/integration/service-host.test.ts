import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startServiceProcess } from "#test/support/service-process.ts";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// The service host as a process sees it: health, metrics, the shutdown policy
// and configuration errors, on the real orders and payments entry points.
describe("service host", () => {
  let orders: ServiceUnderTest<"orders">;

  beforeAll(async () => {
    orders = await startServiceUnderTest("orders", { tag: "host", env: { LOG_LEVEL: "info" } });
  });
  afterAll(async () => {
    await orders?.stop();
  });

  it("answers /healthz, /readyz and /metrics beside the RPCs, and 404 for other paths", async () => {
    expect((await fetch(`${orders.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${orders.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ok" });

    await orders.client.listOrders({ pageSize: 1 });
    const metrics = await (await fetch(`${orders.url}/metrics`)).text();
    expect(metrics).toMatch(
      /rpc_server_duration_seconds_count\{method="\/accord\.orders\.v1\.OrderService\/ListOrders",code="ok"\} [1-9]/,
    );
    expect(metrics).toContain("nodejs_eventloop_lag_p99_seconds");
    expect((await fetch(`${orders.url}/no-such-path`)).status).toBe(404);
  });

  it("on SIGTERM runs the named shutdown steps, intake first, and exits 0", async () => {
    const code = await orders.stop("SIGTERM");
    expect(code).toBe(0);
    const steps = orders
      .output()
      .split("\n")
      .filter((line) => line.includes('"msg":"shutdown: step done"'))
      .map((line) => (JSON.parse(line) as { step: string }).step);
    expect(steps).toEqual(["rpc server", "outbox relay", "postgres pool"]);
    expect(orders.output()).toMatch(/"failed":0,"code":0,"msg":"shutdown complete"/);
  });

  it("refuses to start with a bad variable, names it and exits 1", async () => {
    const port = await freePort();
    const started = startServiceProcess(
      "services/payments/src/main.ts",
      { PAYMENTS_PORT: String(port), PAYMENTS_PROVIDER_BREAKER_TIMEOUT_MS: "soon" },
      port,
      15_000,
    );
    await expect(started).rejects.toThrow(/exited with 1/);
    await expect(started).rejects.toThrow(/PAYMENTS_PROVIDER_BREAKER_TIMEOUT_MS/);
  });

  it("validates the host's own variables too (SHUTDOWN_DEADLINE_MS)", async () => {
    const port = await freePort();
    const started = startServiceProcess(
      "simulators/carrier/src/main.ts",
      { CARRIER_PORT: String(port), SHUTDOWN_DEADLINE_MS: "later" },
      port,
      15_000,
    );
    await expect(started).rejects.toThrow(/exited with 1[\s\S]*SHUTDOWN_DEADLINE_MS/);
  });
});
