import { readFileSync } from "node:fs";
import { z } from "zod";
import { type Env, loadServiceConfig, serviceEnv } from "#lib/host/config.ts";
import { type DemoSeed, parseDemoSeed } from "./domain/seed.ts";

const NO_SEED: DemoSeed = { products: [], stock: new Map() };

const schema = z.object({
  ...serviceEnv("CATALOG", 8087, "accord_catalog"),
  // A demo seed file (infra/demo/catalog.json): its products are created at
  // start when their SKU does not exist yet. Empty: no seeding. Read and
  // checked here, so a bad file stops the process naming this variable.
  CATALOG_SEED_FILE: z
    .string()
    .default("")
    .transform((file, ctx) => {
      if (file.trim() === "") return NO_SEED;
      try {
        return parseDemoSeed(readFileSync(file, "utf8"));
      } catch (error) {
        ctx.addIssue({ code: "custom", message: `${file}: ${(error as Error).message}` });
        return z.NEVER;
      }
    }),
});

export type CatalogConfig = ReturnType<typeof loadCatalogConfig>;

export function loadCatalogConfig(env: Env = process.env) {
  return loadServiceConfig(schema, env, "CATALOG");
}
