// Where the infrastructure is, as test/setup/infrastructure.ts finds the
// natively started one: the same variables and defaults as infra/env.sh.
// Must be imported before anything that reads process.env at load time.
import { DEFAULT_ISSUER } from "#lib/auth/dev-identities.ts";
import { kafkaPasswordFor } from "#lib/messaging/kafka.ts";

const env = (name: string, fallback: string) => process.env[name] || fallback;
process.env.PGHOST = env("PGHOST", "127.0.0.1");
process.env.PGPORT = env("PGPORT", "5432");
process.env.PGUSER = env("PGUSER", "accord");
process.env.PGPASSWORD = env("PGPASSWORD", "accord");
process.env.KAFKA_BROKERS ||= `${env("KAFKA_HOST", "127.0.0.1")}:${env("KAFKA_PORT", "9092")}`;
process.env.AMQP_URL ||= `amqp://${env("RABBITMQ_USER", "accord")}:${env("RABBITMQ_PASSWORD", "accord")}@${env("RABBITMQ_HOST", "127.0.0.1")}:${env("RABBITMQ_PORT", "5672")}`;
process.env.TEMPORAL_ADDRESS ||= `${env("TEMPORAL_HOST", "127.0.0.1")}:${env("TEMPORAL_PORT", "7233")}`;
// The benchmarks' Kafka principal (ACLs on the sandbox prefixes only, infra/kafka/acl-table.ts),
// inherited by every process they start.
process.env.KAFKA_USERNAME ||= "bench";
process.env.KAFKA_PASSWORD ||= kafkaPasswordFor(process.env.KAFKA_USERNAME);
// The realm every process the bench starts verifies tokens against, and the bench logs in at.
process.env.OIDC_ISSUER ||= DEFAULT_ISSUER;

export function databaseUrlFor(database: string): string {
  const e = process.env;
  return `postgres://${encodeURIComponent(e.PGUSER ?? "")}:${encodeURIComponent(e.PGPASSWORD ?? "")}@${e.PGHOST}:${e.PGPORT}/${database}`;
}
