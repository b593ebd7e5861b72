import { context, SpanKind, trace } from "@opentelemetry/api";
import { createLogger } from "#lib/observability/logger.ts";
import { startTracing, tracer } from "#lib/observability/tracing.ts";

/**
 * The CPU one order's spans cost the processes that make them, apart from
 * everything else an order does: one order's worth of spans (SPANS_PER_ORDER,
 * what a confirmed order with a webhook subscriber produces, ADR 0017) made
 * with the attributes and nesting the services give them, exported by the
 * real batch processor to the real Zipkin, CPU time of this process measured
 * (CPU time, not wall time, so a loaded machine blurs it less than latency).
 * Prints one JSON line. OTEL_SDK_DISABLED=true measures the no-op calls.
 */
const orders = Number(process.env.SPAN_COST_ORDERS ?? 2000);
const spansPerOrder = Number(process.env.SPANS_PER_ORDER ?? 140);
const logger = createLogger("span-cost", "warn");
const tracing = startTracing("span-cost", logger);

function oneOrder(i: number): void {
  const orderId = `order-${i}`;
  const root = tracer().startSpan("accord.orders.v1.OrderService/PlaceOrder", {
    kind: SpanKind.SERVER,
    attributes: {
      "rpc.system": "connect_rpc",
      "rpc.service": "accord.orders.v1.OrderService",
      "rpc.method": "PlaceOrder",
    },
  });
  const ctx = trace.setSpan(context.active(), root);
  context.with(ctx, () => {
    for (let s = 1; s < spansPerOrder; s++) {
      const span = tracer().startSpan(`pg.query:insert accord_orders ${s % 7}`, {
        kind: SpanKind.CLIENT,
        attributes: {
          "db.system.name": "postgresql",
          "db.namespace": "accord_orders",
          "db.query.text": "INSERT INTO outbox (event_id, topic, message_key) VALUES ($1, $2, $3)",
          "server.address": "127.0.0.1",
          "server.port": 5432,
        },
      });
      span.setAttribute("order.id", orderId);
      span.end();
    }
  });
  root.setAttribute("order.id", orderId);
  root.end();
}

for (let i = 0; i < 200; i++) oneOrder(i);
await tracing.flush();
const before = process.cpuUsage();
const started = performance.now();
for (let i = 0; i < orders; i++) {
  oneOrder(i);
  // A pause between orders, as a service has between requests, so the batch
  // processor exports as it would and its bounded queue does not drop spans.
  await new Promise((resolve) => setTimeout(resolve, 1));
}
await tracing.flush();
const used = process.cpuUsage(before);
const cpuMs = (used.user + used.system) / 1000;
process.stdout.write(
  `${JSON.stringify({
    enabled: tracing.enabled,
    orders,
    spansPerOrder,
    cpuMsPerOrder: cpuMs / orders,
    wallMs: performance.now() - started,
  })}\n`,
);
await tracing.shutdown();
process.exit(0);
