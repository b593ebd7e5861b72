import { randomBytes, randomUUID } from "node:crypto";
import type http from "node:http";
import type { Logger } from "#lib/observability/logger.ts";

/**
 * A simulated external carrier ("accord-express"): plain HTTP + JSON, honours
 * Idempotency-Key, and can be made slow, flaky or down at start (env) or at
 * runtime (POST /admin/behaviour). Everything lives in memory: a restart
 * forgets every booking, like a sandbox account being reset.
 */

export const CARRIER_NAME = "accord-express";
/** Destinations the carrier does not serve: a business refusal (422) to test against. */
export const UNSERVED_COUNTRIES: ReadonlySet<string> = new Set(["AQ"]);
const MAX_BODY_BYTES = 64 * 1024;

export interface Behaviour {
  /** Added before every faultable request is handled. */
  latencyMs: number;
  /** Share (0..1) of faultable requests answered 500 without any effect. */
  errorRate: number;
  /** While true, faultable requests are answered 503 at once. */
  outage: boolean;
}

export interface CarrierAddress {
  recipient_name: string;
  line1: string;
  line2: string;
  city: string;
  region: string;
  postal_code: string;
  country_code: string;
}

export interface CarrierItem {
  sku: string;
  quantity: number;
}

export interface BookingRequest {
  reference: string;
  address: CarrierAddress;
  items: CarrierItem[];
}

export interface Booking {
  shipment_ref: string;
  tracking_number: string;
  carrier: typeof CARRIER_NAME;
  reference: string;
  status: "booked" | "cancelled";
  address: CarrierAddress;
  items: CarrierItem[];
  created_at: string;
  cancelled_at?: string;
}

export interface CarrierStats {
  createRequests: number;
  cancelRequests: number;
  bookings: number;
  cancellations: number;
}

export interface CarrierApp {
  /** The carrier's HTTP API; the service host serves it beside /healthz, /readyz and /metrics. */
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  behaviour: Behaviour;
  stats: CarrierStats;
}

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field?: string;
  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export function createCarrierApp(options: { behaviour: Behaviour; logger: Logger; random?: () => number }) {
  const { logger } = options;
  const random = options.random ?? Math.random;
  const behaviour: Behaviour = { ...options.behaviour };
  const stats: CarrierStats = { createRequests: 0, cancelRequests: 0, bookings: 0, cancellations: 0 };
  const byRef = new Map<string, Booking>();
  // Idempotency-Key -> what was asked (canonical JSON) and what was answered.
  const byKey = new Map<string, { fingerprint: string; ref: string }>();

  /** Applies the configured faults; resolves when the request may proceed. */
  async function faults(): Promise<void> {
    if (behaviour.outage) throw new HttpError(503, "outage", "carrier is down for maintenance");
    if (behaviour.latencyMs > 0) await sleep(behaviour.latencyMs);
    // Read again after the delay: an outage may have started meanwhile.
    if (behaviour.outage) throw new HttpError(503, "outage", "carrier is down for maintenance");
    if (behaviour.errorRate > 0 && random() < behaviour.errorRate) {
      throw new HttpError(500, "internal", "simulated carrier failure");
    }
  }

  async function createShipment(req: http.IncomingMessage): Promise<[number, unknown]> {
    stats.createRequests += 1;
    const key = headerOf(req, "idempotency-key");
    if (!key) throw new HttpError(400, "missing_idempotency_key", "Idempotency-Key header is required");
    if (key.length > 255) throw new HttpError(400, "invalid_idempotency_key", "Idempotency-Key is too long");
    const booking = validateBooking(await readJson(req));
    await faults();
    if (UNSERVED_COUNTRIES.has(booking.address.country_code)) {
      throw new HttpError(
        422,
        "destination_not_served",
        `address.country_code: no service to ${booking.address.country_code}`,
        "address.country_code",
      );
    }
    const fingerprint = JSON.stringify(booking);
    const earlier = byKey.get(key);
    if (earlier) {
      if (earlier.fingerprint !== fingerprint) {
        throw new HttpError(409, "idempotency_key_reused", "Idempotency-Key was used with a different body");
      }
      return [201, byRef.get(earlier.ref)];
    }
    const shipment: Booking = {
      shipment_ref: `shp_${randomUUID().replaceAll("-", "")}`,
      tracking_number: `AX${randomBytes(5).toString("hex").toUpperCase()}`,
      carrier: CARRIER_NAME,
      reference: booking.reference,
      status: "booked",
      address: booking.address,
      items: booking.items,
      created_at: new Date().toISOString(),
    };
    byRef.set(shipment.shipment_ref, shipment);
    byKey.set(key, { fingerprint, ref: shipment.shipment_ref });
    stats.bookings += 1;
    logger.info({ ref: shipment.shipment_ref, reference: shipment.reference }, "shipment booked");
    return [201, shipment];
  }

  async function cancelShipment(ref: string): Promise<[number, unknown]> {
    stats.cancelRequests += 1;
    await faults();
    const shipment = byRef.get(ref);
    if (!shipment) throw new HttpError(404, "not_found", `no shipment ${ref}`);
    // Cancelling twice is harmless and answers the same.
    if (shipment.status !== "cancelled") {
      shipment.status = "cancelled";
      shipment.cancelled_at = new Date().toISOString();
      stats.cancellations += 1;
      logger.info({ ref }, "shipment cancelled");
    }
    return [200, shipment];
  }

  async function route(req: http.IncomingMessage): Promise<[number, unknown]> {
    const url = new URL(req.url ?? "/", "http://carrier.invalid");
    const path = url.pathname;
    const method = req.method ?? "GET";

    if (path === "/admin/behaviour") {
      if (method === "POST") Object.assign(behaviour, validateBehaviour(await readJson(req)));
      else if (method !== "GET") throw new HttpError(405, "method_not_allowed", "use GET or POST");
      logger.info({ behaviour }, "behaviour");
      return [200, behaviour];
    }
    if (path === "/admin/stats" && method === "GET") return [200, stats];

    if (path === "/v1/shipments") {
      if (method === "POST") return createShipment(req);
      // Inspection (tests, operators): not subject to faults.
      if (method === "GET") {
        const reference = url.searchParams.get("reference");
        const list = [...byRef.values()].filter((s) => reference === null || s.reference === reference);
        return [200, { shipments: list }];
      }
      throw new HttpError(405, "method_not_allowed", "use GET or POST");
    }
    const cancel = /^\/v1\/shipments\/([^/]+)\/cancel$/.exec(path);
    if (cancel?.[1] && method === "POST") return cancelShipment(decodeURIComponent(cancel[1]));
    const one = /^\/v1\/shipments\/([^/]+)$/.exec(path);
    if (one?.[1] && method === "GET") {
      await faults();
      const shipment = byRef.get(decodeURIComponent(one[1]));
      if (!shipment) throw new HttpError(404, "not_found", `no shipment ${one[1]}`);
      return [200, shipment];
    }
    throw new HttpError(404, "not_found", `no route ${method} ${path}`);
  }

  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    route(req).then(
      ([status, body]) => send(res, status, body),
      (error: unknown) => {
        if (error instanceof HttpError) {
          send(res, error.status, { error: error.code, message: error.message, field: error.field });
        } else {
          logger.error({ err: error }, "carrier request failed");
          send(res, 500, { error: "internal", message: "unexpected error" });
        }
      },
    );
  };
  return { handle, behaviour, stats };
}

