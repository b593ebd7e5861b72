/**
 * Pauses between confirmations (CONFIRMED transitions) around fault windows:
 * plain functions over epoch milliseconds, for chaos/production.ts.
 */

export interface FaultWindow {
  /** Epoch milliseconds: the fault began (kill, down). */
  from: number;
  /** Epoch milliseconds: the part is back (broker rejoined, replica restarted, server up). */
  to: number;
}

export interface Pause {
  from: number;
  to: number;
  seconds: number;
}

/**
 * The gaps between consecutive confirmations that overlap a window, the
 * window's edges standing in where nothing was confirmed before or after it
 * (so a window without any confirmation is one pause as long as the window).
 * times: epoch milliseconds, ascending.
 */
export function gapsOver(times: readonly number[], window: FaultWindow): Pause[] {
  let first = 0;
  while (first < times.length && (times[first] as number) <= window.from) first++;
  const before = first > 0 ? (times[first - 1] as number) : window.from;
  const points = [before];
  let i = first;
  for (; i < times.length && (times[i] as number) < window.to; i++) points.push(times[i] as number);
  points.push(i < times.length ? (times[i] as number) : window.to);
  const gaps: Pause[] = [];
  for (let k = 1; k < points.length; k++) {
    const from = points[k - 1] as number;
    const to = points[k] as number;
    gaps.push({ from, to, seconds: (to - from) / 1000 });
  }
  return gaps;
}

/** The longest of gapsOver (a zero-length pause when there is none). */
export function longestPause(times: readonly number[], window: FaultWindow): Pause {
  let best: Pause = { from: window.from, to: window.from, seconds: 0 };
  for (const gap of gapsOver(times, window)) if (gap.seconds > best.seconds) best = gap;
  return best;
}

/** True when the two spans share a moment. */
export const overlaps = (a: FaultWindow, b: FaultWindow) => a.from < b.to && b.from < a.to;
