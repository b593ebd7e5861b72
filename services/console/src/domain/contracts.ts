import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type CanIDeployResponse,
  CanIDeployResponseSchema,
  type CompatibilityRow,
  CompatibilityRowSchema,
  type Pacticipant,
  PacticipantSchema,
} from "#gen/accord/console/v1/console_pb.js";
import { collectViolations, invalidArgument } from "#lib/rpc/errors.ts";

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v !== null && typeof v === "object" ? (v as Json) : {});
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The names in the broker's GET /pacticipants (HAL _embedded, or the older top-level list). */
export function pacticipantNames(body: unknown): string[] {
  const embedded = list(obj(obj(body)._embedded).pacticipants);
  const items = embedded.length > 0 ? embedded : list(obj(body).pacticipants);
  return [...new Set(items.map((p) => str(obj(p).name)).filter((n) => n !== ""))].sort();
}

export interface EnvironmentRef {
  uuid: string;
  name: string;
}

/** The environments in the broker's GET /environments. */
export function environmentsOf(body: unknown): EnvironmentRef[] {
  return list(obj(obj(body)._embedded).environments)
    .map((e) => ({ uuid: str(obj(e).uuid), name: str(obj(e).name) }))
    .filter((e) => e.uuid !== "" && e.name !== "")
    .sort((a, b) => a.name.localeCompare(b.name));
}

export interface DeployedRef {
  pacticipant: string;
  version: string;
  deployedAt?: Date;
}

/** What GET /environments/:uuid/deployed-versions/currently-deployed lists. */
export function deployedVersionsOf(body: unknown): DeployedRef[] {
  return list(obj(obj(body)._embedded).deployedVersions).map((d) => {
    const embedded = obj(obj(d)._embedded);
    const at = new Date(str(obj(d).createdAt));
    return {
      pacticipant: str(obj(embedded.pacticipant).name),
      version: str(obj(embedded.version).number),
      ...(Number.isNaN(at.getTime()) ? {} : { deployedAt: at }),
    };
  });
}

/** Pacticipants with their latest versions and what is deployed in each environment. */
export function contractsView(
  names: readonly string[],
  latest: ReadonlyMap<string, string>,
  deployed: readonly { environment: string; versions: readonly DeployedRef[] }[],
): Pacticipant[] {
  return names.map((name) =>
    create(PacticipantSchema, {
      name,
      latestVersion: latest.get(name) ?? "",
      deployments: deployed.flatMap(({ environment, versions }) =>
        versions
          .filter((v) => v.pacticipant === name)
          .map((v) => ({
            environment,
            version: v.version,
            ...(v.deployedAt ? { deployedAt: timestampFromDate(v.deployedAt) } : {}),
          })),
      ),
    }),
  );
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/;

/** Checks a CanIDeploy request; InvalidArgument naming every bad field. */
export function validateCanIDeploy(req: { pacticipant: string; version: string; environment: string }): void {
  const { violations, bad } = collectViolations();
  const check = (field: string, value: string, pattern: RegExp) => {
    if (value === "") bad(field, "is required");
    else if (!pattern.test(value)) bad(field, "must be letters, digits, '.', '_' or '-' (at most 100)");
  };
  check("pacticipant", req.pacticipant, NAME);
  check("version", req.version, VERSION);
  check("environment", req.environment, NAME);
  if (violations.length > 0) throw invalidArgument(violations);
}

/** The broker's GET /can-i-deploy answer as the RPC's response. */
export function canIDeployFrom(body: unknown): CanIDeployResponse {
  const summary = obj(obj(body).summary);
  if (typeof summary.deployable !== "boolean" && summary.deployable !== null) {
    throw new Error("the broker's answer has no summary.deployable");
  }
  const rows: CompatibilityRow[] = list(obj(body).matrix).map((r) => {
    const row = obj(r);
    const consumer = obj(row.consumer);
    const provider = obj(row.provider);
    const result = row.verificationResult;
    const success = obj(result).success;
    return create(CompatibilityRowSchema, {
      consumer: str(consumer.name),
      consumerVersion: str(obj(consumer.version).number),
      provider: str(provider.name),
      providerVersion: str(obj(provider.version).number),
      ...(typeof success === "boolean" ? { verified: success } : {}),
    });
  });
  return create(CanIDeployResponseSchema, {
    deployable: summary.deployable === true,
    reason: str(summary.reason),
    rows,
  });
}
