import type { BrokerData } from "../domain/model.ts";
import { badRequest, created, isObject, link, notFound, ok, optString } from "../http-util.ts";
import type { Router } from "../router.ts";
import { type Broker, known, needEnvironment, needVersion } from "./context.ts";
import { environmentBody, versionBody } from "./representations.ts";
import { urls as u } from "./urls.ts";

// Deployed versions (a new deployment of a pacticipant to an environment and
// application instance replaces the previous one) and released versions
// (several may be supported at once), as `pact-broker record-deployment`,
// record-undeployment, record-release and record-support-ended use them.

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
    _embedded: { version: versionBody(b, d, v), environment: environmentBody(b, env) },
    _links: { self: link(`${b}/deployed-versions/${dep.uuid}`) },
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
    _embedded: { version: versionBody(b, d, v), environment: environmentBody(b, env) },
    _links: { self: link(`${b}/released-versions/${rel.uuid}`) },
  };
}

export function deploymentRoutes(router: Router, { store, data }: Broker): void {
  router.post(
    "/pacticipants/:pacticipant/versions/:version/deployed-versions/environment/:uuid",
    async ({ base: b, params, body }) => {
      const raw = await body();
      const input = isObject(raw) ? raw : {};
      const instance = optString(input, "applicationInstance") ?? optString(input, "target") ?? null;
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
    async ({ base: b, params, query }) => {
      const d = await data();
      const env = needEnvironment(d, params.uuid);
      const name = query.get("pacticipant");
      const instance = query.get("applicationInstance");
      const list = d.s.deployedVersions.filter((x) => {
        if (x.environmentUuid !== env.uuid || x.undeployedAt !== null) return false;
        const v = d.versionById.get(x.versionId);
        if (name !== undefined && (!v || d.name(v.pacticipantId).toLowerCase() !== name.toLowerCase()))
          return false;
        return instance === undefined || x.applicationInstance === instance;
      });
      return ok({
        _embedded: { deployedVersions: list.map((x) => deployedBody(b, d, x.uuid)) },
        _links: { self: link(`${u.environment(b, env.uuid)}/deployed-versions/currently-deployed`) },
      });
    },
  );
  router.get(
    "/environments/:uuid/released-versions/currently-supported",
    async ({ base: b, params, query }) => {
      const d = await data();
      const env = needEnvironment(d, params.uuid);
      const name = query.get("pacticipant");
      const list = d.s.releasedVersions.filter((x) => {
        if (x.environmentUuid !== env.uuid || x.supportEndedAt !== null) return false;
        const v = d.versionById.get(x.versionId);
        return (
          name === undefined ||
          (v !== undefined && d.name(v.pacticipantId).toLowerCase() === name.toLowerCase())
        );
      });
      return ok({
        _embedded: { releasedVersions: list.map((x) => releasedBody(b, d, x.uuid)) },
        _links: { self: link(`${u.environment(b, env.uuid)}/released-versions/currently-supported`) },
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
