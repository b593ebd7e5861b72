/**
 * Who may do what on Kafka: the one ACL table. The broker allows nothing that
 * is not listed here (StandardAuthorizer, allow.everyone.if.no.acl.found=false);
 * `admin` is the only super user on the client listener. infra/kafka/acls.ts
 * applies the table on every `infra/infra.sh up kafka` (and docker compose's
 * kafka-acls step): it creates what is missing and deletes what is no longer
 * listed, for the principals below. Every principal is a SCRAM-SHA-256 user;
 * its development password is "dev-kafka-<user>" (infra/env.sh kafka_password),
 * production sets KAFKA_PASSWORD_<USER> for provisioning and each process's
 * KAFKA_PASSWORD from the secret store.
 *
 * Names are the production ones (ACCORD_TOPIC_PREFIX empty): topicFor() and
 * dlqTopicFor() in lib/messaging/events.ts, the group defaults of the
 * orchestrator, notifications and orders configs; test/unit/kafka-acl-table.test.ts
 * checks they still agree.
 *
 * Topic creation: whoever creates topics today keeps the right, on exactly
 * those topics: `migrate` (npm run migrate creates all of them), each outbox
 * relay its own topic and its .dlq, each consumer the topics it reads and
 * their .dlq (so it can start before the producer). Create grants no write.
 *
 * DLQs: <topic>.dlq is written by the consumers of <topic> (runEventConsumer
 * routes poison events there), so they, not the topic's producer, Write it.
 * The producer only creates and describes it (its relay ensures it exists).
 * No service reads a Kafka DLQ; scripts/dlq.ts works on RabbitMQ only.
 */

export type Operation = "All" | "Read" | "Write" | "Create" | "Describe" | "Delete";

/** principal -> operations -> resources; LITERAL names unless `prefixed`. */
export interface Grant {
  principal: string;
  operations: readonly Operation[];
  topics?: readonly string[];
  groups?: readonly string[];
  prefixed?: true;
}

/** The producer of <domain>.events: the only one who may write it. */
const OWNS: readonly Operation[] = ["Write", "Describe", "Create"];
/** Its .dlq: created and described by the producer's relay, written by the consumers. */
const OWNS_DLQ: readonly Operation[] = ["Describe", "Create"];
/** A consumer of a topic (Read implies Describe); Create so it can start before the producer. */
const CONSUMES: readonly Operation[] = ["Read", "Create"];
/** A consumer routing poison events to <topic>.dlq. */
const WRITES_DLQ: readonly Operation[] = ["Write", "Describe", "Create"];

const ALL_TOPICS = [
  "orders.events",
  "inventory.events",
  "payments.events",
  "shipping.events",
  "orders.events.dlq",
  "inventory.events.dlq",
  "payments.events.dlq",
  "shipping.events.dlq",
];

// biome-ignore format: kept as a table, one grant per line
export const SERVICE_GRANTS: readonly Grant[] = [
  // principal                   operations                         resources
  { principal: "orders",        operations: OWNS,       topics: ["orders.events"] },
  { principal: "orders",        operations: OWNS_DLQ,   topics: ["orders.events.dlq"] },
  // orders reads PaymentRefunded (an ops refund makes the order REFUNDED); poison to the .dlq
  { principal: "orders",        operations: CONSUMES,   topics: ["payments.events"] },
  { principal: "orders",        operations: WRITES_DLQ, topics: ["payments.events.dlq"] },
  { principal: "orders",        operations: ["Read"],   groups: ["orders"] },
  { principal: "inventory",     operations: OWNS,       topics: ["inventory.events"] },
  { principal: "inventory",     operations: OWNS_DLQ,   topics: ["inventory.events.dlq"] },
  { principal: "payments",      operations: OWNS,       topics: ["payments.events"] },
  { principal: "payments",      operations: OWNS_DLQ,   topics: ["payments.events.dlq"] },
  { principal: "shipping",      operations: OWNS,       topics: ["shipping.events"] },
  { principal: "shipping",      operations: OWNS_DLQ,   topics: ["shipping.events.dlq"] },
  // the saga bridge: OrderPlaced, OrderCancellationRequested, ShipmentDelivered in; poison to the .dlq
  { principal: "orchestrator",  operations: CONSUMES,   topics: ["orders.events", "shipping.events"] },
  { principal: "orchestrator",  operations: WRITES_DLQ, topics: ["orders.events.dlq", "shipping.events.dlq"] },
  { principal: "orchestrator",  operations: ["Read"],   groups: ["orchestrator"] },
  // the notifications dispatcher
  { principal: "notifications", operations: CONSUMES,   topics: ["orders.events", "payments.events", "shipping.events"] },
  { principal: "notifications", operations: WRITES_DLQ, topics: ["orders.events.dlq", "payments.events.dlq", "shipping.events.dlq"] },
  { principal: "notifications", operations: ["Read"],   groups: ["notifications"] },
  // npm run migrate (scripts/migrate.ts) creates every topic before the services start
  { principal: "migrate",       operations: ["Create", "Describe"], topics: ALL_TOPICS },
];

