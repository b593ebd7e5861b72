import http from "node:http";
import type { AddressInfo } from "node:net";
import { context, SpanKind, trace } from "@opentelemetry/api";
import { AlwaysOnSampler, SamplingDecision } from "@opentelemetry/sdk-trace";
import { TRACE_HEADER } from "@temporalio/interceptors-opentelemetry/lib/instrumentation.js";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "#lib/observability/logger.ts";
import {
  skippingTransactionControl,
  startTracing,
  traceparentOfSpan,
  tracer,
} from "#lib/observability/tracing.ts";
import {
  TRACE_CONTEXT_HEADER,
  interceptors as workflowTraceContext,
} from "#lib/temporal-sandbox/trace-context.ts";

// A port nobody listens on: Zipkin down.
const closed = http.createServer();
await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
const deadPort = (closed.address() as AddressInfo).port;
await new Promise<void>((resolve) => closed.close(() => resolve()));

const lines: Record<string, unknown>[] = [];
const logger = createLogger("tracing-unit");
const warn = logger.warn.bind(logger);
logger.warn = ((obj: Record<string, unknown>, msg?: string) => {
  lines.push({ ...obj, msg });
  return warn(obj, msg);
}) as typeof logger.warn;

const tracing = startTracing("tracing-unit", logger, {
  OTEL_EXPORTER_ZIPKIN_ENDPOINT: `http://127.0.0.1:${deadPort}/api/v2/spans`,
  OTEL_TRACES_SAMPLER_ARG: "1",
});

afterAll(() => tracing.shutdown());

describe("tracing", () => {
  it("with Zipkin down: spans are dropped, the error is logged once per 30 s, flush stays bounded", async () => {
    expect(tracing.enabled).toBe(true);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) tracer().startSpan(`work ${i}`).end();
      const started = Date.now();
      await tracing.flush();
      expect(Date.now() - started).toBeLessThan(3_000);
    }
    const exportErrors = lines.filter((l) => String(l.msg).startsWith("span export failed"));
    expect(exportErrors).toHaveLength(1);
  });

  it("records no span for statements that only frame a transaction; the rest is the inner sampler's call", () => {
    const sampler = skippingTransactionControl(new AlwaysOnSampler());
    const decide = (name: string) =>
      sampler.shouldSample(
        context.active(),
        "0af7651916cd43dd8448eb211c80319c",
        name,
        SpanKind.CLIENT,
        {},
        [],
      ).decision;
    for (const name of [
      "pg.query:BEGIN accord_orders",
      "pg.query:COMMIT accord_orders",
      "pg.query:ROLLBACK",
      "pg.query:SAVEPOINT accord_inventory",
      "pg.query:RELEASE accord_inventory",
    ])
      expect(decide(name), name).toBe(SamplingDecision.NOT_RECORD);
    for (const name of [
      "pg.query:SELECT accord_orders",
      "pg.query:outbox-insert accord_orders",
      // A named query that merely starts like a statement keeps its span.
      "pg.query:commit-log accord_orders",
      "pg.query:BEGINNING accord_orders",
      "accord.orders.v1.OrderService/PlaceOrder",
    ])
      expect(decide(name), name).toBe(SamplingDecision.RECORD_AND_SAMPLED);
  });

  it("a second start returns the first setup", () => {
    expect(startTracing("other", logger, {})).toBe(tracing);
  });

  it("the traceparent of the active span is the one a child continues", () => {
    const parent = tracer().startSpan("parent", { kind: SpanKind.SERVER });
    const traceparent = context.with(trace.setSpan(context.active(), parent), () => traceparentOfSpan());
    const { traceId, spanId } = parent.spanContext();
    expect(traceparent).toBe(`00-${traceId}-${spanId}-01`);
    parent.end();
    expect(traceparentOfSpan(undefined)).toBeUndefined();
  });

  it("the workflow sandbox hands on the context it was started with to each activity, unchanged", async () => {
    const startedWith = {
      metadata: { encoding: new TextEncoder().encode("json/plain") },
      data: new Uint8Array([1]),
    };
    const ownOfActivity = {
      metadata: { encoding: new TextEncoder().encode("json/plain") },
      data: new Uint8Array([2]),
    };
    const { inbound, outbound } = workflowTraceContext();
    const execute = inbound?.[0]?.execute;
    const schedule = outbound?.[0]?.scheduleActivity;
    if (!execute || !schedule) throw new Error("the sandbox module lost its interceptors");
    await execute({ headers: { [TRACE_CONTEXT_HEADER]: startedWith }, args: [] }, async () => undefined);
    const sent: unknown[] = [];
    const next = async (input: unknown) => sent.push(input);
    const input = (headers: Record<string, typeof startedWith>) =>
      ({ activityType: "reserveInventory", args: [], headers, options: {}, seq: 1 }) as unknown as Parameters<
        typeof schedule
      >[0];
    await schedule(input({}), next);
    await schedule(input({ [TRACE_CONTEXT_HEADER]: ownOfActivity }), next);
    expect(sent).toMatchObject([
      { headers: { [TRACE_CONTEXT_HEADER]: startedWith } },
      { headers: { [TRACE_CONTEXT_HEADER]: ownOfActivity } },
    ]);
    // The name is Temporal's OpenTelemetry header, which the activity interceptor reads.
    expect(TRACE_CONTEXT_HEADER).toBe(TRACE_HEADER);
  });

  it("a workflow started without a trace context schedules its activities as they are", async () => {
    const { inbound, outbound } = workflowTraceContext();
    await inbound?.[0]?.execute?.({ headers: {}, args: [] }, async () => undefined);
    const sent: unknown[] = [];
    await outbound?.[0]?.scheduleActivity?.(
      { activityType: "x", args: [], headers: {}, options: {}, seq: 1 } as never,
      async (input: unknown) => sent.push(input),
    );
    expect(sent).toEqual([{ activityType: "x", args: [], headers: {}, options: {}, seq: 1 }]);
  });
});
