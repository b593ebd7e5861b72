import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  type ConsoleService,
  GetPlatformHealthResponseSchema,
  ListContractsResponseSchema,
  type ProcessHealth,
  ProcessHealthSchema,
} from "#gen/accord/console/v1/console_pb.js";
import type { Logger } from "#lib/observability/logger.ts";
import { getJson, ReadError } from "./adapters/http-json.ts";
import {
  canIDeployFrom,
  contractsView,
  deployedVersionsOf,
  environmentsOf,
  pacticipantNames,
  validateCanIDeploy,
} from "./domain/contracts.ts";
import {
  breakersFrom,
  deadLetterDepthsFrom,
  lagFrom,
  outboxFrom,
  type Sample,
  samplesOf,
} from "./domain/health.ts";

/** A process whose /readyz the health page shows. */
export interface WatchedProcess {
  name: string;
  url: string;
}

export interface ConsoleServiceDeps {
  processes: readonly WatchedProcess[];
  prometheusUrl: string;
  brokerUrl: string;
  /** Sent to the broker when set (a broker whose reads need a token). */
  brokerToken?: string;
  timeoutMs: number;
  logger: Logger;
}

/** The PromQL the health page is made of (metric names: lib/observability/metrics.ts). */
export const HEALTH_QUERIES = {
  up: "up",
  breakers: "max by (service, breaker) (breaker_state)",
  lag: "sum by (service, group, topic) (kafka_consumer_lag_messages)",
  outboxRows: "max by (service) (outbox_unpublished_rows)",
  outboxAge: "max by (service) (outbox_oldest_unpublished_age_seconds)",
  rabbitDlq: "max by (service, queue) (rabbitmq_dlq_depth_messages)",
  kafkaDlq: "max by (service, topic) (kafka_dlq_depth_messages)",
} as const;

/**
 * ConsoleService: reads and reports, decides nothing. A source that cannot
 * be read becomes a line in the answer's errors (health) or Unavailable
 * (contracts), never a 5xx the caller cannot read.
 */
