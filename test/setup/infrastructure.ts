import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import {
  createKafka,
  kafkaAuthFrom,
  kafkaErrorCode,
  kafkaPasswordFor,
  parseBrokers,
} from "#lib/messaging/kafka.ts";
import { tcpAnswers } from "#test/support/tcp.ts";
import { applyAclTable, scramArgs } from "../../infra/kafka/acls.ts";

/**
 * Locates the infrastructure the integration and contract tests talk to
 * (PostgreSQL, Kafka, RabbitMQ, Temporal and Keycloak, whose realm issues
 * every token the tests call with), in this order:
 *  1. the services named by env vars (ENDPOINT_VARS) when all of them are given;
 *  2. when a Docker engine answers, containers started with testcontainers;
 *  3. the services started natively by `npm run infra:up`;
 * and fails at once, naming the command that starts them, when none answers.
 * The chosen endpoints reach the test files as environment variables.
 */

interface Endpoints {
  PGHOST: string;
  PGPORT: string;
  PGUSER: string;
  PGPASSWORD: string;
  KAFKA_BROKERS: string;
  AMQP_URL: string;
  TEMPORAL_ADDRESS: string;
  /** The realm's issuer URL (tokens' iss): the services verify against it, the tests log in at it. */
  OIDC_ISSUER: string;
}

// PGHOST/PGPORT alone do not count: infra/env.sh always sets them; nor does
// OIDC_ISSUER, which has a default wherever it is read.
const ENDPOINT_VARS = ["KAFKA_BROKERS", "AMQP_URL", "TEMPORAL_ADDRESS"] as const;

// Where infra/infra.sh starts things: the same variables and defaults as infra/env.sh.
const env = (name: string, fallback: string) => process.env[name] || fallback;
const NATIVE_DEFAULTS: Endpoints = {
  PGHOST: env("PGHOST", "127.0.0.1"),
  PGPORT: env("PGPORT", "5432"),
  PGUSER: env("PGUSER", "accord"),
  PGPASSWORD: env("PGPASSWORD", "accord"),
  KAFKA_BROKERS: `${env("KAFKA_HOST", "127.0.0.1")}:${env("KAFKA_PORT", "9092")}`,
  AMQP_URL: `amqp://${env("RABBITMQ_USER", "accord")}:${env("RABBITMQ_PASSWORD", "accord")}@${env("RABBITMQ_HOST", "127.0.0.1")}:${env("RABBITMQ_PORT", "5672")}`,
  TEMPORAL_ADDRESS: `${env("TEMPORAL_HOST", "127.0.0.1")}:${env("TEMPORAL_PORT", "7233")}`,
  OIDC_ISSUER: env(
    "OIDC_ISSUER",
    `http://${env("KEYCLOAK_HOST", "127.0.0.1")}:${env("KEYCLOAK_PORT", "8180")}/realms/${env("KEYCLOAK_REALM", "accord")}`,
  ),
};

let stopContainers: (() => Promise<void>) | undefined;
/** True when the tests started their own Kafka container, which setup() then provisions. */
let kafkaContainer = false;

export default async function setup(_project: TestProject) {
  const endpoints = await locate();
  Object.assign(process.env, endpoints);
  // Services started by tests publish to "test.<domain>.events", never to the
  // topics a running `npm start` platform consumes (tests may set their own).
  process.env.ACCORD_TOPIC_PREFIX ??= "test.";
  // The tests' Kafka principal, "test": ACLs on the sandbox prefixes only
  // (infra/kafka/acl-table.ts), so a test cannot touch orders.events. Every
  // service process a test starts inherits it.
  process.env.KAFKA_USERNAME ||= "test";
  process.env.KAFKA_PASSWORD ||= kafkaPasswordFor(process.env.KAFKA_USERNAME);
  // A container broker has its users from format time; its ACLs come now.
  if (kafkaContainer) await applyAclTable({ ...process.env, KAFKA_BROKERS: endpoints.KAFKA_BROKERS });
  await requireKafkaLogin(endpoints.KAFKA_BROKERS);
  return async () => {
    await stopContainers?.();
  };
}

async function locate(): Promise<Endpoints> {
  if (ENDPOINT_VARS.every((name) => process.env[name])) {
    const given = { ...NATIVE_DEFAULTS, ...pickEnv() };
    await requireReachable(
      given,
      "the services named by PGHOST/PGPORT, KAFKA_BROKERS, AMQP_URL, TEMPORAL_ADDRESS, OIDC_ISSUER",
    );
    return given;
  }
  if (await dockerAnswers()) {
    return startContainers();
  }
  await requireReachable(NATIVE_DEFAULTS, "the natively started services");
  return NATIVE_DEFAULTS;
}

