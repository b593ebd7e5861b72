import { describe, expect, it } from "vitest";
import { whileRetriable } from "#lib/messaging/kafka.ts";

/** An error shaped like kafkajs's protocol errors. */
function kafkaError(retriable: boolean): Error {
  return Object.assign(new Error("This server does not host this topic-partition"), {
    retriable,
    type: "UNKNOWN_TOPIC_OR_PARTITION",
  });
}

describe("whileRetriable", () => {
  it("tries again after a retriable error and returns the first success", async () => {
    let calls = 0;
    const result = await whileRetriable(
      async () => {
        calls++;
        if (calls < 3) throw kafkaError(true);
        return "subscribed";
      },
      { delayMs: 1 },
    );
    expect(result).toBe("subscribed");
    expect(calls).toBe(3);
  });

  it("throws an error that is not retriable at once", async () => {
    let calls = 0;
    const refused = kafkaError(false);
    await expect(
      whileRetriable(
        async () => {
          calls++;
          throw refused;
        },
        { delayMs: 1 },
      ),
    ).rejects.toBe(refused);
    expect(calls).toBe(1);
  });

  it("gives up with the last retriable error once its time is over", async () => {
    let calls = 0;
    await expect(
      whileRetriable(
        async () => {
          calls++;
          throw kafkaError(true);
        },
        { withinMs: 30, delayMs: 5 },
      ),
    ).rejects.toMatchObject({ retriable: true });
    expect(calls).toBeGreaterThan(1);
    expect(calls).toBeLessThan(10);
  });
});
