// Webhooks as the real broker defines them: the events, the request template
// and the records of a webhook firing. Pure data and validation; SQL is in
// store.ts, the HTTP request in execute.ts.

/** The real broker's event names; the official CLI's create-webhook flags map to them one to one. */
export const WEBHOOK_EVENTS = [
  "contract_content_changed",
  "contract_published",
  "contract_requiring_verification_published",
  "provider_verification_published",
  "provider_verification_succeeded",
  "provider_verification_failed",
] as const;

export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];

/** The event a webhook fires on when it names none (the real broker's default). */
export const DEFAULT_EVENT: WebhookEventName = "contract_content_changed";

export function isWebhookEvent(name: string): name is WebhookEventName {
  return (WEBHOOK_EVENTS as readonly string[]).includes(name);
}

export interface WebhookRequestTemplate {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** A string is sent as it is; anything else as JSON. */
  body?: unknown;
  username?: string;
  password?: string;
}

export interface WebhookInput {
  description?: string;
  consumerName?: string;
  providerName?: string;
  enabled: boolean;
  events: WebhookEventName[];
  request: WebhookRequestTemplate;
}

export interface Webhook extends WebhookInput {
  uuid: string;
  consumerId: number | null;
  providerId: number | null;
  createdAt: Date;
  updatedAt: Date;
}

export type TriggerType = "resource_creation" | "user";
export type TriggeredStatus = "not_run" | "retrying" | "success" | "failure";

/** One firing of a webhook, with the template parameters fixed when it fired. */
export interface TriggeredWebhook {
  uuid: string;
  webhookUuid: string;
  triggerType: TriggerType;
  eventName: string;
  status: TriggeredStatus;
  consumerId: number | null;
  providerId: number | null;
  consumerVersionId: number | null;
  pactVersionId: number | null;
  verificationId: number | null;
  parameters: Record<string, string>;
  attemptsMade: number;
  nextAttemptAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface WebhookExecution {
  id: number;
  triggeredWebhookUuid: string;
  success: boolean;
  logs: string;
  createdAt: Date;
}

/** What the event processing decides: one triggered webhook to create. */
export interface NewTrigger {
  webhookUuid: string;
  eventName: WebhookEventName | "test";
  triggerType: TriggerType;
  consumerId: number | null;
  providerId: number | null;
  consumerVersionId: number | null;
  pactVersionId: number | null;
  verificationId: number | null;
  parameters: Record<string, string>;
}

/** Field -> messages, the shape the official clients print for a 400. */
export type FieldErrors = Record<string, string[]>;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Reads a webhook from a create/update body. Headers may be an object (the
 * real broker's shape) or a list of "Name: value" strings (what the Rust CLI's
 * create-webhook sends). Returns the webhook or the errors, by field.
 */
export function parseWebhookInput(raw: unknown): { input: WebhookInput } | { errors: FieldErrors } {
  const errors: FieldErrors = {};
  const fail = (field: string, message: string) => {
    errors[field] = [...(errors[field] ?? []), message];
  };
  if (!isRecord(raw)) return { errors: { body: ["must be a JSON object"] } };

  const optionalString = (v: unknown, field: string): string | undefined => {
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v !== "string") fail(field, "must be a string");
    return typeof v === "string" ? v : undefined;
  };
  const pacticipantName = (v: unknown, field: string): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!isRecord(v)) {
      fail(field, "must be an object with a name");
      return undefined;
    }
    if (v.label !== undefined) fail(`${field}.label`, "labels are not supported by this broker");
    return optionalString(v.name, `${field}.name`);
  };

  const description = optionalString(raw.description, "description");
  const consumerName = pacticipantName(raw.consumer, "consumer");
  const providerName = pacticipantName(raw.provider, "provider");
  if (raw.enabled !== undefined && typeof raw.enabled !== "boolean") fail("enabled", "must be true or false");

  let events: WebhookEventName[] = [DEFAULT_EVENT];
  if (raw.events !== undefined) {
    if (!Array.isArray(raw.events) || raw.events.length === 0) {
      fail("events", "must be a non-empty list of { name }");
    } else {
      events = [];
      raw.events.forEach((e, i) => {
        const name = isRecord(e) ? e.name : undefined;
        if (typeof name !== "string" || !isWebhookEvent(name))
          fail(`events[${i}].name`, `must be one of ${WEBHOOK_EVENTS.join(", ")}`);
        else if (!events.includes(name)) events.push(name);
      });
    }
  }

  const request = raw.request;
  let template: WebhookRequestTemplate | undefined;
  if (!isRecord(request)) {
    fail("request", "is required");
  } else {
    const method = optionalString(request.method, "request.method");
    const url = optionalString(request.url, "request.url");
    if (!method) fail("request.method", "is required");
    if (!url) fail("request.url", "is required");
    else if (!URL.canParse(url.replace(/\$\{[^}]*\}/g, "placeholder")))
      fail("request.url", "is not a valid URL");
    const headers = parseHeaders(request.headers, fail);
    const username = optionalString(request.username, "request.username");
    const password = optionalString(request.password, "request.password");
    template = {
      method: (method ?? "").toUpperCase(),
      url: url ?? "",
      headers,
      ...(request.body === undefined || request.body === null ? {} : { body: request.body }),
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
    };
  }

  if (Object.keys(errors).length > 0 || !template) return { errors };
  return {
    input: {
      ...(description === undefined ? {} : { description }),
      ...(consumerName === undefined ? {} : { consumerName }),
      ...(providerName === undefined ? {} : { providerName }),
      enabled: raw.enabled !== false,
      events,
      request: template,
    },
  };
}

function parseHeaders(raw: unknown, fail: (field: string, message: string) => void): Record<string, string> {
  const headers: Record<string, string> = {};
  if (raw === undefined || raw === null) return headers;
  if (Array.isArray(raw)) {
    raw.forEach((line, i) => {
      const at = typeof line === "string" ? line.indexOf(":") : -1;
      if (typeof line !== "string" || at <= 0) {
        fail(`request.headers[${i}]`, 'must be "Name: value"');
        return;
      }
      headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    });
    return headers;
  }
  if (!isRecord(raw)) {
    fail("request.headers", "must be an object of names to values");
    return headers;
  }
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value !== "string") fail(`request.headers.${name}`, "must be a string");
    else headers[name] = value;
  }
  return headers;
}

/** How the real broker names a webhook that has no description: "POST example.org". */
export function requestDescription(request: WebhookRequestTemplate): string {
  let host = "";
  try {
    host = new URL(request.url.replace(/\$\{[^}]*\}/g, "placeholder")).hostname;
  } catch {
    host = request.url;
  }
  return `${request.method} ${host}`;
}