function pickEnv(): Partial<Endpoints> {
  const out: Partial<Endpoints> = {};
  for (const key of Object.keys(NATIVE_DEFAULTS) as (keyof Endpoints)[]) {
    const value = process.env[key];
    if (value) out[key] = value;
  }
  return out;
}

async function requireReachable(e: Endpoints, what: string) {
  const amqp = new URL(e.AMQP_URL);
  const targets: [string, string, number][] = [
    ["PostgreSQL", e.PGHOST, Number(e.PGPORT)],
    ["Kafka", ...hostPort(e.KAFKA_BROKERS.split(",")[0] ?? "")],
    ["RabbitMQ", amqp.hostname, Number(amqp.port || 5672)],
    ["Temporal", ...hostPort(e.TEMPORAL_ADDRESS)],
  ];
  const down: string[] = [];
  await Promise.all([
    ...targets.map(async ([name, host, port]) => {
      if (!(await tcpAnswers(`${host}:${port}`, 1500))) down.push(`${name} at ${host}:${port}`);
    }),
    (async () => {
      const problem = await issuerProblem(e.OIDC_ISSUER);
      if (problem) down.push(`Keycloak (realm ${e.OIDC_ISSUER}: ${problem})`);
    })(),
  ]);
  if (down.length > 0) {
    throw new Error(
      `Integration tests need real infrastructure, but ${what} do not answer: ${down.join(", ")}.\n` +
        "Start it with `npm run infra:up` (or the whole platform with `npm start`), " +
        "or point PGHOST/PGPORT, KAFKA_BROKERS, AMQP_URL, TEMPORAL_ADDRESS and OIDC_ISSUER at running services.",
    );
  }
}

/**
 * Why the realm cannot issue the tests' tokens, or undefined when its OpenID
 * discovery document answers and names the issuer the services will check.
 * A port that answers is not enough: Keycloak listens well before the realm
 * is imported.
 */
async function issuerProblem(issuer: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${issuer}/.well-known/openid-configuration`, {
      signal: AbortSignal.timeout(3_000),
    });
    if (res.status !== 200) return `discovery document answered ${res.status}`;
    const document = (await res.json()) as { issuer?: unknown };
    if (document.issuer !== issuer) return `discovery document names issuer ${String(document.issuer)}`;
    return undefined;
  } catch (error) {
    return `no answer (${error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error)})`;
  }
}

/**
 * A Kafka that answers but refuses the tests' login (an older PLAINTEXT
 * broker, a broker without the users) is named here once, instead of as a
 * timeout in every file that uses it.
 */
async function requireKafkaLogin(brokers: string) {
  const auth = kafkaAuthFrom();
  const admin = createKafka({
    clientId: "test-setup",
    brokers: parseBrokers(brokers),
    auth,
    logLevel: "silent",
    retries: 1,
  }).admin();
  try {
    await admin.connect();
    await admin.listTopics();
  } catch (error) {
    throw new Error(
      `Kafka at ${brokers} refuses the tests' SASL/SCRAM login as "${auth.username}" ` +
        `(${kafkaErrorCode(error) ?? (error as Error).message}). It must be Accord's broker with its users and ACLs: ` +
        "`bash infra/infra.sh down kafka && bash infra/infra.sh up kafka` replaces an older PLAINTEXT one; " +
        "KAFKA_USERNAME / KAFKA_PASSWORD name the tests' principal (default test / dev-kafka-test).",
    );
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function hostPort(address: string): [string, number] {
  const at = address.lastIndexOf(":");
  return [address.slice(0, at), Number(address.slice(at + 1))];
}

