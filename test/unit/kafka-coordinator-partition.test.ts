import { describe, expect, it } from "vitest";
import { offsetsPartitionOf } from "../../infra/production/kafka/cluster.ts";

describe("offsetsPartitionOf: the __consumer_offsets partition, so the coordinator, of a group", () => {
  // Read off the production cluster (10 partitions) with Kafka's own
  // ConsumerGroupCommand --describe --state on 2026-12-04: each group's
  // coordinator was the leader of the partition given here.
  it.each([
    ["orchestrator", 4],
    ["notifications", 4],
    ["orders", 1],
    ["orchestrator-e2e-ace8dd4d07", 6],
  ])("puts %s on partition %i of 10, as the broker does", (groupId, partition) => {
    expect(offsetsPartitionOf(groupId, 10)).toBe(partition);
  });

  it("follows Java's String.hashCode past 32 bits, and its abs of Integer.MIN_VALUE", () => {
    // "polygenelubricants".hashCode() is Integer.MIN_VALUE; Kafka's Utils.abs makes it 0.
    expect(offsetsPartitionOf("polygenelubricants", 10)).toBe(0);
    // "orchestrator".hashCode() is -474222454 (negative): abs, then modulo.
    expect(offsetsPartitionOf("orchestrator", 50)).toBe(4);
    expect(offsetsPartitionOf("orchestrator", 7)).toBe(474222454 % 7);
    expect(offsetsPartitionOf("", 10)).toBe(0);
  });
});
