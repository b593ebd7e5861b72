import { z } from "zod";
import { databaseUrl, infraEnv, loadConfig, portSchema } from "#lib/host/config.ts";
import { parseSeedStock } from "./domain/reservation.ts";

const schema = z.object({
  ...infraEnv,
  INVENTORY_HOST: z.string().default("127.0.0.1"),
  INVENTORY_PORT: portSchema.default(8082),
  INVENTORY_DATABASE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/)
    .default("accord_inventory"),
  INVENTORY_DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(20),
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

export type InventoryConfig = z.infer<typeof schema> & { databaseUrl: string };

export function loadInventoryConfig(env: Record<string, string | undefined> = process.env): InventoryConfig {
  const cfg = loadConfig(schema, env);
  return { ...cfg, databaseUrl: databaseUrl(cfg, cfg.INVENTORY_DATABASE) };
}
