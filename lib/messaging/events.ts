import {
  createRegistry,
  type DescMessage,
  fromBinary,
  type MessageShape,
  type Registry,
  toBinary,
} from "@bufbuild/protobuf";
import { v7 as uuidv7 } from "uuid";
import { file_accord_inventory_v1_events } from "#gen/accord/inventory/v1/events_pb.js";
import { file_accord_orders_v1_events } from "#gen/accord/orders/v1/events_pb.js";
import { file_accord_payments_v1_events } from "#gen/accord/payments/v1/events_pb.js";
import { file_accord_shipping_v1_events } from "#gen/accord/shipping/v1/events_pb.js";
import { validTraceparent } from "../observability/request-context.ts";

/**
 * The event envelope: a protobuf message in the Kafka value (binary), its
 * CloudEvents attributes in Kafka headers (CloudEvents Kafka binding, binary
 * mode). Pure: no I/O here, so producers, consumers and tests share one codec.
 */

export const CE_SPECVERSION = "1.0";
export const PROTOBUF_CONTENT_TYPE = "application/protobuf";

export const HEADER = {
  id: "ce_id",
  type: "ce_type",
  source: "ce_source",
  time: "ce_time",
  specversion: "ce_specversion",
  contentType: "content-type",
  traceparent: "traceparent",
} as const;

// ---------------------------------------------------------------- topics

export const EVENT_DOMAINS = ["orders", "inventory", "payments", "shipping"] as const;
export type EventDomain = (typeof EVENT_DOMAINS)[number];

/**
 * The Kafka topic of a domain: "<domain>.events". ACCORD_TOPIC_PREFIX (empty
 * by default) lets a second copy of the platform, such as the end-to-end
 * tests' own, share a broker with the running one without reading its events.
 */
export function topicFor<D extends EventDomain>(
  domain: D,
  env: Record<string, string | undefined> = process.env,
): string {
  return `${env.ACCORD_TOPIC_PREFIX ?? ""}${domain}.events`;
}

export function dlqTopicFor<T extends string>(topic: T): `${T}.dlq` {
  return `${topic}.dlq`;
}

/** ce_source of the events a domain publishes, e.g. "/accord/orders". */
export function sourceFor(domain: EventDomain): string {
  return `/accord/${domain}`;
}

export const EVENT_TOPICS: readonly string[] = EVENT_DOMAINS.map((d) => topicFor(d));
export const ALL_TOPICS: readonly string[] = [...EVENT_TOPICS, ...EVENT_TOPICS.map((t) => dlqTopicFor(t))];

// ---------------------------------------------------------------- registry

/**
 * Every event message of every domain. Built from the events files only (not
 * their imports), so a consumer never accepts e.g. accord.orders.v1.Order as
 * an event; a message added to an events.proto is picked up by regeneration.
 */
export const eventRegistry: Registry = createRegistry(
  file_accord_orders_v1_events,
  file_accord_inventory_v1_events,
  file_accord_payments_v1_events,
  file_accord_shipping_v1_events,
);

// ---------------------------------------------------------------- headers

/** Header values as kafkajs delivers them. */
export type RawHeaderValue = Buffer | string | (Buffer | string)[] | undefined;
export type RawHeaders = Record<string, RawHeaderValue>;

/**
 * Flattens kafkajs headers to strings. A repeated header keeps its last value,
 * as Kafka's own Headers.lastHeader() does; absent values are dropped.
 */
export function normalizeHeaders(headers: RawHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(headers ?? {})) {
    const value = Array.isArray(raw) ? raw.at(-1) : raw;
    if (value !== undefined) out[name] = value.toString();
  }
  return out;
}

// W3C asks to ignore a malformed traceparent, so validTraceparent drops it, never fatal.

// ---------------------------------------------------------------- encode

export interface EncodeOptions {
  /** ce_source, e.g. sourceFor("orders"). */
  source: string;
  /** Kafka key; per-key ordering, so the aggregate id (e.g. order id). */
  key: string;
  /** ce_id; a fresh UUIDv7 unless given (the outbox passes its stored id so retries keep it). */
  id?: string;
  time?: Date;
  traceparent?: string;
}

