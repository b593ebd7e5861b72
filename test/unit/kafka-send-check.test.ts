import { describe, expect, it } from "vitest";
import { KafkaSendIncompleteError, unansweredPlacements } from "#lib/messaging/kafka.ts";

// The check behind createIdempotentProducer: a send is done only when every partition
// a message was placed on answered (kafkajs 2.2.4 can resolve without some of them).
describe("unansweredPlacements", () => {
  const answer = (topicName: string, partition: number) => ({ topicName, partition });

  it("finds nothing missing when every placed partition answered", () => {
    const placed = [
      { topic: "orders.events", partition: 0 },
      { topic: "orders.events", partition: 3 },
      { topic: "orders.events", partition: 3 },
      { topic: "payments.events", partition: 0 },
    ];
    const answers = [answer("orders.events", 3), answer("payments.events", 0), answer("orders.events", 0)];
    expect(unansweredPlacements(placed, answers)).toEqual([]);
  });

  it("names each partition without an answer once, as kafkajs leaves them after a leader moves", () => {
    // Leader 1 answered for partition 0; partition 5 moved from the lost leader 2 to leader 1
    // and was never sent again.
    const placed = [
      { topic: "orders.events", partition: 0 },
      { topic: "orders.events", partition: 5 },
      { topic: "orders.events", partition: 5 },
    ];
    expect(unansweredPlacements(placed, [answer("orders.events", 0)])).toEqual([
      { topic: "orders.events", partition: 5 },
    ]);
  });

  it("tells topics apart: an answer for the same partition of another topic does not count", () => {
    const placed = [{ topic: "orders.events", partition: 2 }];
    expect(unansweredPlacements(placed, [answer("payments.events", 2)])).toEqual([
      { topic: "orders.events", partition: 2 },
    ]);
  });

  it("counts a message the partitioner never saw (-1) as unanswered", () => {
    expect(unansweredPlacements([{ topic: "t", partition: -1 }], [answer("t", 0)])).toEqual([
      { topic: "t", partition: -1 },
    ]);
  });

  it("reports as retriable, naming the partitions", () => {
    const error = new KafkaSendIncompleteError([{ topic: "orders.events", partition: 5 }]);
    expect(error.retriable).toBe(true);
    expect(error.message).toContain("orders.events[5]");
  });
});