/** True when a Docker engine answers /_ping on its socket (DOCKER_HOST or the default). */
function dockerAnswers(): Promise<boolean> {
  const dockerHost = process.env.DOCKER_HOST;
  const options: http.RequestOptions = dockerHost?.startsWith("tcp://")
    ? { host: new URL(dockerHost).hostname, port: Number(new URL(dockerHost).port), path: "/_ping" }
    : { socketPath: dockerHost?.replace(/^unix:\/\//, "") ?? "/var/run/docker.sock", path: "/_ping" };
  return new Promise((resolve) => {
    const req = http.get({ ...options, timeout: 1500 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

async function startContainers(): Promise<Endpoints> {
  // Imported lazily: only machines with a Docker engine need testcontainers.
  const { GenericContainer, Wait } = await import("testcontainers");
  const realmFile = path.resolve(
    path.dirname(fileURLToPath(import.meta.url)),
    "../../infra/keycloak/accord-realm.json",
  );
  const [postgres, kafka, rabbit, temporal, keycloak] = await Promise.all([
    new GenericContainer("postgres:17")
      .withEnvironment({ POSTGRES_USER: "accord", POSTGRES_PASSWORD: "accord" })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/ready to accept connections/, 2))
      .start(),
    // Accord's SASL/SCRAM broker as docker-compose.yml runs it
    // (infra/kafka/container-start.sh): its users at format time, the ACL
    // table applied by setup() once it answers.
    new GenericContainer("apache/kafka:4.1.1")
      .withExposedPorts({ container: 9092, host: 19092 })
      .withCopyFilesToContainer(
        ["server-properties.sh", "container-start.sh"].map((file) => ({
          source: fileURLToPath(new URL(`../../infra/kafka/${file}`, import.meta.url)),
          target: `/accord-kafka/${file}`,
        })),
      )
      .withCopyContentToContainer([
        { content: `${scramArgs().join("\n")}\n`, target: "/accord-kafka/scram-args" },
      ])
      .withEnvironment({
        CLUSTER_ID: "YWNjb3JkLWthZmthLXRlc3Q",
        KAFKA_LISTEN_HOST: "0.0.0.0",
        KAFKA_ADVERTISED_HOST: "localhost",
        KAFKA_PORT: "9092",
        KAFKA_CONTROLLER_PORT: "9093",
        KAFKA_LOG_DIR: "/tmp/kafka-logs",
        KAFKA_SCRAM_ARGS_FILE: "/accord-kafka/scram-args",
        KAFKA_ADMIN_PASSWORD: kafkaPasswordFor("admin"),
        KAFKA_CONTROLLER_PASSWORD: kafkaPasswordFor("controller"),
      })
      .withEntrypoint(["bash", "/accord-kafka/container-start.sh"])
      .withWaitStrategy(Wait.forListeningPorts())
      .start(),
    new GenericContainer("rabbitmq:4-management")
      .withEnvironment({ RABBITMQ_DEFAULT_USER: "accord", RABBITMQ_DEFAULT_PASS: "accord" })
      .withExposedPorts(5672, 15672)
      .withWaitStrategy(Wait.forLogMessage(/Server startup complete/))
      .start(),
    new GenericContainer("temporalio/temporal:latest")
      .withCommand(["server", "start-dev", "--ip", "0.0.0.0"])
      .withExposedPorts(7233)
      .withWaitStrategy(Wait.forListeningPorts())
      .start(),
    // The same realm file as infra/infra.sh and docker-compose.yml; dev mode
    // (in-memory store) is enough for a throwaway container. No fixed
    // hostname: the issuer is the URL the tests and services reach it at.
    new GenericContainer("quay.io/keycloak/keycloak:26.7.3")
      .withCommand(["start-dev", "--import-realm"])
      .withCopyFilesToContainer([
        { source: realmFile, target: "/opt/keycloak/data/import/accord-realm.json" },
      ])
      .withExposedPorts(8080)
      .withWaitStrategy(Wait.forHttp("/realms/accord/.well-known/openid-configuration", 8080))
      .withStartupTimeout(180_000)
      .start(),
  ]);
  kafkaContainer = true;
  stopContainers = async () => {
    await Promise.all([postgres.stop(), kafka.stop(), rabbit.stop(), temporal.stop(), keycloak.stop()]);
  };
  return {
    PGHOST: postgres.getHost(),
    PGPORT: String(postgres.getMappedPort(5432)),
    PGUSER: "accord",
    PGPASSWORD: "accord",
    KAFKA_BROKERS: "localhost:19092",
    AMQP_URL: `amqp://accord:accord@${rabbit.getHost()}:${rabbit.getMappedPort(5672)}`,
    TEMPORAL_ADDRESS: `${temporal.getHost()}:${temporal.getMappedPort(7233)}`,
    OIDC_ISSUER: `http://${keycloak.getHost()}:${keycloak.getMappedPort(8080)}/realms/accord`,
  };
}
