import { describe, expect, it } from "vitest";
import { dlqTopicFor, EVENT_DOMAINS, topicFor } from "#lib/messaging/events.ts";
import { loadInventoryConfig } from "#services/inventory/src/config.ts";
import { loadNotificationsConfig } from "#services/notifications/src/config.ts";
import { DEV_NOTIFICATIONS_SECRET_KEY } from "#services/notifications/src/dev-secret-key.ts";
import { loadOrchestratorConfig } from "#services/orchestrator/src/config.ts";
import { loadOrdersConfig } from "#services/orders/src/config.ts";
import { loadPaymentsConfig } from "#services/payments/src/config.ts";
import { loadShippingConfig } from "#services/shipping/src/config.ts";
import { newTopicPrefix } from "#test/support/kafka.ts";
import {
  aclRules,
  GRANTS,
  KAFKA_USERS,
  SANDBOX_PREFIXES,
  SANDBOX_PRINCIPALS,
  SERVICE_GRANTS,
} from "../../infra/kafka/acl-table.ts";

// The ACL table names production topics and groups literally; these checks
// keep it in step with the names the services derive (ACCORD_TOPIC_PREFIX empty).
const production = {};
const rules = aclRules(GRANTS);
const allowed = (user: string, operation: string, resource: "topic" | "group", name: string) =>
  rules.some(
    (r) =>
      r.principal === `User:${user}` &&
      r.resource === resource &&
      (r.operation === operation || r.operation === "All") &&
      (r.pattern === "literal" ? r.name === name : name.startsWith(r.name)),
  );
const principals = [...new Set(GRANTS.map((g) => g.principal))];

describe("Kafka ACL table", () => {
  const publishers = {
    orders: loadOrdersConfig({ CATALOG_URL: "http://127.0.0.1:8087" }).ORDERS_EVENTS_TOPIC,
    inventory: loadInventoryConfig(production).INVENTORY_EVENTS_TOPIC,
    payments: loadPaymentsConfig(production).PAYMENTS_EVENTS_TOPIC,
    shipping: loadShippingConfig(production).SHIPPING_EVENTS_TOPIC,
  };
  const orchestrator = loadOrchestratorConfig(production);
  // Where the catalog is has no bearing on topics or groups either.
  const ordersConfig = loadOrdersConfig({ CATALOG_URL: "http://127.0.0.1:8087" });
  // Its sealing key is required and has no bearing on topics or groups.
  const notifications = loadNotificationsConfig({ NOTIFICATIONS_SECRET_KEY: DEV_NOTIFICATIONS_SECRET_KEY });
  const consumers = {
    orchestrator: {
      group: orchestrator.ORCHESTRATOR_GROUP_ID,
      topics: [orchestrator.ORCHESTRATOR_ORDERS_TOPIC, orchestrator.ORCHESTRATOR_SHIPPING_TOPIC],
    },
    notifications: {
      group: notifications.NOTIFICATIONS_CONSUMER_GROUP,
      topics: notifications.NOTIFICATIONS_TOPICS,
    },
    orders: {
      group: ordersConfig.ORDERS_CONSUMER_GROUP,
      topics: [ordersConfig.ORDERS_PAYMENTS_TOPIC],
    },
  };

  it("lets exactly one principal, the domain's service, write each <domain>.events", () => {
    for (const domain of EVENT_DOMAINS) {
      const topic = topicFor(domain, production);
      expect(publishers[domain]).toBe(topic);
      expect(principals.filter((p) => allowed(p, "Write", "topic", topic))).toEqual([domain]);
    }
  });

  it("lets each consumer read its topics in its own group, write their .dlq, and nothing else read", () => {
    for (const [user, { group, topics }] of Object.entries(consumers)) {
      expect(principals.filter((p) => allowed(p, "Read", "group", group))).toEqual([user]);
      for (const topic of topics) {
        expect(allowed(user, "Read", "topic", topic)).toBe(true);
        expect(allowed(user, "Write", "topic", dlqTopicFor(topic))).toBe(true);
        expect(allowed(user, "Write", "topic", topic)).toBe(false);
      }
    }
    for (const domain of EVENT_DOMAINS) {
      const topic = topicFor(domain, production);
      const readers = Object.entries(consumers)
        .filter(([, c]) => c.topics.includes(topic))
        .map(([user]) => user);
      expect(principals.filter((p) => allowed(p, "Read", "topic", topic)).sort()).toEqual(readers.sort());
      expect(principals.filter((p) => allowed(p, "Write", "topic", dlqTopicFor(topic))).sort()).toEqual(
        readers.sort(),
      );
    }
  });

  it("gives the sandbox principals no production name", () => {
    const names = [
      ...EVENT_DOMAINS.flatMap((d) => [topicFor(d, production), dlqTopicFor(topicFor(d, production))]),
      consumers.orchestrator.group,
      consumers.notifications.group,
      consumers.orders.group,
    ];
    for (const name of names) {
      for (const prefix of SANDBOX_PREFIXES)
        expect(name.startsWith(prefix), `${name} under ${prefix}`).toBe(false);
    }
    expect(SERVICE_GRANTS.some((g) => g.prefixed)).toBe(false);
    expect(SANDBOX_PRINCIPALS.every((p) => !SERVICE_GRANTS.some((g) => g.principal === p))).toBe(true);
  });

  it("covers the names tests derive under their prefixes", () => {
    const tags = ["test", "test-notif", "pact", "host", "reflection", "inproc", "authz"];
    for (const prefix of [
      "test.",
      ...tags.map((tag) => newTopicPrefix(tag)),
      "e2e-1a2b3c4d5e.",
      "bench-x.",
    ]) {
      const env = { ACCORD_TOPIC_PREFIX: prefix };
      expect(allowed("test", "Write", "topic", topicFor("orders", env))).toBe(true);
      expect(allowed("test", "Read", "group", loadOrchestratorConfig(env).ORCHESTRATOR_GROUP_ID)).toBe(true);
    }
  });

  it("knows every principal as a SCRAM user, admin first", () => {
    expect(KAFKA_USERS[0]).toBe("admin");
    expect([...KAFKA_USERS].sort()).toEqual(["admin", ...principals].sort());
  });
});
