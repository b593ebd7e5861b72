import { CarrierFailedError, CarrierRejectedError } from "./domain/carrier-errors.ts";
import type { toCarrierBooking } from "./domain/shipment.ts";

/** What the carrier answers for a booking. */
export interface CarrierBooking {
  shipmentRef: string;
  trackingNumber: string;
  carrier: string;
  status: string;
}

export interface CarrierClient {
  /** Books (or, for a key seen before, finds) a shipment. The key goes to the carrier as Idempotency-Key. */
  book(signal: AbortSignal, key: string, body: ReturnType<typeof toCarrierBooking>): Promise<CarrierBooking>;
  /** Cancels a booking; cancelling twice is harmless at the carrier. */
  cancel(signal: AbortSignal, shipmentRef: string, key: string): Promise<CarrierBooking>;
}

/** HTTP client of the carrier API. Each call takes the breaker's per-call AbortSignal. */
export function createCarrierClient(baseUrl: string): CarrierClient {
  const base = baseUrl.replace(/\/+$/, "");

  async function post(
    signal: AbortSignal,
    path: string,
    key: string,
    body: unknown,
  ): Promise<CarrierBooking> {
    const res = await fetch(`${base}${path}`, {
      method: "POST",
      signal,
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // handled below by status and shape checks
    }
    // 408 and 429 say "try again later": transient, not a business refusal.
    if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
      const reason = typeof parsed.message === "string" ? parsed.message : `HTTP ${res.status}`;
      throw new CarrierRejectedError(res.status, reason.slice(0, 300));
    }
    if (!res.ok) throw new CarrierFailedError(res.status, `HTTP ${res.status}`);
    const { shipment_ref, tracking_number, carrier, status } = parsed;
    if (
      typeof shipment_ref !== "string" ||
      typeof tracking_number !== "string" ||
      typeof carrier !== "string"
    ) {
      throw new CarrierFailedError(res.status, "answer without shipment_ref, tracking_number or carrier");
    }
    return {
      shipmentRef: shipment_ref,
      trackingNumber: tracking_number,
      carrier,
      status: typeof status === "string" ? status : "",
    };
  }

  return {
    book: (signal, key, body) => post(signal, "/v1/shipments", key, body),
    cancel: (signal, shipmentRef, key) =>
      post(signal, `/v1/shipments/${encodeURIComponent(shipmentRef)}/cancel`, key, {}),
  };
}
