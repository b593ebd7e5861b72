import {
  type MatrixQuery,
  MatrixQueryError,
  type MatrixRow,
  type MatrixSelector,
  queryMatrix,
} from "../domain/matrix.ts";
import type { BrokerData, Pacticipant, Version } from "../domain/model.ts";
import { HttpError, link, notFound, ok, type Reply } from "../http-util.ts";
import type { Query, Router } from "../router.ts";
import { type Broker, known } from "./context.ts";
import { urls as u } from "./urls.ts";

// The compatibility matrix and can-i-deploy: which consumer and provider
// versions have a successful verification between them, and whether a version
// can go to an environment given what is deployed or released there.

export function matrixRoutes(router: Router, { data }: Broker): void {
  const reply = async (b: string, d: BrokerData, q: MatrixQuery, self: string): Promise<Reply> => {
    let result: ReturnType<typeof queryMatrix>;
    try {
      result = queryMatrix(d, q);
    } catch (error) {
      // The real broker's validate_selectors answers 400 with the messages as an array.
      if (error instanceof MatrixQueryError) throw new HttpError(400, { errors: error.errors });
      throw error;
    }
    return ok({
      summary: {
        deployable: result.deployable,
        reason: result.reasons.map((x) => x.text).join("\n"),
        ...result.counts,
      },
      notices: result.reasons,
      matrix: result.rows.map((row) => rowJson(b, d, row)),
      _links: { self: link(self) },
    });
  };

  router.get("/matrix", async ({ base: b, url, query }) =>
    reply(b, await data(), parseMatrixQuery(query), `${b}${url.pathname}${url.search}`),
  );

  // The real broker's /can-i-deploy: a version, and an environment or a 'to' tag.
  // With an environment it computes with latestby=cvpv (since v2.120, issue #903),
  // so every version live there counts, not only the newest.
  router.get("/can-i-deploy", async ({ base: b, url, query }) => {
    const d = await data();
    return reply(b, d, parseCanIDeployQuery(query, d), `${b}${url.pathname}${url.search}`);
  });

  router.get(
    "/pacticipants/:pacticipant/branches/:branch/latest-version/can-i-deploy/to-environment/:environment",
    async ({ base: b, params, url }) => {
      const d = await data();
      const p = d.pacticipant(params.pacticipant);
      if (!p || d.versionsOnBranch(p.id, params.branch).length === 0)
        throw notFound(`latest version of ${params.pacticipant} from branch ${params.branch}`);
      if (!d.environment(params.environment)) throw notFound(`environment ${params.environment}`);
      return reply(
        b,
        d,
        {
          selectors: [{ pacticipant: params.pacticipant, branch: params.branch, latest: true }],
          ignore: [],
          environment: params.environment,
          latestby: "cvpv",
        },
        `${b}${url.pathname}`,
      );
    },
  );
}

function versionJson(b: string, d: BrokerData, p: Pacticipant, v: Version | null) {
  return v === null
    ? null
    : {
        number: v.number,
        branch: d.branchNamesOf(v.id).at(-1) ?? null,
        branches: d.branchNamesOf(v.id).map((name) => ({ name })),
        tags: d.tagsOf(v.id).map((name) => ({ name })),
        _links: { self: link(u.version(b, p.name, v.number)) },
      };
}

function rowJson(b: string, d: BrokerData, row: MatrixRow) {
  const { pactVersionId } = row.publication;
  return {
    consumer: {
      name: row.consumer.name,
      _links: { self: link(u.pacticipant(b, row.consumer.name)) },
      version: versionJson(b, d, row.consumer, row.consumerVersion),
    },
    provider: {
      name: row.provider.name,
      _links: { self: link(u.pacticipant(b, row.provider.name)) },
      // A row without a verification has no provider version, as in the real broker.
      version: row.verification ? versionJson(b, d, row.provider, row.providerVersion) : null,
    },
    pact: {
      createdAt: row.publication.createdAt,
      _links: {
        self: link(u.pactForVersion(b, row.provider.name, row.consumer.name, row.consumerVersion.number)),
      },
    },
    verificationResult: row.verification
      ? {
          verifiedAt: row.verification.createdAt,
          success: row.verification.success,
          _links: {
            self: link(
              u.verification(
                b,
                row.provider.name,
                row.consumer.name,
                known(d.pactVersionById.get(pactVersionId), `pact version ${pactVersionId}`).sha,
                row.verification.id,
              ),
            ),
          },
        }
      : null,
    ...(row.ignored ? { ignored: true } : {}),
  };
}

/** The bracketed field of a key such as q[][pacticipant] or q[0][pacticipant]. */
function fieldOf(key: string, name: string): string | undefined {
  return new RegExp(`^${name}\\[\\d*\\]\\[(\\w+)\\]$`).exec(key)?.[1];
}

