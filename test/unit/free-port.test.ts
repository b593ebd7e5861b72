import { describe, expect, it } from "vitest";
import { handoffSlice, type PortSlice } from "#test/support/service-process.ts";

/** The slice below this machine's default range (32768-60999); failing the test when there is none. */
function sliceBelow32768(poolId: number): PortSlice {
  const slice = handoffSlice(32_768, poolId);
  if (slice === undefined) throw new Error(`no slice below 32768 for worker ${poolId}`);
  return slice;
}

describe("ports handed to child processes", () => {
  it("stay below the kernel's ephemeral range, where no outgoing connection takes them", () => {
    for (const poolId of [0, 1, 2, 7, 8, 13]) {
      const slice = sliceBelow32768(poolId);
      expect(slice.first).toBeGreaterThanOrEqual(20_000);
      expect(slice.last).toBeLessThan(32_768);
      expect(slice.last).toBeGreaterThan(slice.first);
    }
  });

  it("give concurrent workers disjoint slices", () => {
    const slices = [1, 2, 3, 4].map(sliceBelow32768);
    for (const [i, a] of slices.entries())
      for (const b of slices.slice(i + 1)) expect(a.last < b.first || b.last < a.first).toBe(true);
  });

  it("are left to the kernel when its ephemeral range leaves no room below it", () => {
    expect(handoffSlice(20_100, 1)).toBeUndefined();
    expect(handoffSlice(1_024, 1)).toBeUndefined();
  });
});
