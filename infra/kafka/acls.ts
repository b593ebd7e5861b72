/**
 * Provisions Kafka's principals and ACLs from infra/kafka/acl-table.ts.
 *
 *   node infra/kafka/acls.ts users        every SCRAM user, one per line
 *   node infra/kafka/acls.ts scram-args   one StorageTool --add-scram value per user, one per line
 *   node infra/kafka/acls.ts apply        makes the broker's ACLs exactly the table (as admin)
 *   node infra/kafka/acls.ts check-users  prints the users that cannot log in with their password
 *
 * The broker is KAFKA_BROKERS (default 127.0.0.1:9092); passwords follow
 * kafkaPasswordFor (KAFKA_PASSWORD_<USER>, else dev-kafka-<user>), the same
 * convention as kafka_password in infra/env.sh. Run by infra/infra.sh on every
 * `up kafka`, by docker compose (kafka-credentials, kafka-acls) and by the
 * tests' container setup.
 */
import {
  createKafka,
  kafkaErrorCode,
  kafkaPasswordFor,
  parseBrokers,
  syncAcls,
} from "#lib/messaging/kafka.ts";
import { createLogger } from "#lib/observability/logger.ts";
import { ADMIN_PRINCIPAL, aclRules, GRANTS, KAFKA_USERS } from "./acl-table.ts";

export const SCRAM_MECHANISM = "SCRAM-SHA-256";

/** `SCRAM-SHA-256=[name=<user>,password="<password>"]`, as StorageTool --add-scram takes it. */
export function scramArgs(env: Record<string, string | undefined> = process.env): string[] {
  return KAFKA_USERS.map((user) => {
    const password = kafkaPasswordFor(user, env);
    if (/["\],\s]/.test(password)) {
      throw new Error(`the Kafka password of ${user} contains a quote, comma, bracket or space`);
    }
    return `${SCRAM_MECHANISM}=[name=${user},password="${password}"]`;
  });
}

function client(user: string, env: Record<string, string | undefined>, retries?: number) {
  return createKafka({
    clientId: `accord-acls-${user}`,
    brokers: parseBrokers(env.KAFKA_BROKERS || "127.0.0.1:9092"),
    auth: { mechanism: "scram-sha-256", username: user, password: kafkaPasswordFor(user, env) },
    logger: createLogger("kafka-acls", "silent"),
    logLevel: "silent",
    ...(retries !== undefined ? { retries } : {}),
  });
}

/** Applies the table as admin, waiting up to `waitMs` for a broker that is still starting. */
export async function applyAclTable(
  env: Record<string, string | undefined> = process.env,
  waitMs = 60_000,
): Promise<{ created: number; deleted: number; unchanged: number }> {
  const rules = aclRules(GRANTS);
  const managed = [...new Set(GRANTS.map((g) => `User:${g.principal}`))];
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await syncAcls(client(ADMIN_PRINCIPAL, env, 2), rules, managed);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/** The users that cannot authenticate with their password (not created yet, or another password). */
export async function usersWithoutLogin(
  env: Record<string, string | undefined> = process.env,
): Promise<string[]> {
  const missing: string[] = [];
  for (const user of KAFKA_USERS) {
    const admin = client(user, env, 0).admin();
    try {
      await admin.connect();
    } catch (error) {
      if (kafkaErrorCode(error) !== "SASL_AUTHENTICATION_FAILED") throw error;
      missing.push(user);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
  return missing;
}

if (import.meta.main) {
  const command = process.argv[2];
  const say = (line: string) => process.stderr.write(`[kafka-acls] ${line}\n`);
  if (command === "users") {
    console.log(KAFKA_USERS.join("\n"));
  } else if (command === "scram-args") {
    console.log(scramArgs().join("\n"));
  } else if (command === "apply") {
    const result = await applyAclTable();
    console.log(
      `ACL table applied: ${aclRules(GRANTS).length} ACLs of ${KAFKA_USERS.length - 1} principals, ` +
        `${result.created} created, ${result.deleted} deleted, ${result.unchanged} unchanged`,
    );
  } else if (command === "check-users") {
    const missing = await usersWithoutLogin();
    if (missing.length > 0) console.log(missing.join("\n"));
  } else {
    say("usage: node infra/kafka/acls.ts users|scram-args|apply|check-users");
    process.exit(2);
  }
}
