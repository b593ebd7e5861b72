import { describe, expect, it, vi } from "vitest";
import { type ServiceUnderTest, startServiceUnderTest } from "#test/support/service-under-test.ts";

// A consumer group the tests' Kafka principal may not use (it has the test-*
// groups only, infra/kafka/acl-table.ts). The broker refuses it with
// GROUP_AUTHORIZATION_FAILED, which kafkajs does not restart from: the same
// as a service deployed with the wrong group or credentials.
const REFUSED_GROUP = "orchestrator";
const WAIT = { timeout: 30_000, interval: 100 };

interface RestartLine {
  time: string;
  restarts: number;
  delayMs: number;
}

describe("a service whose event consumer kafkajs gives up for good (real broker)", () => {
  it("notifications ends with exit 1, for its supervisor to start again, instead of serving without consuming", async () => {
    let notifications: ServiceUnderTest<"notifications">;
    try {
      notifications = await startServiceUnderTest("notifications", {
        env: { NOTIFICATIONS_CONSUMER_GROUP: REFUSED_GROUP },
      });
    } catch (error) {
      // It may end before its /readyz ever answered 200.
      expect(String(error)).toMatch(/exited with 1[\s\S]*"reason":"kafka consumer stopped"/);
      return;
    }
    let exitCode: number | null;
    try {
      await vi.waitFor(
        () => expect(notifications.output()).toContain('"reason":"kafka consumer stopped"'),
        WAIT,
      );
    } finally {
      // Also when the wait fails: the process must not outlive the test.
      exitCode = await notifications.stop();
    }
    expect(exitCode).toBe(1);
  });

  it("orders goes on serving and starts its payment events consumer again, pausing longer each time", async () => {
    const orders = await startServiceUnderTest("orders", { env: { ORDERS_CONSUMER_GROUP: REFUSED_GROUP } });
    try {
      const restartLines = () =>
        orders
          .output()
          .split("\n")
          .filter((line) => line.includes("payment events consumer stopped; starting it again"))
          .map((line) => JSON.parse(line) as RestartLine);
      await vi.waitFor(() => expect(restartLines().length).toBeGreaterThanOrEqual(3), WAIT);
      const [first, second, third] = restartLines();
      expect([first?.delayMs, second?.delayMs, third?.delayMs]).toEqual([1000, 2000, 4000]);
      expect([first?.restarts, second?.restarts, third?.restarts]).toEqual([1, 2, 3]);
      // Each attempt came after the pause the one before announced.
      const at = (line: RestartLine | undefined) => Date.parse(line?.time ?? "");
      expect(at(second) - at(first)).toBeGreaterThanOrEqual(1000);
      expect(at(third) - at(second)).toBeGreaterThanOrEqual(2000);
      // Checkout does not depend on the consumer: orders stays ready.
      expect((await fetch(`${orders.url}/readyz`)).status).toBe(200);
    } finally {
      expect(await orders.stop()).toBe(0);
    }
  });
});