function send(res: http.ServerResponse, status: number, body: unknown) {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function headerOf(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text?.trim() || undefined;
}

function sleep(ms: number) {
  return new Promise<void>((resolve) => setTimeout(resolve, ms));
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, "too_large", "request body is too large");
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid_json", "request body is not JSON");
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Checks a booking request and returns it in canonical form (fixed key order, defaults filled). */
export function validateBooking(body: unknown): BookingRequest {
  const invalid = (field: string, message: string) =>
    new HttpError(422, "invalid_request", `${field}: ${message}`, field);
  if (!isObject(body)) throw invalid("(body)", "must be a JSON object");
  const text = (value: unknown, field: string, required: boolean): string => {
    if (value === undefined || value === null || value === "") {
      if (required) throw invalid(field, "is required");
      return "";
    }
    if (typeof value !== "string") throw invalid(field, "must be a string");
    if (value.length > 200) throw invalid(field, "must be at most 200 characters");
    return value;
  };
  const reference = text(body.reference, "reference", true);
  const a = body.address;
  if (!isObject(a)) throw invalid("address", "is required");
  const address: CarrierAddress = {
    recipient_name: text(a.recipient_name, "address.recipient_name", false),
    line1: text(a.line1, "address.line1", true),
    line2: text(a.line2, "address.line2", false),
    city: text(a.city, "address.city", true),
    region: text(a.region, "address.region", false),
    postal_code: text(a.postal_code, "address.postal_code", true),
    country_code: text(a.country_code, "address.country_code", true),
  };
  if (!/^[A-Z]{2}$/.test(address.country_code)) {
    throw invalid("address.country_code", "must be an ISO 3166-1 alpha-2 code");
  }
  if (!Array.isArray(body.items) || body.items.length === 0) throw invalid("items", "must not be empty");
  if (body.items.length > 100) throw invalid("items", "must have at most 100 entries");
  const items = body.items.map((item: unknown, i: number): CarrierItem => {
    if (!isObject(item)) throw invalid(`items[${i}]`, "must be an object");
    const quantity = item.quantity;
    if (typeof quantity !== "number" || !Number.isInteger(quantity) || quantity < 1) {
      throw invalid(`items[${i}].quantity`, "must be a positive integer");
    }
    return { sku: text(item.sku, `items[${i}].sku`, true), quantity };
  });
  return { reference, address, items };
}

function validateBehaviour(body: unknown): Partial<Behaviour> {
  const invalid = (field: string, message: string) =>
    new HttpError(400, "invalid_request", `${field}: ${message}`, field);
  if (!isObject(body)) throw invalid("(body)", "must be a JSON object");
  const out: Partial<Behaviour> = {};
  if (body.latencyMs !== undefined) {
    const v = body.latencyMs;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 600_000) {
      throw invalid("latencyMs", "must be an integer between 0 and 600000");
    }
    out.latencyMs = v;
  }
  if (body.errorRate !== undefined) {
    const v = body.errorRate;
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) throw invalid("errorRate", "must be between 0 and 1");
    out.errorRate = v;
  }
  if (body.outage !== undefined) {
    if (typeof body.outage !== "boolean") throw invalid("outage", "must be a boolean");
    out.outage = body.outage;
  }
  return out;
}
