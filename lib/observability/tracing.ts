import { createRequire } from "node:module";
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { setGlobalErrorHandler, W3CTraceContextPropagator } from "@opentelemetry/core";
import { ZipkinExporter } from "@opentelemetry/exporter-zipkin";
import { type Instrumentation, registerInstrumentations } from "@opentelemetry/instrumentation";
import { AmqplibInstrumentation } from "@opentelemetry/instrumentation-amqplib";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { UndiciInstrumentation } from "@opentelemetry/instrumentation-undici";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  SamplingDecision,
  type SamplingResult,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { z } from "zod";
import { loadConfig } from "../host/config.ts";
import type { Logger } from "./logger.ts";

/**
 * OpenTelemetry tracing for one process, set up once by the service host
 * (ADR 0017): W3C traceparent propagation, AsyncLocalStorage context, a
 * parent-based ratio sampler and a batch processor exporting to Zipkin.
 * Zipkin being down never blocks or breaks the process: the batch queue
 * drops what it cannot hold and export errors are logged at most every 30 s.
 */

export const TRACER_NAME = "accord";
/** The span attribute Zipkin is searched by: annotationQuery=order.id=<id>. */
export const ORDER_ID_ATTRIBUTE = "order.id";

export const tracingEnv = z.object({
  // "true" turns tracing off (the OpenTelemetry convention).
  OTEL_SDK_DISABLED: z.enum(["true", "false", ""]).optional(),
  OTEL_EXPORTER_ZIPKIN_ENDPOINT: z.url().default("http://127.0.0.1:9411/api/v2/spans"),
  // Share of new traces kept; a sampled parent's decision is always followed.
  // 1.0: an order's spans cost about 1.5 ms of CPU (ADR 0017), so every trace is kept by default.
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
});

export interface Tracing {
  readonly enabled: boolean;
  /** Exports what is queued (the shutdown step). */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

let installed: (Tracing & { serviceName: string }) | undefined;
let provider: TracerProvider | undefined;

const disabled: Tracing = { enabled: false, flush: async () => {}, shutdown: async () => {} };

/**
 * Installs the process's tracer provider, propagator, context manager and
 * instrumentations (pg, amqplib, undici). Once per process: a second call
 * returns the first setup (tests run several hosts in one process).
 */
export function startTracing(
  serviceName: string,
  logger: Logger,
  env: Record<string, string | undefined> = process.env,
): Tracing {
  if (installed) return installed;
  const config = loadConfig(tracingEnv, env);
  // Context and propagation also serve the correlation id and the Temporal
  // headers, so they are installed even when export is off.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (!exportsSpans(config)) {
    installed = { ...disabled, serviceName };
    return installed;
  }

  let lastErrorLog = 0;
  let suppressed = 0;
  const reportExportError = (error: unknown) => {
    const now = Date.now();
    if (now - lastErrorLog < 30_000) {
      suppressed += 1;
      return;
    }
    lastErrorLog = now;
    logger.warn(
      { err: error, suppressedSince: suppressed, endpoint: config.OTEL_EXPORTER_ZIPKIN_ENDPOINT },
      "span export failed; spans are dropped until the collector answers",
    );
    suppressed = 0;
  };
  setGlobalErrorHandler(reportExportError);

  const resource = resourceFromAttributes({ "service.name": serviceName });
  const processor = new BatchSpanProcessor({
    exporter: new ZipkinExporter({ url: config.OTEL_EXPORTER_ZIPKIN_ENDPOINT, serviceName }),
    maxQueueSize: 4096,
    maxExportBatchSize: 512,
    scheduledDelayMillis: 1000,
    exportTimeoutMillis: 5000,
  });
  provider = new TracerProvider({
    resource,
    sampler: skippingTransactionControl(
      new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLER_ARG) }),
    ),
    spanProcessors: [processor],
  });
  trace.setGlobalTracerProvider(provider);
  const unregister = instrumentLoadedModules();
  const current = provider;
  installed = {
    serviceName,
    enabled: true,
    // Bounded: a Zipkin that does not answer must not hold up the shutdown.
    // A failed export is reported like any other, never fails the shutdown.
    flush: () =>
      Promise.race([
        current.forceFlush().catch(reportExportError),
        new Promise<void>((r) => setTimeout(r, 2_000).unref()),
      ]),
    async shutdown() {
      unregister();
      // Bounded like the flush: the exporter waits for its requests, and a hung collector never answers.
      await Promise.race([
        current.shutdown().catch(reportExportError),
        new Promise<void>((r) => setTimeout(r, 2_000).unref()),
      ]);
    },
  };
  logger.info(
    { endpoint: config.OTEL_EXPORTER_ZIPKIN_ENDPOINT, sampleRatio: config.OTEL_TRACES_SAMPLER_ARG },
    "tracing to zipkin",
  );
  return installed;
}

/** pg's span names for statements that only frame a transaction ("pg.query:BEGIN accord_orders"). */
const TRANSACTION_CONTROL = /^pg\.query:(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)(\s|$)/;

/**
 * Records no span for BEGIN, COMMIT, ROLLBACK, SAVEPOINT or RELEASE: about a
 * quarter of an order's spans (ADR 0022) that say nothing the enclosing RPC
 * or consumer span and its named queries do not, while each one costs its
 * export and Zipkin's ingestion. A failed COMMIT still fails its enclosing
 * span. Every other span is the inner sampler's decision.
 */
