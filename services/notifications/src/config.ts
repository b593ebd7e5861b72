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