/**
 * Rack's parse_nested_query for arrays of hashes: a field goes into the last
 * hash unless that one has it already, which starts the next. So
 * q[][version]=1&q[][pacticipant]=A is one selector, and each repeated field
 * begins a new one. Empty values count as absent, as in the real broker.
 */
function pushField(list: Record<string, string>[], field: string, value: string): void {
  const last = list.at(-1);
  if (last && !(field in last)) last[field] = value;
  else list.push({ [field]: value });
}

function selectorOf(raw: Record<string, string>): MatrixSelector {
  const s: MatrixSelector = {};
  const given = (k: string) => (raw[k] === undefined || raw[k] === "" ? undefined : raw[k]);
  const pacticipant = given("pacticipant");
  if (pacticipant !== undefined) s.pacticipant = pacticipant;
  const version = given("version");
  if (version !== undefined) s.version = version;
  if (raw.latest === "true") s.latest = true;
  const branch = given("branch");
  if (branch !== undefined) s.branch = branch;
  const tag = given("tag");
  if (tag !== undefined) s.tag = tag;
  const environment = given("environment");
  if (environment !== undefined) s.environment = environment;
  if (raw.mainBranch === "true") s.mainBranch = true;
  return s;
}

/** GET /matrix's query, read as lib/pact_broker/matrix/parse_query.rb reads it. */
export function parseMatrixQuery(query: Query): MatrixQuery {
  const rawSelectors: Record<string, string>[] = [];
  const rawIgnore: Record<string, string>[] = [];
  const q: MatrixQuery = { selectors: [], ignore: [] };
  for (const [key, value] of query.entries()) {
    const selectorField = fieldOf(key, "q");
    const ignoreField = fieldOf(key, "ignore");
    if (selectorField !== undefined) pushField(rawSelectors, selectorField, value);
    else if (ignoreField !== undefined) pushField(rawIgnore, ignoreField, value);
    else if (value === "") continue;
    else if (key === "latestby") {
      if (value !== "cvp" && value !== "cvpv")
        throw new HttpError(400, { errors: ["latestby must be cvp or cvpv (cp is not supported)"] });
      q.latestby = value;
    } else if (key === "environment") q.environment = value;
    else if (key === "latest") q.latest = value === "true";
    else if (key === "tag") q.tag = value;
    else if (key === "mainBranch") q.mainBranch = value === "true";
    else if (key === "limit") q.limit = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  }
  q.selectors = rawSelectors.map(selectorOf);
  q.ignore = rawIgnore.map(selectorOf);
  return q;
}

/**
 * GET /can-i-deploy's query: lib/pact_broker/matrix/can_i_deploy_query_schema.rb
 * (400 with the messages by field) and parse_can_i_deploy_query.rb.
 */
export function parseCanIDeployQuery(query: Query, d: BrokerData): MatrixQuery {
  const errors: Record<string, string[]> = {};
  const fail = (field: string, message: string) => {
    errors[field] = [...(errors[field] ?? []), message];
  };
  const text = (name: string) => {
    const v = query.get(name);
    if (v === undefined) fail(name, `${name} is missing`);
    else if (v === "") fail(name, `${name} must be filled`);
    return v || undefined;
  };
  const pacticipant = text("pacticipant");
  const version = text("version");
  const to = query.get("to") || undefined;
  const environment = query.get("environment") || undefined;
  if (pacticipant !== undefined && !d.pacticipant(pacticipant))
    fail("pacticipant", `No pacticipant with name '${pacticipant}' found`);
  if (environment !== undefined && !d.environment(environment))
    fail("environment", `environment with name '${environment}' does not exist`);
  if (to !== undefined && environment !== undefined)
    fail("environment", "Cannot specify both a 'to' tag and an environment.");
  if (to === undefined && environment === undefined)
    fail("environment", "Must specify either an environment or a 'to' tag.");
  if (Object.keys(errors).length > 0) throw new HttpError(400, { errors });

  const q: MatrixQuery = { selectors: [{ pacticipant, version }], ignore: [], latestby: "cvp" };
  if (to !== undefined) Object.assign(q, { tag: to, latest: true });
  if (environment !== undefined) Object.assign(q, { environment, latestby: "cvpv" });
  const rawIgnore: Record<string, string>[] = [];
  for (const [key, value] of query.entries()) {
    if (key === "ignore[]" && value !== "") q.ignore.push({ pacticipant: value });
    const field = fieldOf(key, "ignore");
    if (field !== undefined) pushField(rawIgnore, field, value);
  }
  q.ignore.push(...rawIgnore.map(selectorOf).filter((s) => s.pacticipant !== undefined));
  return q;
}
