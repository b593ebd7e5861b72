// Prepares what the services need before they start: one database per service
// with its migrations applied, and every Kafka topic. Idempotent.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { createPool, ensureDatabase, migrate } from "#lib/db.ts";
import { databaseUrl, infraEnv, loadConfig } from "#lib/host/config.ts";
import { ALL_TOPICS } from "#lib/messaging/events.ts";
import { createKafka, ensureTopics, parseBrokers, toolKafkaAuth } from "#lib/messaging/kafka.ts";

const SERVICE_DATABASES: Record<string, string> = {
  catalog: "accord_catalog",
  orders: "accord_orders",
  inventory: "accord_inventory",
  payments: "accord_payments",
  shipping: "accord_shipping",
  notifications: "accord_notifications",
};

const config = loadConfig(z.object(infraEnv));

for (const [service, database] of Object.entries(SERVICE_DATABASES)) {
  const dir = fileURLToPath(new URL(`../services/${service}/migrations`, import.meta.url));
  if (!existsSync(dir)) continue;
  const url = databaseUrl(config, database);
  await ensureDatabase(url);
  const pool = createPool(url, 1);
  try {
    const applied = await migrate(pool, dir);
    console.log(`[migrate] ${service}: ${applied.length ? `applied ${applied.join(", ")}` : "up to date"}`);
  } finally {
    await pool.end();
  }
}

// As the `migrate` principal (KAFKA_USERNAME/KAFKA_PASSWORD when set): Create and Describe on these topics only.
const kafka = createKafka({
  clientId: "accord-migrate",
  brokers: parseBrokers(config.KAFKA_BROKERS),
  auth: toolKafkaAuth("migrate"),
});
await ensureTopics(kafka, ALL_TOPICS);
console.log(`[migrate] kafka topics ready: ${ALL_TOPICS.join(", ")}`);
