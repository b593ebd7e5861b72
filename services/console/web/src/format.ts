import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Money } from "#gen/accord/common/v1/common_pb.js";

/** Money in minor units, in its currency's own number of decimals. */
export function formatMoney(money: Money | undefined): string {
  if (!money) return "–";
  try {
    const format = new Intl.NumberFormat("en", { style: "currency", currency: money.currencyCode });
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    const scale = 10n ** BigInt(digits);
    const minor = money.amountMinor;
    const sign = minor < 0n ? "-" : "";
    const abs = minor < 0n ? -minor : minor;
    const whole = abs / scale;
    const fraction = (abs % scale).toString().padStart(digits, "0");
    const text = digits > 0 ? `${whole}.${fraction}` : `${whole}`;
    return format.format(Number(`${sign}${text}`));
  } catch {
    return `${money.amountMinor} (minor units) ${money.currencyCode}`;
  }
}

/** A timestamp as local date and time, or a dash when unset. */
export function formatTime(ts: Timestamp | undefined): string {
  if (!ts) return "–";
  return timestampDate(ts).toLocaleString("en-GB", { hour12: false });
}

/** How long ago, briefly ("4 s ago", "3 min ago"). */
export function ago(ts: Timestamp | undefined, now = Date.now()): string {
  if (!ts) return "";
  const seconds = Math.max(0, Math.round((now - timestampDate(ts).getTime()) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86_400)} d ago`;
}

/** An enum value's name without its prefix, in words ("PAYMENT_DECLINED" → "payment declined"). */
export function enumWords(names: Record<number, string>, value: number): string {
  const name = names[value];
  return name ? name.toLowerCase().replace(/_/g, " ") : `unknown (${value})`;
}

/** What a failed call says to the person: the Connect code and the service's message. */
export function describeError(error: unknown): string {
  const e = ConnectError.from(error);
  const code = Code[e.code] ?? String(e.code);
  const words = code.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
  return e.rawMessage ? `${words}: ${e.rawMessage}` : words;
}

/** The Connect code of a failed call. */
export function errorCode(error: unknown): Code {
  return ConnectError.from(error).code;
}
