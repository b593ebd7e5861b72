import { kafkaPasswordFor } from "#lib/messaging/kafka.ts";

/**
 * The infrastructure endpoints for the command-line runners, with the same
 * variables and defaults as infra/env.sh (vitest's global setup sets them for
 * the tests), and the run's Kafka principal: `chaos` unless KAFKA_USERNAME says
 * otherwise (ACLs on the sandbox prefixes only, infra/kafka/acl-table.ts); the
 * processes a run starts inherit it.
 */
export function infraDefaults(): void {
  const env = process.env;
  env.KAFKA_USERNAME ||= "chaos";
  env.KAFKA_PASSWORD ||= kafkaPasswordFor(env.KAFKA_USERNAME);
  env.PGHOST ||= "127.0.0.1";
  env.PGPORT ||= "5432";
  env.PGUSER ||= "accord";
  env.PGPASSWORD ||= "accord";
  env.KAFKA_BROKERS ||= `${env.KAFKA_HOST || "127.0.0.1"}:${env.KAFKA_PORT || "9092"}`;
  env.AMQP_URL ||= `amqp://${env.RABBITMQ_USER || "accord"}:${env.RABBITMQ_PASSWORD || "accord"}@${env.RABBITMQ_HOST || "127.0.0.1"}:${env.RABBITMQ_PORT || "5672"}`;
  env.TEMPORAL_ADDRESS ||= `${env.TEMPORAL_HOST || "127.0.0.1"}:${env.TEMPORAL_PORT || "7233"}`;
}
