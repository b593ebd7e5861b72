import { Code } from "@connectrpc/connect";
import { useState } from "react";
import { Channel, DeliveryStatus } from "#gen/accord/notifications/v1/notifications_pb.js";
import { RunStatus, type SagaStep, StepState } from "#gen/accord/orchestrator/v1/saga_pb.js";
import { FailureCode, type Order, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import { PaymentStatus } from "#gen/accord/payments/v1/payments_pb.js";
import { ShipmentStatus } from "#gen/accord/shipping/v1/shipping_pb.js";
import { ConfirmDialog } from "../components/confirm-dialog.tsx";
import { Empty, QueryView } from "../components/states.tsx";
import { enumWords, errorCode, formatMoney, formatTime } from "../format.ts";
import { href } from "../router.ts";
import type { Clients } from "../rpc.ts";
import { useQuery } from "../use-query.ts";

const CANCELLABLE = new Set([OrderStatus.PENDING]);
const REFUNDABLE = new Set([OrderStatus.CONFIRMED, OrderStatus.DELIVERED]);

/** Zipkin's search for the order's trace (the services tag every span of it with order.id). */
function traceLink(zipkinUrl: string, orderId: string): string {
  const base = zipkinUrl.endsWith("/") ? zipkinUrl : `${zipkinUrl}/`;
  return `${base}?annotationQuery=${encodeURIComponent(`order.id=${orderId}`)}&lookback=86400000&limit=10`;
}

function notFoundIsEmpty<T>(promise: Promise<T>): Promise<T | undefined> {
  return promise.catch((error: unknown) => {
    if (errorCode(error) === Code.NotFound) return undefined;
    throw error;
  });
}

export function OrderDetailPage({
  clients,
  orderId,
  zipkinUrl,
}: {
  clients: Clients;
  orderId: string;
  zipkinUrl: string;
}) {
  const [dialog, setDialog] = useState<"cancel" | "refund" | undefined>();
  const [notice, setNotice] = useState("");
  const order = useQuery(
    async (signal) => (await clients.orders.getOrder({ orderId }, { signal })).order,
    [orderId],
    2_000,
  );
  const current = order.status === "ready" ? order.data : undefined;

  return (
    <section aria-labelledby="order-title">
      <p>
        <a href={href({ page: "orders" })}>← All orders</a>
      </p>
      <h1 id="order-title">
        Order <code>{orderId}</code>
      </h1>
      {notice && (
        <p className="state notice" role="status">
          {notice}
        </p>
      )}
      <QueryView query={order} what="the order">
        {(o) =>
          o ? (
            <>
              <OrderSummary order={o} />
              <div className="actions">
                <a className="button" href={traceLink(zipkinUrl, o.orderId)} target="_blank" rel="noreferrer">
                  Open its trace in Zipkin
                </a>
                <button
                  type="button"
                  disabled={!CANCELLABLE.has(o.status)}
                  onClick={() => setDialog("cancel")}
                >
                  Cancel order…
                </button>
                <button
                  type="button"
                  disabled={!REFUNDABLE.has(o.status)}
                  onClick={() => setDialog("refund")}
                >
                  Refund payment…
                </button>
              </div>
            </>
          ) : (
            <Empty>No such order.</Empty>
          )
        }
      </QueryView>
      <Saga clients={clients} orderId={orderId} />
      <div className="columns">
        <Payment clients={clients} paymentId={current?.paymentId ?? ""} />
        <Shipment clients={clients} shipmentId={current?.shipmentId ?? ""} />
      </div>
      <Notifications clients={clients} orderId={orderId} />
      {dialog === "cancel" && (
        <ConfirmDialog
          title="Cancel this order?"
          confirmLabel="Cancel the order"
          reasonLabel="Reason (recorded with the cancellation)"
          onClose={() => setDialog(undefined)}
          onConfirm={async (reason) => {
            await clients.orders.cancelOrder({ orderId, reason });
            setNotice("Cancellation requested: the saga compensates what was done.");
            order.reload();
          }}
        >
          <p>The saga releases the stock, refunds the payment and cancels the shipment that exist so far.</p>
        </ConfirmDialog>
      )}
      {dialog === "refund" && (
        <RefundDialog
          onClose={() => setDialog(undefined)}
          onRefund={async (reason, key) => {
            const answer = await clients.payments.refund({ idempotencyKey: key, orderId, reason });
            setNotice(
              answer.refunded ? "Payment refunded in full." : "Nothing was refunded (already refunded).",
            );
            order.reload();
          }}
        />
      )}
    </section>
  );
}

/** One key per opened dialog: a repeated click or retry of the same refund refunds once. */
function RefundDialog({
  onClose,
  onRefund,
}: {
  onClose: () => void;
  onRefund: (reason: string, key: string) => Promise<void>;
}) {
  const [key] = useState(() => `console-refund-${crypto.randomUUID()}`);
  return (
    <ConfirmDialog
      title="Refund this order's payment?"
      confirmLabel="Refund in full"
      reasonLabel="Reason (recorded with the refund)"
      onClose={onClose}
      onConfirm={(reason) => onRefund(reason, key)}
    >
      <p>The whole captured amount goes back to the customer and the order becomes REFUNDED.</p>
    </ConfirmDialog>
  );
}

function OrderSummary({ order }: { order: Order }) {
  return (
    <dl className="facts">
      <dt>Status</dt>
      <dd>
        <span
          className={`status status-${OrderStatus[order.status]?.toLowerCase()}`}
          data-testid="order-status"
        >
          {OrderStatus[order.status] ?? order.status}
        </span>
        {order.failureCode !== FailureCode.UNSPECIFIED && ` (${enumWords(FailureCode, order.failureCode)})`}
      </dd>
      {order.failureReason && (
        <>
          <dt>Reason</dt>
          <dd>{order.failureReason}</dd>
        </>
      )}
      <dt>Customer</dt>
      <dd>
        <code>{order.customerId}</code>, {order.customerEmail}
      </dd>
      <dt>Total</dt>
      <dd>{formatMoney(order.total)}</dd>
      <dt>Lines</dt>
      <dd>
        <ul>
          {order.lines.map((line, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: lines have no id of their own and never reorder.
            <li key={i}>
              {line.quantity} × {line.sku} at {formatMoney(line.unitPrice)}
            </li>
          ))}
        </ul>
      </dd>
      <dt>Ship to</dt>
      <dd>
        {[
          order.shippingAddress?.recipientName,
          order.shippingAddress?.line1,
          order.shippingAddress?.postalCode,
          order.shippingAddress?.city,
          order.shippingAddress?.countryCode,
        ]
          .filter(Boolean)
          .join(", ")}
      </dd>
      <dt>Placed</dt>
      <dd>{formatTime(order.createdAt)}</dd>
      <dt>Last change</dt>
      <dd>{formatTime(order.updatedAt)}</dd>
    </dl>
  );
}

function stepTime(step: SagaStep): string {
  return formatTime(step.completedAt ?? step.failedAt ?? step.startedAt ?? step.scheduledAt);
}

function Saga({ clients, orderId }: { clients: Clients; orderId: string }) {
  const saga = useQuery(
    (signal) => notFoundIsEmpty(clients.saga.getSaga({ orderId }, { signal })),
    [orderId],
    2_000,
  );
  return (
    <section aria-labelledby="saga-title">
      <h2 id="saga-title">Saga</h2>
      <QueryView query={saga} what="the saga">
        {(answer) =>
          !answer ? (
            <Empty>No workflow exists for this order yet.</Empty>
          ) : (
            <>
              <p>
                Workflow <code>{answer.workflowId}</code>: {enumWords(RunStatus, answer.runStatus)}
                {answer.status &&
                  `, at step “${answer.status.step}”${answer.status.outcome ? `, outcome ${answer.status.outcome}` : ""}`}
                {answer.status?.failureReason && ` (${answer.status.failureReason})`}
                {answer.status && answer.status.compensated.length > 0 && (
                  <> · compensated: {answer.status.compensated.join(", ")}</>
                )}
              </p>
              {answer.steps.length === 0 ? (
                <Empty>No step has been scheduled yet.</Empty>
              ) : (
                <ol className="timeline" aria-label="Saga steps">
                  {answer.steps.map((step, i) => (
                    <li
                      // biome-ignore lint/suspicious/noArrayIndexKey: a step may repeat; its place in the history is its identity.
                      key={i}
                      className={`step step-${StepState[step.state]?.toLowerCase()}${step.compensation ? " compensation" : ""}`}
                    >
                      <strong>{step.activity}</strong> {enumWords(StepState, step.state)}
                      {step.compensation && " (compensation)"} · attempt {step.attempt} · {stepTime(step)}
                      {step.failureMessage && <div className="failure">{step.failureMessage}</div>}
                    </li>
                  ))}
                </ol>
              )}
            </>
          )
        }
      </QueryView>
    </section>
  );
}

function Payment({ clients, paymentId }: { clients: Clients; paymentId: string }) {
  const payment = useQuery(
    async (signal) =>
      paymentId ? (await clients.payments.getPayment({ paymentId }, { signal })).payment : undefined,
    [paymentId],
    // A refund (by ops or the saga) changes it while the page is open.
    5_000,
  );
  return (
    <section aria-labelledby="payment-title">
      <h2 id="payment-title">Payment</h2>
      <QueryView query={payment} what="the payment">
        {(p) =>
          !p ? (
            <Empty>No payment yet.</Empty>
          ) : (
            <dl className="facts">
              <dt>Payment</dt>
              <dd>
                <code>{p.paymentId}</code>
              </dd>
              <dt>Status</dt>
              <dd>{enumWords(PaymentStatus, p.status)}</dd>
              <dt>Amount</dt>
              <dd>{formatMoney(p.amount)}</dd>
              <dt>Provider reference</dt>
              <dd>{p.providerReference || "–"}</dd>
              {p.declineReason && (
                <>
                  <dt>Declined</dt>
                  <dd>{p.declineReason}</dd>
                </>
              )}
              {p.refundId && (
                <>
                  <dt>Refund</dt>
                  <dd>
                    <code>{p.refundId}</code>
                  </dd>
                </>
              )}
            </dl>
          )
        }
      </QueryView>
    </section>
  );
}

function Shipment({ clients, shipmentId }: { clients: Clients; shipmentId: string }) {
  const shipment = useQuery(
    async (signal) =>
      shipmentId ? (await clients.shipping.getShipment({ shipmentId }, { signal })).shipment : undefined,
    [shipmentId],
    // Delivery or a cancellation changes it while the page is open.
    5_000,
  );
  return (
    <section aria-labelledby="shipment-title">
      <h2 id="shipment-title">Shipment</h2>
      <QueryView query={shipment} what="the shipment">
        {(s) =>
          !s ? (
            <Empty>No shipment yet.</Empty>
          ) : (
            <dl className="facts">
              <dt>Shipment</dt>
              <dd>
                <code>{s.shipmentId}</code>
              </dd>
              <dt>Status</dt>
              <dd>{enumWords(ShipmentStatus, s.status)}</dd>
              <dt>Carrier</dt>
              <dd>
                {s.carrier}, tracking {s.trackingNumber}
              </dd>
              <dt>Booked</dt>
              <dd>{formatTime(s.createdAt)}</dd>
            </dl>
          )
        }
      </QueryView>
    </section>
  );
}

function Notifications({ clients, orderId }: { clients: Clients; orderId: string }) {
  const deliveries = useQuery(
    async (signal) => (await clients.notifications.listDeliveries({ orderId }, { signal })).deliveries,
    [orderId],
    5_000,
  );
  return (
    <section aria-labelledby="notifications-title">
      <h2 id="notifications-title">Notifications</h2>
      <QueryView query={deliveries} what="the notifications">
        {(list) =>
          list.length === 0 ? (
            <Empty>No email or webhook delivery about this order yet.</Empty>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Channel</th>
                  <th scope="col">Status</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Last error</th>
                  <th scope="col">Subscription</th>
                </tr>
              </thead>
              <tbody>
                {list.map((d) => (
                  <tr key={d.deliveryId}>
                    <td>{enumWords(Channel, d.channel)}</td>
                    <td>{enumWords(DeliveryStatus, d.status)}</td>
                    <td>{d.attempts}</td>
                    <td>{d.lastError || "–"}</td>
                    <td>{d.subscriptionId ? <code>{d.subscriptionId}</code> : "–"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </QueryView>
    </section>
  );
}