export function createConsoleService(deps: ConsoleServiceDeps): ServiceImpl<typeof ConsoleService> {
  const { timeoutMs } = deps;
  const brokerHeaders: Record<string, string> = deps.brokerToken
    ? { authorization: `Bearer ${deps.brokerToken}` }
    : {};

  async function readiness(process: WatchedProcess): Promise<Omit<ProcessHealth, "scraped" | "$typeName">> {
    try {
      const { status, body } = await getJson(`${process.url}/readyz`, { timeoutMs });
      if (status === 200) return { name: process.name, url: process.url, ready: true, reason: "" };
      const reason = (body as { reason?: unknown })?.reason;
      return {
        name: process.name,
        url: process.url,
        ready: false,
        reason: typeof reason === "string" ? reason.slice(0, 500) : `readyz answered ${status}`,
      };
    } catch (error) {
      return {
        name: process.name,
        url: process.url,
        ready: false,
        reason: error instanceof ReadError ? error.message : "unreachable",
      };
    }
  }

  async function query(promql: string): Promise<Sample[]> {
    const url = `${deps.prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`;
    const { status, body } = await getJson(url, { timeoutMs });
    if (status !== 200) throw new ReadError(`answered ${status}`, status);
    return samplesOf(body);
  }

  async function broker(path: string): Promise<{ status: number; body: unknown }> {
    try {
      return await getJson(`${deps.brokerUrl}${path}`, { timeoutMs, headers: brokerHeaders });
    } catch (error) {
      throw new ConnectError(
        `the Pact Broker at ${deps.brokerUrl} cannot be reached: ${(error as Error).message}`,
        Code.Unavailable,
      );
    }
  }

  async function brokerOk(path: string): Promise<unknown> {
    const { status, body } = await broker(path);
    if (status === 200) return body;
    if (status === 401 || status === 403) {
      throw new ConnectError(`the Pact Broker refused the console's read (${status})`, Code.Unavailable);
    }
    throw new ConnectError(`the Pact Broker answered ${status} for ${path}`, Code.Unavailable);
  }

  return {
    async getPlatformHealth() {
      const errors: string[] = [];
      const queries = Object.entries(HEALTH_QUERIES) as [keyof typeof HEALTH_QUERIES, string][];
      const [ready, ...results] = await Promise.all([
        Promise.all(deps.processes.map(readiness)),
        ...queries.map(([key, promql]) =>
          query(promql).then(
            (samples) => ({ key, samples }),
            (error: unknown) => {
              errors.push(`prometheus (${key}): ${(error as Error).message}`);
              return { key, samples: [] as Sample[] };
            },
          ),
        ),
      ]);
      const samples = Object.fromEntries(results.map((r) => [r.key, r.samples])) as Record<
        keyof typeof HEALTH_QUERIES,
        Sample[]
      >;
      const scraped = new Map<string, boolean>();
      for (const s of samples.up) {
        const name = s.labels.service;
        if (name) scraped.set(name, (scraped.get(name) ?? false) || s.value === 1);
      }
      return create(GetPlatformHealthResponseSchema, {
        processes: ready.map((p) =>
          create(ProcessHealthSchema, { ...p, scraped: scraped.get(p.name) ?? false }),
        ),
        breakers: breakersFrom(samples.breakers),
        consumerLag: lagFrom(samples.lag),
        outbox: outboxFrom(samples.outboxRows, samples.outboxAge),
        deadLetters: deadLetterDepthsFrom(samples.rabbitDlq, samples.kafkaDlq),
        errors: [...new Set(errors)].sort(),
        readAt: timestampNow(),
      });
    },

    async listContracts() {
      const [names, environments] = await Promise.all([
        brokerOk("/pacticipants").then(pacticipantNames),
        brokerOk("/environments").then(environmentsOf),
      ]);
      const [latest, deployed] = await Promise.all([
        Promise.all(
          names.map(async (name) => {
            const { status, body } = await broker(`/pacticipants/${encodeURIComponent(name)}/latest-version`);
            const number = (body as { number?: unknown })?.number;
            return [name, status === 200 && typeof number === "string" ? number : ""] as const;
          }),
        ),
        Promise.all(
          environments.map(async (env) => ({
            environment: env.name,
            versions: deployedVersionsOf(
              await brokerOk(
                `/environments/${encodeURIComponent(env.uuid)}/deployed-versions/currently-deployed`,
              ),
            ),
          })),
        ),
      ]);
      return create(ListContractsResponseSchema, {
        pacticipants: contractsView(names, new Map(latest), deployed),
        environments: environments.map((e) => e.name),
      });
    },

    async canIDeploy(req) {
      validateCanIDeploy(req);
      const p = encodeURIComponent(req.pacticipant);
      const version = await broker(`/pacticipants/${p}/versions/${encodeURIComponent(req.version)}`);
      if (version.status === 404) {
        throw new ConnectError(`${req.pacticipant} ${req.version} is unknown to the broker`, Code.NotFound);
      }
      const environments = environmentsOf(await brokerOk("/environments"));
      if (!environments.some((e) => e.name === req.environment)) {
        throw new ConnectError(`environment ${req.environment} is unknown to the broker`, Code.NotFound);
      }
      const query = new URLSearchParams({
        pacticipant: req.pacticipant,
        version: req.version,
        environment: req.environment,
      });
      const { status, body } = await broker(`/can-i-deploy?${query}`);
      if (status === 400 || status === 404) {
        const errors = (body as { errors?: unknown })?.errors;
        throw new ConnectError(
          Array.isArray(errors) ? errors.map(String).join("; ") : `the broker answered ${status}`,
          Code.NotFound,
        );
      }
      if (status !== 200) throw new ConnectError(`the Pact Broker answered ${status}`, Code.Unavailable);
      try {
        return canIDeployFrom(body);
      } catch (error) {
        deps.logger.warn({ err: error }, "console: unexpected can-i-deploy answer");
        throw new ConnectError("the Pact Broker's answer could not be read", Code.Unavailable);
      }
    },
  };
}
