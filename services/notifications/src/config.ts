import { z } from "zod";
import { type Env, loadServiceConfig, portSchema, serviceEnv, topicName } from "#lib/host/config.ts";
import { topicFor } from "#lib/messaging/events.ts";

/** "a,b,c" to a non-empty list. */
const commaList = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((t) => t.trim())
      .filter((t) => t !== ""),
  )
  .refine((list) => list.length > 0, "must list at least one entry");
const topicList = commaList.refine(
  (list) => list.every((t) => topicName.safeParse(t).success),
  "must be a comma-separated list of Kafka topic names",
);

const delayList = z
  .string()
  .transform((s) => s.split(",").map((t) => Number(t.trim())))
  .refine(
    (list) => list.length > 0 && list.every((n) => Number.isSafeInteger(n) && n > 0),
    "must be a comma-separated list of positive integers (milliseconds)",
  );

const schema = (env: Env) =>
  z.object({
    ...serviceEnv("NOTIFICATIONS", 8085, "accord_notifications"),
    // The domain topics whose events become emails, webhooks and analytics tasks.
    NOTIFICATIONS_TOPICS: topicList.prefault(
      [topicFor("orders", env), topicFor("payments", env), topicFor("shipping", env)].join(","),
    ),
    // "<ACCORD_TOPIC_PREFIX>notifications" by default, so a prefixed copy of the platform
    // (end-to-end tests) never joins the running platform's consumer group.
    NOTIFICATIONS_CONSUMER_GROUP: z
      .string()
      .min(1)
      .default(`${env.ACCORD_TOPIC_PREFIX ?? ""}notifications`),
    // Tests isolate their exchanges and queues under a prefix; the platform uses none.
    NOTIFICATIONS_RABBIT_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9._-]*$/)
      .default(""),
    NOTIFICATIONS_RETRY_DELAYS_MS: delayList.prefault("5000,25000,125000"),
    NOTIFICATIONS_PREFETCH: z.coerce.number().int().min(1).max(1000).default(10),
    NOTIFICATIONS_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(1).max(120_000).default(5000),
    // Development only (scripts/services.sh, tests with receivers on this machine): plain http, and
    // loopback addresses. Off, webhooks go over https to public addresses only.
    NOTIFICATIONS_WEBHOOK_ALLOW_LOOPBACK_HTTP: z
      .enum(["true", "false"])
      .default("false")
      .transform((v) => v === "true"),
    NOTIFICATIONS_WEBHOOK_MAX_IN_FLIGHT_PER_SUBSCRIPTION: z.coerce.number().int().min(1).max(100).default(4),
    NOTIFICATIONS_WEBHOOK_MAX_RESPONSE_BYTES: z.coerce.number().int().min(0).max(1_048_576).default(65_536),
    NOTIFICATIONS_MAX_SUBSCRIPTIONS_PER_OWNER: z.coerce.number().int().min(1).max(10_000).default(20),
    // How long a rotated-out secret still signs deliveries, unless RotateWebhookSecret says otherwise.
    NOTIFICATIONS_SECRET_OVERLAP_SECONDS: z.coerce.number().int().min(0).max(604_800).default(86_400),
    // 32 bytes, base64: seals the webhook signing secrets at rest. Required: no default here; the
    // development key is set by scripts/services.sh and the test platforms.
    NOTIFICATIONS_SECRET_KEY: z
      .string({ error: "is required (32 bytes, base64: openssl rand -base64 32)" })
      .refine((v) => Buffer.from(v.trim(), "base64").length === 32, "must be 32 bytes, base64-encoded"),
    SMTP_HOST: z.string().min(1).default("127.0.0.1"),
    SMTP_PORT: portSchema.default(2525),
    SMTP_FROM: z.string().min(3).default("Accord <no-reply@accord.local>"),
    SMTP_USER: z.string().optional(),
    SMTP_PASSWORD: z.string().optional(),
  });

export type NotificationsConfig = ReturnType<typeof loadNotificationsConfig>;

export function loadNotificationsConfig(env: Env = process.env) {
  return loadServiceConfig(schema(env), env, "NOTIFICATIONS");
}
