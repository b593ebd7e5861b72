import { trace } from "@opentelemetry/api";
import { type DestinationStream, type Logger, pino } from "pino";
import { currentContext } from "./request-context.ts";

export type { Logger };

/**
 * Structured JSON logs, one line per event. What may identify a person or
 * open a door (emails, postal addresses, tokens, secrets) is masked here
 * once, for every service, at any depth of what is logged (redactForLog).
 */
export function createLogger(
  service: string,
  level = process.env.LOG_LEVEL ?? "info",
  destination?: DestinationStream,
): Logger {
  const options = {
    name: service,
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Correlation id and order id of the request or event being handled, and
    // the active span's trace_id and span_id (to open the line's trace in Zipkin), if any.
    mixin: () => {
      const context = currentContext();
      const ids = activeTraceIds();
      if (!context) return ids ?? {};
      const fields: Record<string, string> = { correlationId: context.correlationId };
      if (context.orderId) fields.orderId = context.orderId;
      return ids ? Object.assign(fields, ids) : fields;
    },
    formatters: {
      // The logged object, errors included (serialized here).
      log: (object: Record<string, unknown>) => redactForLog(object) as Record<string, unknown>,
    },
    serializers: {
      // The message, after its %s arguments were put in.
      msg: (message: unknown) => (typeof message === "string" ? redactString(message) : message),
      // Errors were serialized (and masked) by the log formatter already.
      err: (error: unknown) => error,
    },
  };
  const logger = destination ? pino(options, destination) : pino(options);
  // Pino does not pass a child's bindings through formatters.bindings, so
  // they are masked on the way in; children inherit this method from the root.
  const child = logger.child;
  logger.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, redactForLog(bindings) as typeof bindings, childOptions);
  } as Logger["child"];
  return logger;
}

const REDACTED = "[redacted]";
/** How deep, how many keys per object, items per array and characters per string are looked at; the rest is cut. */
export const REDACTION_BOUNDS = { depth: 8, keys: 200, items: 100, chars: 16 * 1024 };

/** Keys whose value is a secret whatever it looks like (compared lower-case, without - and _). */
const SECRET_KEY =
  /(password|passwd|passphrase|secret|token|authorization|cookie|apikey|credentials?|connectionstring|privatekey)s?$/;
/** Keys that hold (part of) a postal address or a way to reach a person. */
const ADDRESS_KEYS = new Set([
  "address",
  "shippingaddress",
  "billingaddress",
  "postaladdress",
  "streetaddress",
  "deliveryaddress",
  "line1",
  "line2",
  "line3",
  "addressline1",
  "addressline2",
  "street",
  "postalcode",
  "postcode",
  "zip",
  "zipcode",
  "recipientname",
  "phone",
  "phonenumber",
]);

/**
 * What is masked inside any string: bearer and basic credentials, JWTs
 * (three or five base64url parts starting with a JSON header), passwords in
 * URLs, secret-looking query or form parameters, and email addresses.
 */
const STRING_PATTERNS: readonly [RegExp, string | ((...m: string[]) => string)][] = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/gi, (_m, scheme) => `${scheme} ${REDACTED}`],
  [/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?/g, "[jwt]"],
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s@/]*@/gi, (_m, head) => `${head}:${REDACTED}@`],
  [
    /([?&\s]|^)((?:client_)?secret|password|passwd|(?:access_|refresh_|id_)?token|api_?key)=[^&\s]*/gi,
    (_m, lead, key) => `${lead}${key}=${REDACTED}`,
  ],
  [/[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g, "[email]"],
];
// One cheap test first: most strings hold none of these and are returned as they are.
const MAYBE_SENSITIVE = /@|eyJ|bearer|basic|=/i;

/** A string with every pattern above masked, cut at REDACTION_BOUNDS.chars. */
export function redactString(text: string): string {
  let out =
    text.length > REDACTION_BOUNDS.chars
      ? `${text.slice(0, REDACTION_BOUNDS.chars)}…[${text.length - REDACTION_BOUNDS.chars} more chars]`
      : text;
  if (!MAYBE_SENSITIVE.test(out)) return out;
  for (const [pattern, replacement] of STRING_PATTERNS) out = out.replace(pattern, replacement as string);
  return out;
}

/**
 * A copy of `value` fit for a log line: secrets and address fields masked by
 * key, tokens and emails by pattern in every string, errors serialized with
 * their cause chain, to a bounded depth and size (deeper or further content
 * is cut, never logged unmasked). Parts with nothing to mask are reused as
 * they are, so the cost is one walk over what is logged.
 */
export function redactForLog(value: unknown): unknown {
  return walk(value, 0, new WeakSet());
}

function walk(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === "string") return redactString(value);
  if (value === null || typeof value !== "object") return value;
  if (seen.has(value)) return "[circular]";
  if (depth >= REDACTION_BOUNDS.depth) return "[too deep]";
  if (value instanceof Error) {
    seen.add(value);
    return walk(pino.stdSerializers.err(value), depth, seen);
  }
  if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (value instanceof Date) return value;
  seen.add(value);
  if (Array.isArray(value)) {
    let changed = value.length > REDACTION_BOUNDS.items;
    const items = value.slice(0, REDACTION_BOUNDS.items).map((item) => {
      const out = walk(item, depth + 1, seen);
      if (out !== item) changed = true;
      return out;
    });
    if (value.length > REDACTION_BOUNDS.items)
      items.push(`[${value.length - REDACTION_BOUNDS.items} more items]`);
    return changed ? items : value;
  }
  let changed = false;
  const out: Record<string, unknown> = {};
  let count = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (count === REDACTION_BOUNDS.keys) {
      out["[more keys]"] = true;
      changed = true;
      break;
    }
    count += 1;
    const item = (value as Record<string, unknown>)[key];
    const masked = maskedByKey(key, item) ? REDACTED : walk(item, depth + 1, seen);
    if (masked !== item) changed = true;
    out[key] = masked;
  }
  return changed ? out : value;
}

function maskedByKey(key: string, item: unknown): boolean {
  if (item === undefined || item === null || item === "") return false;
  const name = key.toLowerCase().replace(/[-_]/g, "");
  if (SECRET_KEY.test(name)) return true;
  if (!ADDRESS_KEYS.has(name)) return false;
  // A socket error's `address` is the peer's IP or host name, which operators need.
  return !(name === "address" && typeof item === "string" && !/[\s,]/.test(item));
}

/** Trace and span id of the active span (none while tracing is off or outside a span). */
function activeTraceIds(): { trace_id: string; span_id: string } | undefined {
  const ids = trace.getActiveSpan()?.spanContext();
  if (!ids || !trace.isSpanContextValid(ids)) return undefined;
  return { trace_id: ids.traceId, span_id: ids.spanId };
}
