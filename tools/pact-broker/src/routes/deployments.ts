import type { BrokerData, Version } from "../domain/model.ts";
import { badRequest, created, isObject, link, notFound, ok, optString } from "../http-util.ts";
import type { Router } from "../router.ts";
import { type Broker, known, needEnvironment, needVersion } from "./context.ts";
import { embeddedPacticipantBody, environmentBody, versionBody } from "./representations.ts";
import { urls as u } from "./urls.ts";

// Deployed versions (a new deployment of a pacticipant to an environment and
// application instance replaces the previous one) and released versions
// (several may be supported at once), as `pact-broker record-deployment`,
// record-undeployment, record-release and record-support-ended use them.

function pacticipantOf(d: BrokerData, v: Version) {
  return known(d.pacticipantById.get(v.pacticipantId), `pacticipant ${v.pacticipantId}`);
}

/**
 * Whether a version belongs to the pacticipant and version number a
 * currently-deployed/currently-supported query names (either may be absent).
 */
function matchesQuery(d: BrokerData, versionId: number, name?: string, number?: string): boolean {
  const v = d.versionById.get(versionId);
  if (!v) return false;
  if (name !== undefined && d.name(v.pacticipantId).toLowerCase() !== name.toLowerCase()) return false;
  return number === undefined || v.number === number;
}

function deployedBody(b: string, d: BrokerData, uuid: string) {
  const dep = d.s.deployedVersions.find((x) => x.uuid === uuid);
  if (!dep) throw notFound(`deployed version ${uuid}`);
  const v = known(d.versionById.get(dep.versionId), `version ${dep.versionId}`);
  const env = known(
    d.s.environments.find((e) => e.uuid === dep.environmentUuid),
    `environment ${dep.environmentUuid}`,
  );
  return {
    uuid: dep.uuid,
    currentlyDeployed: dep.undeployedAt === null,
    applicationInstance: dep.applicationInstance,
    target: dep.applicationInstance,
    createdAt: dep.createdAt,
    undeployedAt: dep.undeployedAt,
    _embedded: {
      pacticipant: embeddedPacticipantBody(b, pacticipantOf(d, v)),
      version: versionBody(b, d, v),
      environment: environmentBody(b, env),
    },
    _links: { self: link(u.deployedVersion(b, dep.uuid)) },
  };
}

function releasedBody(b: string, d: BrokerData, uuid: string) {
  const rel = d.s.releasedVersions.find((x) => x.uuid === uuid);
  if (!rel) throw notFound(`released version ${uuid}`);
  const v = known(d.versionById.get(rel.versionId), `version ${rel.versionId}`);
  const env = known(
    d.s.environments.find((e) => e.uuid === rel.environmentUuid),
    `environment ${rel.environmentUuid}`,
  );
  return {
    uuid: rel.uuid,
    currentlySupported: rel.supportEndedAt === null,
    createdAt: rel.createdAt,
    supportEndedAt: rel.supportEndedAt,
    _embedded: {
      pacticipant: embeddedPacticipantBody(b, pacticipantOf(d, v)),
      version: versionBody(b, d, v),
      environment: environmentBody(b, env),
    },
    _links: { self: link(u.releasedVersion(b, rel.uuid)) },
  };
}

export function deploymentRoutes(router: Router, { store, data }: Broker): void {
  router.post(
    "/pacticipants/:pacticipant/versions/:version/deployed-versions/environment/:uuid",
    async ({ base: b, params, body }) => {
      const raw = await body();
      const input = isObject(raw) ? raw : {};
      const instance = optString(input, "applicationInstance") || optString(input, "target") || null;
      const d = await data();
      const { v } = needVersion(d, params.pacticipant, params.version);
      needEnvironment(d, params.uuid);
      const uuid = await store.write((tx) => tx.recordDeployment(v.id, params.uuid, instance));
      return created(deployedBody(b, await data(), uuid));
    },
  );
  router.post(
    "/pacticipants/:pacticipant/versions/:version/released-versions/environment/:uuid",
    async ({ base: b, params }) => {
      const d = await data();
      const { v } = needVersion(d, params.pacticipant, params.version);
      needEnvironment(d, params.uuid);
      const uuid = await store.write((tx) => tx.recordRelease(v.id, params.uuid));
      return created(releasedBody(b, await data(), uuid));
    },
  );

  router.get(
    "/environments/:uuid/deployed-versions/currently-deployed",
    async ({ base: b, params, query, url }) => {
      const d = await data();
      const env = needEnvironment(d, params.uuid);
      const name = query.get("pacticipant");
      const number = query.get("version");
      // An empty applicationInstance (or its old name, target) asks for the deployments without one.
      const given = url.searchParams.has("applicationInstance")
        ? query.get("applicationInstance")
        : query.get("target");
      const instance = given === undefined ? undefined : given === "" ? null : given;
      const list = d.s.deployedVersions.filter(
        (x) =>
          x.environmentUuid === env.uuid &&
          x.undeployedAt === null &&
          matchesQuery(d, x.versionId, name, number) &&
          (instance === undefined || x.applicationInstance === instance),
      );
      return ok({
        _embedded: { deployedVersions: list.map((x) => deployedBody(b, d, x.uuid)) },
        _links: {
          self: link(u.currentlyDeployed(b, env.uuid), {
            title: `Currently deployed versions for ${env.displayName ?? env.name}`,
          }),
        },
      });
    },
  );
  router.get(
    "/environments/:uuid/released-versions/currently-supported",
    async ({ base: b, params, query }) => {
      const d = await data();
      const env = needEnvironment(d, params.uuid);
      const name = query.get("pacticipant");
      const number = query.get("version");
      const list = d.s.releasedVersions.filter(
        (x) =>
          x.environmentUuid === env.uuid &&
          x.supportEndedAt === null &&
          matchesQuery(d, x.versionId, name, number),
      );
      return ok({
        _embedded: { releasedVersions: list.map((x) => releasedBody(b, d, x.uuid)) },
        _links: {
          self: link(u.currentlySupported(b, env.uuid), {
            title: `Currently supported versions in ${env.displayName ?? env.name}`,
          }),
        },
      });
    },
  );

  router.get("/deployed-versions/:uuid", async ({ base: b, params }) =>
    ok(deployedBody(b, await data(), params.uuid)),
  );
  router.patch("/deployed-versions/:uuid", async ({ base: b, params, body }) => {
    const raw = await body();
    if (!isObject(raw) || raw.currentlyDeployed !== false)
      throw badRequest("currentlyDeployed", "can only be set to false");
    if (!(await store.write((tx) => tx.setDeploymentEnded(params.uuid))))
      throw notFound(`deployed version ${params.uuid}`);
    return ok(deployedBody(b, await data(), params.uuid));
  });
  router.get("/released-versions/:uuid", async ({ base: b, params }) =>
    ok(releasedBody(b, await data(), params.uuid)),
  );
  router.patch("/released-versions/:uuid", async ({ base: b, params, body }) => {
    const raw = await body();
    if (!isObject(raw) || raw.currentlySupported !== false)
      throw badRequest("currentlySupported", "can only be set to false");
    if (!(await store.write((tx) => tx.setSupportEnded(params.uuid))))
      throw notFound(`released version ${params.uuid}`);
    return ok(releasedBody(b, await data(), params.uuid));
  });
}
