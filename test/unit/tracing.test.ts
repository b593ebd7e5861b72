import http from "node:http";
import type { AddressInfo } from "node:net";
import { context, SpanKind, trace } from "@opentelemetry/api";
import { AlwaysOnSampler, type ReadableSpan, SamplingDecision } from "@opentelemetry/sdk-trace";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "#lib/observability/logger.ts";
import {
  fromSdk1Span,
  skippingTransactionControl,
  startTracing,
  traceparentOfSpan,
  tracer,
} from "#lib/observability/tracing.ts";

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

  it("an SDK 1.x workflow span gets its parent, scope and order id in the shape the exporter reads", () => {
    const own = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: 1 };
    const sdk1 = {
      name: "RunWorkflow:orderWorkflow",
      kind: SpanKind.INTERNAL,
      spanContext: () => own,
      parentSpanId: "00f067aa0ba902b7",
      instrumentationLibrary: { name: "@temporalio/interceptors-opentelemetry" },
      attributes: { workflowId: "order-42" },
      events: [],
      links: [],
    } as unknown as ReadableSpan;
    const span = fromSdk1Span(sdk1);
    expect(span.parentSpanContext).toMatchObject({ traceId: own.traceId, spanId: "00f067aa0ba902b7" });
    expect(span.instrumentationScope.name).toBe("@temporalio/interceptors-opentelemetry");
    expect(span.attributes["order.id"]).toBe("42");
    expect(span.spanContext()).toBe(own);
  });
});