export interface EncodedEvent {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

export function encodeEvent<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  options: EncodeOptions,
): EncodedEvent {
  // toBinary with the wrong schema would silently write mislabelled bytes.
  if (message.$typeName !== schema.typeName) {
    throw new TypeError(`encodeEvent: message is ${message.$typeName}, schema is ${schema.typeName}`);
  }
  const headers: Record<string, string> = {
    [HEADER.id]: options.id ?? uuidv7(),
    [HEADER.type]: schema.typeName,
    [HEADER.source]: options.source,
    [HEADER.time]: (options.time ?? new Date()).toISOString(),
    [HEADER.specversion]: CE_SPECVERSION,
    [HEADER.contentType]: PROTOBUF_CONTENT_TYPE,
  };
  const traceparent = validTraceparent(options.traceparent);
  if (traceparent) headers[HEADER.traceparent] = traceparent;
  const bytes = toBinary(schema, message);
  return { key: options.key, value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), headers };
}

// ---------------------------------------------------------------- decode

export type PoisonReason =
  | "missing_header"
  | "unsupported_specversion"
  | "wrong_content_type"
  | "unknown_type"
  | "undecodable"
  | "invalid_time"
  /** A handler found the event itself unprocessable (not a transient failure). */
  | "rejected";

/**
 * An event that can never be processed, however often it is retried. The
 * consumer routes it to <topic>.dlq and goes on; handlers throw it (reason
 * "rejected") for events that are well-formed but unacceptable.
 */
export class PoisonEventError extends Error {
  override name = "PoisonEventError";
  readonly reason: PoisonReason;
  constructor(reason: PoisonReason, detail: string, options?: { cause?: unknown }) {
    super(`${reason}: ${detail}`, options);
    this.reason = reason;
  }
}

export interface DecodedEvent<Desc extends DescMessage = DescMessage> {
  id: string;
  type: string;
  source: string;
  /** RFC 3339, as sent (a Date would truncate sub-millisecond precision). */
  time: string;
  traceparent?: string;
  message: MessageShape<Desc>;
  schema: Desc;
}

export interface RawEvent {
  value: Buffer | null;
  headers?: RawHeaders | undefined;
}

const REQUIRED = [HEADER.id, HEADER.type, HEADER.source, HEADER.time, HEADER.specversion, HEADER.contentType];

/** Validates the envelope and decodes the message; throws PoisonEventError when it cannot. */
export function decodeEvent(registry: Registry, raw: RawEvent): DecodedEvent {
  const headers = normalizeHeaders(raw.headers);
  for (const name of REQUIRED) {
    if (!headers[name]) throw new PoisonEventError("missing_header", `header ${name} is missing or empty`);
  }
  // Checked above; the casts only tell the compiler.
  const get = (name: string) => headers[name] as string;

  const specversion = get(HEADER.specversion);
  if (specversion !== CE_SPECVERSION) {
    throw new PoisonEventError("unsupported_specversion", `ce_specversion ${specversion}, expected 1.0`);
  }
  // Media types compare case-insensitively and may carry parameters.
  const contentType = get(HEADER.contentType);
  if (contentType.split(";")[0]?.trim().toLowerCase() !== PROTOBUF_CONTENT_TYPE) {
    throw new PoisonEventError(
      "wrong_content_type",
      `content-type ${contentType}, expected ${PROTOBUF_CONTENT_TYPE}`,
    );
  }
  const time = get(HEADER.time);
  if (Number.isNaN(Date.parse(time))) {
    throw new PoisonEventError("invalid_time", `ce_time ${time} is not an RFC 3339 timestamp`);
  }
  const type = get(HEADER.type);
  const schema = registry.getMessage(type);
  if (!schema) throw new PoisonEventError("unknown_type", `ce_type ${type} is not a known event`);
  if (raw.value === null) throw new PoisonEventError("undecodable", "the message has no value (tombstone)");

  let message: MessageShape<DescMessage>;
  try {
    message = fromBinary(schema, raw.value);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new PoisonEventError("undecodable", `value is not a valid ${type}: ${why}`, { cause: error });
  }
  const event: DecodedEvent = { id: get(HEADER.id), type, source: get(HEADER.source), time, message, schema };
  const traceparent = validTraceparent(headers[HEADER.traceparent]);
  if (traceparent) event.traceparent = traceparent;
  return event;
}

/** Narrows a decoded event to one message type, e.g. isEventOf(event, OrderPlacedSchema). */
export function isEventOf<Desc extends DescMessage>(
  event: DecodedEvent,
  schema: Desc,
): event is DecodedEvent<Desc> {
  return event.type === schema.typeName;
}
