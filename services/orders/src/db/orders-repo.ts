import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AddressSchema } from "#gen/accord/common/v1/common_pb.js";
import { FailureCode, type Order, OrderSchema, OrderStatus } from "#gen/accord/orders/v1/orders_pb.js";
import type { OwnerScope } from "#lib/auth/principal.ts";
import type { Pool, PoolClient } from "#lib/db.ts";
import type { OrderDraft } from "../domain/place-order.ts";

interface OrderRow {
  order_id: string;
  customer_id: string;
  customer_email: string;
  currency_code: string;
  total_minor: bigint;
  shipping_address: Record<string, string>;
  status: string;
  failure_code: string | null;
  failure_reason: string | null;
  payment_id: string | null;
  shipment_id: string | null;
  request_hash: string;
  created_at: Date;
  updated_at: Date;
  lines: { sku: string; quantity: number; unit_price_minor: string | number }[];
}

const SELECT_ORDER = `
  SELECT o.*,
         COALESCE((SELECT json_agg(json_build_object('sku', l.sku, 'quantity', l.quantity,
                                                     'unit_price_minor', l.unit_price_minor::text)
                                   ORDER BY l.line_no)
                   FROM order_lines l WHERE l.order_id = o.order_id), '[]') AS lines
  FROM orders o`;

/**
 * Inserts the order, its lines and its first status unless the idempotency
 * key is taken, and returns the order as stored; undefined when the key
 * exists, so the caller can compare fingerprints. One statement, prepared
 * once per connection: PlaceOrder's transaction is then this and the outbox
 * row, the same two round trips as the bench's floor (four with BEGIN and
 * COMMIT, where it used to take seven with a read-back).
 */
export async function insertOrder(
  client: PoolClient,
  orderId: string,
  draft: OrderDraft,
  idempotencyKey: string,
  requestHash: string,
): Promise<Order | undefined> {
  // The lines reference the order inserted by the same statement: foreign
  // keys are checked when the whole statement has run.
  const result = await client.query<Omit<OrderRow, "lines">>({
    name: "orders-insert-order",
    text: `WITH placed AS (
             INSERT INTO orders (order_id, customer_id, customer_email, currency_code, total_minor,
                                 shipping_address, status, idempotency_key, request_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (customer_id, idempotency_key) DO NOTHING
             RETURNING *),
           lines AS (
             INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_minor)
             SELECT placed.order_id, n, sku, quantity, price
             FROM placed, unnest($10::text[], $11::int[], $12::bigint[]) WITH ORDINALITY AS t(sku, quantity, price, n)),
           history AS (
             INSERT INTO order_status_history (order_id, status)
             SELECT order_id, status FROM placed)
           SELECT * FROM placed`,
    values: [
      orderId,
      draft.customerId,
      draft.customerEmail,
      draft.currencyCode,
      draft.totalMinor.toString(),
      JSON.stringify(draft.shippingAddress),
      OrderStatus[OrderStatus.PENDING],
      idempotencyKey,
      requestHash,
      draft.lines.map((l) => l.sku),
      draft.lines.map((l) => l.quantity),
      draft.lines.map((l) => l.unitPriceMinor.toString()),
    ],
  });
  const row = result.rows[0];
  if (!row) return undefined;
  return rowToOrder({
    ...row,
    lines: draft.lines.map((l) => ({
      sku: l.sku,
      quantity: l.quantity,
      unit_price_minor: l.unitPriceMinor.toString(),
    })),
  });
}

/** The order a customer placed under their idempotency key (keys are per customer). */
export async function findByIdempotencyKey(
  db: Pool | PoolClient,
  customerId: string,
  key: string,
): Promise<{ order: Order; requestHash: string } | undefined> {
  const result = await db.query<OrderRow>(
    `${SELECT_ORDER} WHERE o.customer_id = $1 AND o.idempotency_key = $2`,
    [customerId, key],
  );
  const row = result.rows[0];
  return row ? { order: rowToOrder(row), requestHash: row.request_hash } : undefined;
}

/**
 * The order, if it exists and `scope` may see it: another owner's order is
 * not read at all, so it answers exactly as a missing one.
 */
export async function getOrder(
  db: Pool | PoolClient,
  orderId: string,
  scope: OwnerScope = { all: true },
): Promise<Order | undefined> {
  const result = scope.all
    ? await db.query<OrderRow>(`${SELECT_ORDER} WHERE o.order_id = $1`, [orderId])
    : await db.query<OrderRow>(`${SELECT_ORDER} WHERE o.order_id = $1 AND o.customer_id = $2`, [
        orderId,
        scope.ownerId,
      ]);
  const row = result.rows[0];
  return row ? rowToOrder(row) : undefined;
}

