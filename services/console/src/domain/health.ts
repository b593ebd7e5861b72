import { create } from "@bufbuild/protobuf";
import {
  type BreakerHealth,
  BreakerHealthSchema,
  type ConsumerLag,
  ConsumerLagSchema,
  type DeadLetterDepth,
  DeadLetterDepthSchema,
  type OutboxBacklog,
  OutboxBacklogSchema,
} from "#gen/accord/console/v1/console_pb.js";

/** One sample of a Prometheus instant vector: its labels and its value. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus /api/v1/query answer; anything else is an error naming what was wrong. */
export function samplesOf(body: unknown): Sample[] {
  const data = (body as { status?: unknown; data?: { resultType?: unknown; result?: unknown } })?.data;
  if ((body as { status?: unknown })?.status !== "success" || data?.resultType !== "vector") {
    throw new Error("not an instant vector answer");
  }
  if (!Array.isArray(data.result)) throw new Error("no result list");
  const samples: Sample[] = [];
  for (const item of data.result as { metric?: unknown; value?: unknown }[]) {
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries((item?.metric as Record<string, unknown>) ?? {})) {
      if (typeof v === "string") labels[k] = v;
    }
    const raw = Array.isArray(item?.value) ? item.value[1] : undefined;
    const value = typeof raw === "string" ? Number(raw) : Number.NaN;
    if (Number.isFinite(value)) samples.push({ labels, value });
  }
  return samples;
}

const BREAKER_STATES = ["closed", "half-open", "open"] as const;

/** breaker_state's value (0 closed, 1 half-open, 2 open) in words. */
export function breakerStateName(value: number): string {
  return BREAKER_STATES[value] ?? `unknown (${value})`;
}

const bySort =
  <T>(key: (t: T) => string) =>
  (a: T, b: T) =>
    key(a).localeCompare(key(b));

export function breakersFrom(samples: readonly Sample[]): BreakerHealth[] {
  return samples
    .map((s) =>
      create(BreakerHealthSchema, {
        service: s.labels.service ?? "",
        breaker: s.labels.breaker ?? "",
        state: breakerStateName(s.value),
      }),
    )
    .sort(bySort((b) => `${b.service}/${b.breaker}`));
}

export function lagFrom(samples: readonly Sample[]): ConsumerLag[] {
  return samples
    .map((s) =>
      create(ConsumerLagSchema, {
        service: s.labels.service ?? "",
        group: s.labels.group ?? "",
        topic: s.labels.topic ?? "",
        lag: BigInt(Math.max(0, Math.round(s.value))),
      }),
    )
    .sort(bySort((l) => `${l.service}/${l.group}/${l.topic}`));
}

/** Backlog rows and oldest ages, joined by service. */
export function outboxFrom(rows: readonly Sample[], ages: readonly Sample[]): OutboxBacklog[] {
  const age = new Map(ages.map((s) => [s.labels.service ?? "", s.value]));
  return rows
    .map((s) =>
      create(OutboxBacklogSchema, {
        service: s.labels.service ?? "",
        unpublished: BigInt(Math.max(0, Math.round(s.value))),
        oldestAgeSeconds: age.get(s.labels.service ?? "") ?? 0,
      }),
    )
    .sort(bySort((o) => o.service));
}

export function deadLetterDepthsFrom(rabbit: readonly Sample[], kafka: readonly Sample[]): DeadLetterDepth[] {
  const depth = (broker: string, label: string) => (s: Sample) =>
    create(DeadLetterDepthSchema, {
      service: s.labels.service ?? "",
      broker,
      name: s.labels[label] ?? "",
      depth: BigInt(Math.max(0, Math.round(s.value))),
    });
  return [
    ...rabbit.map(depth("rabbitmq", "queue")).sort(bySort((d) => `${d.service}/${d.name}`)),
    ...kafka.map(depth("kafka", "topic")).sort(bySort((d) => `${d.service}/${d.name}`)),
  ];
}
