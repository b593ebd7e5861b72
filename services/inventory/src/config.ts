import { z } from "zod";
import { type Env, loadServiceConfig, serviceEnv, topicName } from "#lib/host/config.ts";
import { topicFor } from "#lib/messaging/events.ts";
import { parseSeedStock } from "./domain/reservation.ts";

const schema = (env: Env) =>
  z.object({
    ...serviceEnv("INVENTORY", 8082, "accord_inventory"),
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

export type InventoryConfig = ReturnType<typeof loadInventoryConfig>;

export function loadInventoryConfig(env: Env = process.env) {
  return loadServiceConfig(schema(env), env, "INVENTORY");
}
