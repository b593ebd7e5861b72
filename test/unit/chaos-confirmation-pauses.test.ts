import { describe, expect, it } from "vitest";
import { gapsOver, longestPause, overlaps } from "#chaos/confirmation-pauses.ts";

// Seconds to epoch milliseconds from an arbitrary origin.
const at = (...seconds: number[]) => seconds.map((s) => 1_000_000 + s * 1000);
const window = (from: number, to: number) => ({ from: 1_000_000 + from * 1000, to: 1_000_000 + to * 1000 });

describe("confirmation pauses around a fault window", () => {
  it("measures the gaps between consecutive confirmations that overlap the window", () => {
    const times = at(0, 9, 11, 12, 19, 30);
    // Window 10..20: 9 -> 11 overlaps its start, 19 -> 30 its end; 0 -> 9 lies before it.
    expect(gapsOver(times, window(10, 20)).map((g) => g.seconds)).toEqual([2, 1, 7, 11]);
    const longest = longestPause(times, window(10, 20));
    expect(longest).toEqual({ from: at(19)[0], to: at(30)[0], seconds: 11 });
  });

  it("counts a window without any confirmation as one pause from the last before to the first after", () => {
    expect(longestPause(at(1, 4, 27), window(5, 25)).seconds).toBe(23);
  });

  it("ends the pause at the window's end when nothing was confirmed after it", () => {
    expect(longestPause(at(1, 8), window(5, 20)).seconds).toBe(12);
    expect(longestPause([], window(5, 20)).seconds).toBe(15);
  });

  it("starts at the window's start when nothing was confirmed before it", () => {
    expect(gapsOver(at(9, 10), window(5, 20)).map((g) => g.seconds)).toEqual([4, 1, 10]);
  });

  it("finds a steady stream within the limit", () => {
    const steady = Array.from({ length: 40 }, (_, k) => k * 0.5);
    expect(longestPause(at(...steady), window(5, 15)).seconds).toBe(0.5);
  });

  it("tells whether two spans overlap", () => {
    expect(overlaps(window(0, 10), window(9, 12))).toBe(true);
    expect(overlaps(window(0, 10), window(10, 12))).toBe(false);
  });
});
