import {
  type MatrixQuery,
  MatrixQueryError,
  type MatrixRow,
  type MatrixSelector,
  queryMatrix,
} from "../domain/matrix.ts";
import type { BrokerData, Pacticipant, Version } from "../domain/model.ts";
import { badRequest, HttpError, link, ok, type Reply } from "../http-util.ts";
import type { Query, Router } from "../router.ts";
import { type Broker, known } from "./context.ts";
import { urls as u } from "./urls.ts";

// The compatibility matrix and can-i-deploy: which consumer and provider
// versions have a successful verification between them, and whether a version
// can go to an environment given what is deployed or released there.

export function matrixRoutes(router: Router, { data }: Broker): void {
  const reply = async (b: string, q: MatrixQuery, self: string): Promise<Reply> => {
    const d = await data();
    if (q.environment !== undefined && !d.environment(q.environment))
      throw badRequest("environment", `Environment with name '${q.environment}' does not exist`);
    let result: ReturnType<typeof queryMatrix>;
    try {
      result = queryMatrix(d, q);
    } catch (error) {
      if (error instanceof MatrixQueryError) throw new HttpError(400, { errors: [error.message] });
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
    reply(b, parseMatrixQuery(query), `${b}${url.pathname}${url.search}`),
  );

  router.get("/can-i-deploy", async ({ base: b, url, query }) => {
    const pacticipant = query.required("pacticipant");
    const environment = query.required("environment");
    const selector: MatrixSelector = { pacticipant };
    const version = query.get("version");
    if (version !== undefined) selector.version = version;
    const branch = query.get("branch");
    if (branch !== undefined) Object.assign(selector, { branch, latest: true });
    if (version === undefined && branch === undefined) selector.latest = true;
    return reply(
      b,
      { selectors: [selector], ignore: [], environment, latestby: "cvp" },
      `${b}${url.pathname}${url.search}`,
    );
  });

  router.get(
    "/pacticipants/:pacticipant/branches/:branch/latest-version/can-i-deploy/to-environment/:environment",
    async ({ base: b, params, url }) =>
      reply(
        b,
        {
          selectors: [{ pacticipant: params.pacticipant, branch: params.branch, latest: true }],
          ignore: [],
          environment: params.environment,
          latestby: "cvp",
        },
        `${b}${url.pathname}`,
      ),
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
      version: versionJson(b, d, row.provider, row.providerVersion),
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

/** q[][pacticipant]=A&q[][version]=1&q[][pacticipant]=B&q[][latest]=true...: each pacticipant starts a selector. */
export function parseMatrixQuery(query: Query): MatrixQuery {
  const selectors: MatrixSelector[] = [];
  const ignore: { pacticipant: string; version?: string }[] = [];
  const q: MatrixQuery = { selectors, ignore };
  const bool = (v: string) => v === "true";
  for (const [rawKey, value] of query.entries()) {
    const key = rawKey.replace(/\[\d+\]/g, "[]");
    const selectorField = /^q\[\]\[(\w+)\]$/.exec(key)?.[1];
    const ignoreField = /^ignore\[\]\[(\w+)\]$/.exec(key)?.[1];
    if (selectorField !== undefined) {
      if (selectorField === "pacticipant") {
        selectors.push({ pacticipant: value });
        continue;
      }
      const cur = selectors.at(-1);
      if (!cur) throw badRequest(rawKey, "must follow a q[][pacticipant]");
      if (selectorField === "version") cur.version = value;
      else if (selectorField === "latest") cur.latest = bool(value);
      else if (selectorField === "tag") cur.tag = value;
      else if (selectorField === "branch") cur.branch = value;
      else if (selectorField === "mainBranch") cur.mainBranch = bool(value);
    } else if (ignoreField !== undefined) {
      if (ignoreField === "pacticipant") ignore.push({ pacticipant: value });
      else if (ignoreField === "version") {
        const cur = ignore.at(-1);
        if (!cur) throw badRequest(rawKey, "must follow an ignore[][pacticipant]");
        cur.version = value;
      }
    } else if (key === "latestby") {
      if (value !== "cvp" && value !== "cvpv") throw badRequest("latestby", "must be cvp or cvpv");
      q.latestby = value;
    } else if (key === "environment") q.environment = value;
    else if (key === "latest") q.latest = bool(value);
    else if (key === "tag") q.tag = value;
    else if (key === "mainBranch") q.mainBranch = bool(value);
  }
  if (selectors.length === 0) throw badRequest("q", "Please provide 1 or more version selectors.");
  return q;
}
