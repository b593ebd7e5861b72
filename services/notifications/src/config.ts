import { z } from "zod";
import { databaseUrl, infraEnv, loadConfig, portSchema } from "#lib/host/config.ts";
import { topicFor } from "#lib/messaging/events.ts";

// topicFor applies ACCORD_TOPIC_PREFIX, like every other service.
const DEFAULT_TOPICS = [topicFor("orders"), topicFor("payments"), topicFor("shipping")].join(",");

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

const delayList = z
  .string()
  .transform((s) => s.split(",").map((t) => Number(t.trim())))
  .refine(
    (list) => list.length > 0 && list.every((n) => Number.isSafeInteger(n) && n > 0),
    "must be a comma-separated list of positive integers (milliseconds)",
  );

const schema = z.object({
  ...infraEnv,
  NOTIFICATIONS_HOST: z.string().default("127.0.0.1"),
  NOTIFICATIONS_PORT: portSchema.default(8085),
  NOTIFICATIONS_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .default("accord_notifications"),
  NOTIFICATIONS_DB_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(20),
  NOTIFICATIONS_TOPICS: commaList.prefault(DEFAULT_TOPICS),
  // Default: "<ACCORD_TOPIC_PREFIX>notifications", so a prefixed copy of the platform
  // (end-to-end tests) never joins the running platform's consumer group.
  NOTIFICATIONS_CONSUMER_GROUP: z.string().min(1).optional(),
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

export type NotificationsConfig = z.infer<typeof schema> & {
  databaseUrl: string;
  NOTIFICATIONS_CONSUMER_GROUP: string;
};

export function loadNotificationsConfig(
  env: Record<string, string | undefined> = process.env,
): NotificationsConfig {
  const cfg = loadConfig(schema, env);
  return {
    ...cfg,
    NOTIFICATIONS_CONSUMER_GROUP:
      cfg.NOTIFICATIONS_CONSUMER_GROUP ?? `${env.ACCORD_TOPIC_PREFIX ?? ""}notifications`,
    databaseUrl: databaseUrl(cfg, cfg.NOTIFICATIONS_DATABASE),
  };
}