export interface ListCursor {
  createdAt: string;
  orderId: string;
}

/** Keyset paging, newest first: stable while new orders arrive. */
export async function listOrders(
  db: Pool,
  filter: { customerId?: string; status?: OrderStatus; limit: number; after?: ListCursor },
): Promise<{ orders: Order[]; next?: ListCursor }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.customerId) {
    params.push(filter.customerId);
    where.push(`o.customer_id = $${params.length}`);
  }
  if (filter.status) {
    params.push(OrderStatus[filter.status]);
    where.push(`o.status = $${params.length}`);
  }
  if (filter.after) {
    params.push(filter.after.createdAt, filter.after.orderId);
    where.push(`(o.created_at, o.order_id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(filter.limit + 1);
  const sql = `${SELECT_ORDER} ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
               ORDER BY o.created_at DESC, o.order_id DESC LIMIT $${params.length}`;
  const rows = (await db.query<OrderRow>(sql, params)).rows;
  const page = rows.slice(0, filter.limit);
  const last = page.at(-1);
  return {
    orders: page.map(rowToOrder),
    next:
      rows.length > filter.limit && last
        ? { createdAt: last.created_at.toISOString(), orderId: last.order_id }
        : undefined,
  };
}

function rowToOrder(row: OrderRow): Order {
  const currency = row.currency_code;
  return create(OrderSchema, {
    orderId: row.order_id,
    customerId: row.customer_id,
    customerEmail: row.customer_email,
    lines: row.lines.map((l) => ({
      sku: l.sku,
      quantity: l.quantity,
      unitPrice: { currencyCode: currency, amountMinor: BigInt(l.unit_price_minor) },
    })),
    total: { currencyCode: currency, amountMinor: row.total_minor },
    shippingAddress: create(AddressSchema, row.shipping_address),
    status: OrderStatus[row.status as keyof typeof OrderStatus] ?? OrderStatus.UNSPECIFIED,
    failureCode: row.failure_code
      ? (FailureCode[row.failure_code as keyof typeof FailureCode] ?? FailureCode.OTHER)
      : FailureCode.UNSPECIFIED,
    failureReason: row.failure_reason ?? "",
    paymentId: row.payment_id ?? "",
    shipmentId: row.shipment_id ?? "",
    createdAt: timestampFromDate(row.created_at),
    updatedAt: timestampFromDate(row.updated_at),
  });
}

/**
 * Locks the order row for a status change; undefined when it does not exist
 * or `scope` may not see it (another owner's row is not locked either).
 */
export async function lockOrderStatus(
  client: PoolClient,
  orderId: string,
  scope: OwnerScope,
): Promise<OrderStatus | undefined> {
  const result = scope.all
    ? await client.query<{ status: string }>("SELECT status FROM orders WHERE order_id = $1 FOR UPDATE", [
        orderId,
      ])
    : await client.query<{ status: string }>(
        "SELECT status FROM orders WHERE order_id = $1 AND customer_id = $2 FOR UPDATE",
        [orderId, scope.ownerId],
      );
  const row = result.rows[0];
  return row ? (OrderStatus[row.status as keyof typeof OrderStatus] ?? OrderStatus.UNSPECIFIED) : undefined;
}

export interface StatusChange {
  status: OrderStatus;
  reason?: string;
  failureCode?: FailureCode;
  paymentId?: string;
  shipmentId?: string;
}

/** Writes a new status (and the fields that come with it) plus its history row. */
export async function updateOrderStatus(
  client: PoolClient,
  orderId: string,
  change: StatusChange,
): Promise<void> {
  await client.query(
    `UPDATE orders
        SET status = $2,
            failure_code = COALESCE($3, failure_code),
            failure_reason = COALESCE($4, failure_reason),
            payment_id = COALESCE($5, payment_id),
            shipment_id = COALESCE($6, shipment_id),
            updated_at = now()
      WHERE order_id = $1`,
    [
      orderId,
      OrderStatus[change.status],
      change.failureCode ? FailureCode[change.failureCode] : null,
      change.reason ?? null,
      change.paymentId ?? null,
      change.shipmentId ?? null,
    ],
  );
  await client.query("INSERT INTO order_status_history (order_id, status, reason) VALUES ($1, $2, $3)", [
    orderId,
    OrderStatus[change.status],
    change.reason ?? null,
  ]);
}
