import { CatalogService } from "#gen/accord/catalog/v1/catalog_pb.js";
import { runService } from "#lib/host/service-host.ts";
import { catalogAuthorization } from "./authorization.ts";
import { createCatalogService } from "./catalog-service.ts";
import { loadCatalogConfig } from "./config.ts";
import { seedProducts } from "./db/catalog-repo.ts";

// The catalog service: products and their prices per currency, the only source
// of prices checkout charges. It publishes no events, so it has no outbox.
await runService({
  name: "catalog",
  loadConfig: loadCatalogConfig,
  listen: (config) => ({ host: config.CATALOG_HOST, port: config.CATALOG_PORT }),
  async compose(host, config) {
    const pool = await host.database(config.database, new URL("../migrations", import.meta.url));
    const seeded = await seedProducts(pool, config.CATALOG_SEED_FILE.products);
    if (seeded.length) host.logger.info({ seeded }, "demo products seeded");

    host.serve(CatalogService, createCatalogService({ pool, logger: host.logger }), catalogAuthorization);
  },
});
