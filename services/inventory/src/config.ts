import { z } from "zod";
import {
  databaseEnv,
  databaseUrl,
  type Env,
  infraEnv,
  listenEnv,
  loadConfig,
  topicName,
} from "#lib/host/config.ts";
import { topicFor } from "#lib/messaging/events.ts";
import { parseSeedStock } from "./domain/reservation.ts";

const schema = (env: Env) =>
  z.object({
    ...infraEnv,
    ...listenEnv("INVENTORY", 8082),
    ...databaseEnv("INVENTORY", "accord_inventory"),
    INVENTORY_EVENTS_TOPIC: topicName.default(topicFor("inventory", env)),
    // "BOOK-001=100,MUG-042=50": created at start when the SKU does not exist yet (demo seeding).
    INVENTORY_SEED_STOCK: z
      .string()
      .default("")
      .transform((text, ctx) => {
        try {
          return parseSeedStock(text);
        } catch (error) {
          ctx.addIssue({ code: "custom", message: (error as Error).message });
          return z.NEVER;
        }
      }),
  });

export type InventoryConfig = z.infer<ReturnType<typeof schema>> & { databaseUrl: string };

export function loadInventoryConfig(env: Env = process.env): InventoryConfig {
  const cfg = loadConfig(schema(env), env);
  return { ...cfg, databaseUrl: databaseUrl(cfg, cfg.INVENTORY_DATABASE) };
}
