import { z } from "zod";
import { loadConfig, portSchema } from "#lib/host/config.ts";

const schema = z.object({
  SMTP_SINK_HOST: z.string().default("127.0.0.1"),
  SMTP_SINK_PORT: portSchema.default(2525),
  SMTP_SINK_HTTP_PORT: portSchema.default(8093),
  // Oldest messages are dropped beyond this, so a long local run cannot exhaust memory.
  SMTP_SINK_MAX_MESSAGES: z.coerce.number().int().min(1).max(100_000).default(1000),
  SMTP_SINK_MAX_SIZE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(100 * 1024 * 1024)
    .default(10 * 1024 * 1024),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type SmtpSinkConfig = z.infer<typeof schema>;

export function loadSmtpSinkConfig(env: Record<string, string | undefined> = process.env): SmtpSinkConfig {
  return loadConfig(schema, env);
}