/**
 * Test-prefixed names. Tests, the chaos runs and the benchmarks start real
 * service processes under an ACCORD_TOPIC_PREFIX of their own
 * ("test-1a2b3c4d5e.orders.events", "test-pact-…", "e2e-…"), with a random part in
 * the middle of the name that no per-service rule could follow. So those runs
 * authenticate as one principal of their own (`test` under vitest, `chaos`
 * and `bench` from their command lines; every process a run starts inherits
 * it) holding All on the topics and groups under these prefixes only, PREFIXED
 * ACLs. No production name starts with one of them, so the un-prefixed topics
 * and the groups "orchestrator" and "notifications" stay exactly as the
 * per-service table says: `test` cannot read or write orders.events. The
 * per-service rules themselves are proved against the production names by
 * test/integration/kafka-acl.test.ts. newTopicPrefix() puts every
 * createSandbox tag under "test-"; a tool choosing a prefix of its own needs
 * it here, or its run gets TOPIC_AUTHORIZATION_FAILED.
 */
export const SANDBOX_PREFIXES: readonly string[] = [
  "test.", // ACCORD_TOPIC_PREFIX's default under vitest; test.events.*, test.relay.*, test.orders.events.*
  "test-", // every newTopicPrefix() / createSandbox(tag) run ("test-<id>.", "test-pact-<id>."), test-group-*
  "relay-test-", // outbox-relay.test.ts's reading group
  "e2e-", // startPlatform (test/support/platform.ts)
  "orchestrator-e2e-", // startPlatform's orchestrator group
  "chaos-", // chaos runs (chaos-<tag>., chaos-attack-<tag>.)
  "bad-", // bad-input runs (topics and the bad-input-reader-* group)
  "bench-", // benchmarks: bench-<run>.* topics, bench-* groups
];

export const SANDBOX_PRINCIPALS: readonly string[] = ["test", "chaos", "bench"];

export const SANDBOX_GRANTS: readonly Grant[] = SANDBOX_PRINCIPALS.map((principal) => ({
  principal,
  operations: ["All"],
  topics: SANDBOX_PREFIXES,
  groups: SANDBOX_PREFIXES,
  prefixed: true,
}));

export const GRANTS: readonly Grant[] = [...SERVICE_GRANTS, ...SANDBOX_GRANTS];

/** The cluster's super user (super.users), which applies this table; it has no rows. */
export const ADMIN_PRINCIPAL = "admin";

/** Every SCRAM user the broker must know: admin plus everyone in the table. */
export const KAFKA_USERS: readonly string[] = [ADMIN_PRINCIPAL, ...new Set(GRANTS.map((g) => g.principal))];

/** One ALLOW binding per principal, operation and resource name. */
export interface AclRule {
  principal: `User:${string}`;
  operation: Operation;
  resource: "topic" | "group";
  pattern: "literal" | "prefixed";
  name: string;
}

export function aclRules(grants: readonly Grant[] = GRANTS): AclRule[] {
  const rules: AclRule[] = [];
  for (const grant of grants) {
    const pattern = grant.prefixed ? "prefixed" : "literal";
    for (const operation of grant.operations) {
      for (const name of grant.topics ?? []) {
        rules.push({ principal: `User:${grant.principal}`, operation, resource: "topic", pattern, name });
      }
      for (const name of grant.groups ?? []) {
        rules.push({ principal: `User:${grant.principal}`, operation, resource: "group", pattern, name });
      }
    }
  }
  return rules;
}
