import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// infra/kafka/server-properties.sh writes both the single development broker's
// configuration and each node's of the production cluster
// (infra/production/kafka-cluster.sh): the same listeners and security, the
// cluster's node id, quorum and replication from variables.
const SCRIPT = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../infra/kafka/server-properties.sh",
);

function properties(env: Record<string, string>): Map<string, string> {
  const text = execFileSync("bash", [SCRIPT], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      KAFKA_LOG_DIR: "/tmp/kafka-logs",
      KAFKA_ADMIN_PASSWORD: "admin-secret",
      KAFKA_CONTROLLER_PASSWORD: "controller-secret",
      ...env,
    },
    encoding: "utf8",
  });
  const entries = new Map<string, string>();
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (line.startsWith("#") || at < 0) continue;
    const key = line.slice(0, at);
    expect(entries.has(key), `${key} written twice`).toBe(false);
    entries.set(key, line.slice(at + 1));
  }
  return entries;
}

describe("Kafka server properties", () => {
  it("keeps the development broker a quorum of its own with one replica of everything", () => {
    const p = properties({ KAFKA_PORT: "9092", KAFKA_CONTROLLER_PORT: "9093" });
    expect(p.get("node.id")).toBe("1");
    expect(p.get("controller.quorum.bootstrap.servers")).toBe("127.0.0.1:9093");
    expect(p.has("controller.quorum.voters")).toBe(false);
    for (const key of [
      "default.replication.factor",
      "offsets.topic.replication.factor",
      "transaction.state.log.replication.factor",
      "min.insync.replicas",
      "transaction.state.log.min.isr",
    ]) {
      expect(p.get(key), key).toBe("1");
    }
    expect(p.get("unclean.leader.election.enable")).toBe("false");
  });

  it("gives a cluster node its id, the static quorum and replication 3 with min.insync 2", () => {
    const voters = "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097";
    const p = properties({
      KAFKA_NODE_ID: "2",
      KAFKA_PORT: "19094",
      KAFKA_CONTROLLER_PORT: "19095",
      KAFKA_CONTROLLER_QUORUM_VOTERS: voters,
      KAFKA_REPLICATION_FACTOR: "3",
      KAFKA_MIN_INSYNC_REPLICAS: "2",
    });
    expect(p.get("process.roles")).toBe("broker,controller");
    expect(p.get("node.id")).toBe("2");
    expect(p.get("controller.quorum.voters")).toBe(voters);
    expect(p.has("controller.quorum.bootstrap.servers")).toBe(false);
    expect(p.get("listeners")).toBe("CLIENT://127.0.0.1:19094,CONTROLLER://127.0.0.1:19095");
    expect(p.get("advertised.listeners")).toBe("CLIENT://127.0.0.1:19094");
    expect(p.get("default.replication.factor")).toBe("3");
    expect(p.get("offsets.topic.replication.factor")).toBe("3");
    expect(p.get("transaction.state.log.replication.factor")).toBe("3");
    expect(p.get("share.coordinator.state.topic.replication.factor")).toBe("3");
    expect(p.get("min.insync.replicas")).toBe("2");
    expect(p.get("transaction.state.log.min.isr")).toBe("2");
    expect(p.get("unclean.leader.election.enable")).toBe("false");
    // The same security as the development broker.
    expect(p.get("listener.security.protocol.map")).toBe("CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT");
    expect(p.get("allow.everyone.if.no.acl.found")).toBe("false");
    expect(p.get("super.users")).toBe("User:admin;User:controller");
  });
});