export function skippingTransactionControl(inner: Sampler): Sampler {
  const drop: SamplingResult = { decision: SamplingDecision.NOT_RECORD };
  return {
    shouldSample: (ctx, traceId, spanName, spanKind, attributes, links) =>
      TRANSACTION_CONTROL.test(spanName)
        ? drop
        : inner.shouldSample(ctx, traceId, spanName, spanKind, attributes, links),
    toString: () => `SkippingTransactionControl{${inner.toString()}}`,
  };
}

/**
 * pg, amqplib and undici through their OpenTelemetry instrumentations.
 * Under ESM the services import these CommonJS packages before the host
 * runs, so the require hook never sees them load; requiring them again
 * after registering makes require-in-the-middle patch the cached module
 * objects in place (their prototypes), which the ESM imports share. undici
 * is instrumented through diagnostics_channel and needs no patching. kafkajs
 * is traced by hand in lib/messaging (see ADR 0017 for why).
 */
function instrumentLoadedModules(): () => void {
  const instrumentations: Instrumentation[] = [
    // Spans only inside a traced unit of work: the relay's 50 ms poll would otherwise be a trace each.
    new PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
    new AmqplibInstrumentation(),
    // Token renewals in the background are not part of any order.
    new UndiciInstrumentation({ requireParentforSpans: true }),
  ];
  const unregister = registerInstrumentations({ instrumentations });
  const require = createRequire(import.meta.url);
  for (const name of [
    "pg",
    "pg-pool",
    "amqplib",
    "amqplib/lib/channel_model.js",
    "amqplib/lib/callback_model.js",
  ]) {
    try {
      require(name);
    } catch {
      // Not installed for this process: nothing to patch.
    }
  }
  return unregister;
}

/** The tracer every Accord span is made with (a no-op one while tracing is off). */
export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

const exportsSpans = (config: z.infer<typeof tracingEnv>) => config.OTEL_SDK_DISABLED !== "true";

/** Whether startTracing with this env exports spans (OTEL_SDK_DISABLED is not "true"). */
export function tracingEnabledIn(env: Record<string, string | undefined> = process.env): boolean {
  return exportsSpans(loadConfig(tracingEnv, env));
}

/** Whether this process exports spans (startTracing ran with the SDK enabled). */
export function tracingExports(): boolean {
  return installed?.enabled ?? false;
}

// ---------------------------------------------------------------- helpers

const recordGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    if (typeof value === "string") return value;
    if (Buffer.isBuffer(value)) return value.toString();
    return undefined;
  },
};

/** The context a traceparent (and tracestate) in these headers describes; ROOT_CONTEXT if none. */
export function contextFromHeaders(headers: Record<string, unknown>): Context {
  return propagation.extract(ROOT_CONTEXT, headers, recordGetter);
}

/** Writes the context's traceparent (and tracestate) into headers. */
export function injectHeaders(headers: Record<string, unknown>, ctx: Context = context.active()): void {
  propagation.inject(ctx, headers);
}

/** The W3C traceparent of a span (or of the active one), if it is a real span. */
export function traceparentOfSpan(span: Span | undefined = trace.getActiveSpan()): string | undefined {
  if (!span) return undefined;
  const { traceId, spanId, traceFlags } = span.spanContext();
  if (!trace.isSpanContextValid(span.spanContext())) return undefined;
  return `00-${traceId}-${spanId}-0${(traceFlags & 1).toString(16)}`;
}

/** Marks the active span (or the one given) as being about this order. */
export function tagOrder(orderId: string | undefined, span: Span | undefined = trace.getActiveSpan()): void {
  if (orderId) span?.setAttribute(ORDER_ID_ATTRIBUTE, orderId);
}

export interface MessagingSpanOptions {
  system: "kafka" | "rabbitmq";
  destination: string;
  /** "send" for producers, "process" for consumers (messaging.operation.type). */
  operation: "send" | "process";
  parent?: Context;
  orderId?: string;
  attributes?: Attributes;
}

/** A PRODUCER or CONSUMER span named "<operation> <destination>" per the messaging conventions. */
export function startMessagingSpan(options: MessagingSpanOptions): Span {
  const operationName = options.operation === "send" ? "publish" : "process";
  const span = tracer().startSpan(
    `${operationName} ${options.destination}`,
    {
      kind: options.operation === "send" ? SpanKind.PRODUCER : SpanKind.CONSUMER,
      attributes: {
        "messaging.system": options.system,
        "messaging.destination.name": options.destination,
        "messaging.operation": operationName,
        "messaging.operation.name": operationName,
        "messaging.operation.type": options.operation,
        ...(options.orderId ? { [ORDER_ID_ATTRIBUTE]: options.orderId } : {}),
        ...options.attributes,
      },
    },
    options.parent ?? context.active(),
  );
  return span;
}

/** Ends a span with an error status for a failure. */
export function endWithError(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message ?? String(error) });
  span.end();
}

/** Runs fn inside span (active for everything it awaits) and ends the span when it settles. */
export async function inSpan<T>(span: Span, fn: () => Promise<T>): Promise<T> {
  try {
    const result = await context.with(trace.setSpan(context.active(), span), fn);
    span.end();
    return result;
  } catch (error) {
    endWithError(span, error);
    throw error;
  }
}
