import { create } from "@bufbuild/protobuf";
import { ReservationStatus, type Stock, StockSchema } from "#gen/accord/inventory/v1/inventory_pb.js";
import type { Pool, PoolClient } from "#lib/db.ts";
import type { PlannedItem } from "../domain/reservation.ts";

type Db = Pool | PoolClient;

interface StockRow {
  sku: string;
  available: bigint;
  reserved: bigint;
}

export interface ReservationRecord {
  reservationId: string;
  orderId: string;
  idempotencyKey: string;
  requestHash: string;
  status: ReservationStatus;
  releaseKey: string | null;
  items: PlannedItem[];
}

interface ReservationRow {
  reservation_id: string;
  order_id: string;
  idempotency_key: string;
  request_hash: string;
  status: string;
  release_key: string | null;
  items: PlannedItem[];
}

const SELECT_RESERVATION = `
  SELECT r.reservation_id, r.order_id, r.idempotency_key, r.request_hash, r.status, r.release_key,
         COALESCE((SELECT json_agg(json_build_object('sku', i.sku, 'quantity', i.quantity) ORDER BY i.sku)
                     FROM reservation_items i WHERE i.reservation_id = r.reservation_id), '[]') AS items
    FROM reservations r`;

export async function getStock(db: Db, sku: string): Promise<Stock | undefined> {
  const { rows } = await db.query<StockRow>("SELECT sku, available, reserved FROM stock WHERE sku = $1", [
    sku,
  ]);
  return rows[0] ? toStock(rows[0]) : undefined;
}

/** Creates the SKU or replaces its available units; reserved units are left as they are. */
export async function setStock(db: Db, sku: string, available: bigint): Promise<Stock> {
  const { rows } = await db.query<StockRow>(
    `INSERT INTO stock (sku, available) VALUES ($1, $2)
     ON CONFLICT (sku) DO UPDATE SET available = EXCLUDED.available, updated_at = now()
     RETURNING sku, available, reserved`,
    [sku, available.toString()],
  );
  const row = rows[0];
  if (!row) throw new Error("upsert returned no row");
  return toStock(row);
}

/** Creates the SKUs that do not exist yet; existing stock is never overwritten. Returns the created SKUs. */
export async function seedStock(db: Db, seed: ReadonlyMap<string, bigint>): Promise<string[]> {
  if (seed.size === 0) return [];
  const { rows } = await db.query<{ sku: string }>(
    `INSERT INTO stock (sku, available)
     SELECT * FROM unnest($1::text[], $2::bigint[])
     ON CONFLICT (sku) DO NOTHING
     RETURNING sku`,
    [[...seed.keys()], [...seed.values()].map(String)],
  );
  return rows.map((r) => r.sku);
}

/**
 * Inserts the reservation header unless its idempotency key or its order
 * already has one (the two unique constraints). A concurrent insert of the
 * same key waits here for the other transaction, so a replay never races
 * past the first call. Returns false on conflict.
 */
export async function insertReservation(
  client: PoolClient,
  reservationId: string,
  orderId: string,
  idempotencyKey: string,
  requestHash: string,
): Promise<boolean> {
  const result = await client.query(
    `INSERT INTO reservations (reservation_id, order_id, idempotency_key, request_hash, status)
     VALUES ($1, $2, $3, $4, 'RESERVED')
     ON CONFLICT DO NOTHING`,
    [reservationId, orderId, idempotencyKey, requestHash],
  );
  return result.rowCount === 1;
}

/**
 * Takes the units of every item, in the plan's SKU order. Each UPDATE only
 * succeeds while enough units remain, so stock can never go negative however
 * many reservations run at once. Unlike a loop that stops at the first short
 * SKU, this goes through every item so the refusal can name all of them;
 * the caller rolls back when any is short. Returns the short SKUs (unknown
 * SKUs included).
 */
export async function takeStock(client: PoolClient, items: readonly PlannedItem[]): Promise<string[]> {
  const short: string[] = [];
  for (const item of items) {
    const result = await client.query(
      `UPDATE stock
          SET available = available - $2, reserved = reserved + $2, updated_at = now()
        WHERE sku = $1 AND available >= $2`,
      [item.sku, item.quantity],
    );
    if (result.rowCount !== 1) short.push(item.sku);
  }
  return short;
}

export async function insertReservationItems(
  client: PoolClient,
  reservationId: string,
  items: readonly PlannedItem[],
): Promise<void> {
  await client.query(
    `INSERT INTO reservation_items (reservation_id, sku, quantity)
     SELECT $1, sku, quantity FROM unnest($2::text[], $3::int[]) AS t(sku, quantity)`,
    [reservationId, items.map((i) => i.sku), items.map((i) => i.quantity)],
  );
}

/** Gives the units back, in SKU order (the same lock order as takeStock). */
export async function returnStock(client: PoolClient, items: readonly PlannedItem[]): Promise<void> {
  for (const item of items) {
    const result = await client.query(
      `UPDATE stock
          SET available = available + $2, reserved = reserved - $2, updated_at = now()
        WHERE sku = $1`,
      [item.sku, item.quantity],
    );
    // reservation_items references stock, so the row exists; anything else is a broken invariant.
    if (result.rowCount !== 1) throw new Error(`stock row ${item.sku} of a reservation is missing`);
  }
}

export async function findReservationByKey(db: Db, key: string): Promise<ReservationRecord | undefined> {
  const { rows } = await db.query<ReservationRow>(`${SELECT_RESERVATION} WHERE r.idempotency_key = $1`, [
    key,
  ]);
  return rows[0] ? toRecord(rows[0]) : undefined;
}

export async function findReservationByReleaseKey(
  db: Db,
  key: string,
): Promise<ReservationRecord | undefined> {
  const { rows } = await db.query<ReservationRow>(`${SELECT_RESERVATION} WHERE r.release_key = $1`, [key]);
  return rows[0] ? toRecord(rows[0]) : undefined;
}

export async function findReservationByOrder(
  db: Db,
  orderId: string,
): Promise<ReservationRecord | undefined> {
  const { rows } = await db.query<ReservationRow>(`${SELECT_RESERVATION} WHERE r.order_id = $1`, [orderId]);
  return rows[0] ? toRecord(rows[0]) : undefined;
}

/** Locks the order's reservation row for the rest of the transaction (serializes Releases of one order). */
export async function lockReservationByOrder(
  client: PoolClient,
  orderId: string,
): Promise<ReservationRecord | undefined> {
  const locked = await client.query("SELECT 1 FROM reservations WHERE order_id = $1 FOR UPDATE", [orderId]);
  if (locked.rowCount === 0) return undefined;
  return findReservationByOrder(client, orderId);
}

export async function markReleased(
  client: PoolClient,
  reservationId: string,
  releaseKey: string,
  reason: string,
): Promise<void> {
  await client.query(
    `UPDATE reservations
        SET status = 'RELEASED', release_key = $2, release_reason = $3, released_at = now()
      WHERE reservation_id = $1 AND status = 'RESERVED'`,
    [reservationId, releaseKey, reason],
  );
}

function toStock(row: StockRow): Stock {
  return create(StockSchema, { sku: row.sku, available: row.available, reserved: row.reserved });
}

function toRecord(row: ReservationRow): ReservationRecord {
  return {
    reservationId: row.reservation_id,
    orderId: row.order_id,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    status: row.status === "RELEASED" ? ReservationStatus.RELEASED : ReservationStatus.RESERVED,
    releaseKey: row.release_key,
    items: row.items,
  };
}
