/** One scrape of a /metrics endpoint: every series ("name{labels}") with its value. */
export async function scrapeMetrics(baseUrl: string): Promise<Map<string, number>> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (!res.ok) throw new Error(`${baseUrl}/metrics answered ${res.status}`);
  const series = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    series.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return series;
}

/** Sum of the series of one metric whose labels pass the test (all of them by default). */
export function sumOf(
  series: Map<string, number>,
  name: string,
  labels: (labelText: string) => boolean = () => true,
): number {
  let total = 0;
  for (const [key, value] of series) {
    const brace = key.indexOf("{");
    const metric = brace < 0 ? key : key.slice(0, brace);
    if (metric === name && labels(brace < 0 ? "" : key.slice(brace))) total += value;
  }
  return total;
}

export interface ProcessPauses {
  /** Event-loop delay over the window (the histogram restarts at every scrape), ms. */
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  /** Garbage collection over the window: total time, collections, and those longer than 10 ms. */
  gcMs: number;
  gcCount: number;
  gcOver10Ms: number;
}

/** What a process's own metrics say about its stalls between two scrapes. */
export function pausesBetween(before: Map<string, number>, after: Map<string, number>): ProcessPauses {
  const gc = (name: string, labels?: (l: string) => boolean) =>
    sumOf(after, name, labels) - sumOf(before, name, labels);
  const count = gc("nodejs_gc_duration_seconds_count");
  return {
    eventLoopDelayP99Ms: Math.round(sumOf(after, "nodejs_eventloop_lag_p99_seconds") * 1e4) / 10,
    eventLoopDelayMaxMs: Math.round(sumOf(after, "nodejs_eventloop_lag_max_seconds") * 1e4) / 10,
    gcMs: Math.round(gc("nodejs_gc_duration_seconds_sum") * 1e4) / 10,
    gcCount: count,
    gcOver10Ms: count - gc("nodejs_gc_duration_seconds_bucket", (l) => l.includes('le="0.01"')),
  };
}
