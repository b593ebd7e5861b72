import type { Money } from "#gen/accord/common/v1/common_pb.js";
import {
  OrderCancelledSchema,
  OrderConfirmedSchema,
  OrderFailedSchema,
  OrderRefundedSchema,
} from "#gen/accord/orders/v1/events_pb.js";
import { FailureCode } from "#gen/accord/orders/v1/orders_pb.js";
import { type DecodedEvent, isEventOf } from "#lib/messaging/events.ts";

/** The event types that send the customer an email. */
export const EMAIL_EVENT_TYPES: readonly string[] = [
  OrderConfirmedSchema.typeName,
  OrderFailedSchema.typeName,
  OrderCancelledSchema.typeName,
  OrderRefundedSchema.typeName,
];

export interface EmailContent {
  to: string;
  subject: string;
  text: string;
}

/**
 * The customer email an event calls for, or undefined when its type sends
 * none. Pure: the same event always gives the same email.
 *
 * Only fixed text and values the platform generated (ids, amounts) go in:
 * an event's free-text reason never does. A cancel reason is whatever the
 * caller of CancelOrder typed, and a failure reason can carry it or an
 * internal error's text; copied into a mail from Accord it would let anyone
 * put their own words (a link, a "call this number") in front of a customer.
 */
export function emailFor(event: DecodedEvent): EmailContent | undefined {
  if (isEventOf(event, OrderConfirmedSchema)) {
    const m = event.message;
    const total = m.total ? formatMoney(m.total) : undefined;
    return {
      to: m.customerEmail,
      subject: `Your order ${m.orderId} is confirmed`,
      text: lines(
        "Hello,",
        "",
        `your order ${m.orderId} is confirmed and on its way.`,
        total ? `Amount charged: ${total}.` : undefined,
        m.shipmentId ? `Shipment: ${m.shipmentId}.` : undefined,
        "",
        "Thank you for shopping with Accord.",
      ),
    };
  }
  if (isEventOf(event, OrderFailedSchema)) {
    const m = event.message;
    return {
      to: m.customerEmail,
      subject: `We could not complete your order ${m.orderId}`,
      text: lines(
        "Hello,",
        "",
        `we are sorry: your order ${m.orderId} could not be completed (${failureText(m.failureCode)}).`,
        "Nothing was charged, or any charge has been refunded.",
        "",
        "The Accord team",
      ),
    };
  }
  if (isEventOf(event, OrderCancelledSchema)) {
    const m = event.message;
    return {
      to: m.customerEmail,
      subject: `Your order ${m.orderId} is cancelled`,
      text: lines(
        "Hello,",
        "",
        `your order ${m.orderId} has been cancelled.`,
        "Any charge has been refunded.",
        "",
        "The Accord team",
      ),
    };
  }
  if (isEventOf(event, OrderRefundedSchema)) {
    // An operator's reason stays out, like every other free text.
    const m = event.message;
    const amount = m.amount ? formatMoney(m.amount) : undefined;
    return {
      to: m.customerEmail,
      subject: `Your payment for order ${m.orderId} was refunded`,
      text: lines(
        "Hello,",
        "",
        `your payment for order ${m.orderId} was refunded.`,
        amount ? `Amount refunded: ${amount}.` : undefined,
        "It may take a few days to show on your statement.",
        "",
        "The Accord team",
      ),
    };
  }
  return undefined;
}

function lines(...parts: (string | undefined)[]): string {
  return `${parts.filter((p) => p !== undefined).join("\n")}\n`;
}

function failureText(code: FailureCode): string {
  switch (code) {
    case FailureCode.OUT_OF_STOCK:
      return "an item is out of stock";
    case FailureCode.PAYMENT_DECLINED:
      return "the payment was declined";
    case FailureCode.SHIPPING_FAILED:
      return "the shipment could not be created";
    default:
      return "an unexpected problem";
  }
}

/**
 * Minor units to a display amount, e.g. 1999 EUR -> "19.99 EUR", 500 JPY ->
 * "500 JPY". The number of decimals comes from ISO 4217 via Intl; bigint
 * arithmetic, so no float rounding ever touches the amount.
 */
export function formatMoney(money: Money): string {
  const digits = currencyDigits(money.currencyCode);
  const negative = money.amountMinor < 0n;
  const abs = negative ? -money.amountMinor : money.amountMinor;
  const scale = 10n ** BigInt(digits);
  const whole = (abs / scale).toString();
  const fraction = digits > 0 ? `.${(abs % scale).toString().padStart(digits, "0")}` : "";
  return `${negative ? "-" : ""}${whole}${fraction} ${money.currencyCode}`;
}

function currencyDigits(code: string): number {
  try {
    return (
      new Intl.NumberFormat("en", { style: "currency", currency: code }).resolvedOptions()
        .maximumFractionDigits ?? 2
    );
  } catch {
    // Not a currency Intl knows: the common case.
    return 2;
  }
}
