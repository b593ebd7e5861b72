import {
  badRequest,
  created,
  isObject,
  link,
  noContent,
  notFound,
  ok,
  optString,
  reqString,
} from "../http-util.ts";
import type { Router } from "../router.ts";
import { type Broker, needEnvironment } from "./context.ts";
import { environmentBody } from "./representations.ts";

// Environments (staging, production, ...) that versions are deployed or released to.

function environmentInput(raw: unknown) {
  if (!isObject(raw)) throw badRequest("body", "must be a JSON object");
  const name = reqString(raw, "name");
  if (!/^[^\s/]+$/.test(name)) throw badRequest("name", "must not contain spaces or slashes");
  return {
    name,
    displayName: optString(raw, "displayName"),
    production: raw.production === true,
    contacts: raw.contacts,
  };
}

export function environmentRoutes(router: Router, { store, data }: Broker): void {
  router.get("/environments", async ({ base: b, query }) => {
    const d = await data();
    const name = query.get("name");
    const createdAt = await store.environmentsCreatedAt();
    const envs = d.s.environments
      .filter((e) => name === undefined || e.name === name)
      .map((e) => environmentBody(b, e, createdAt.get(e.uuid)));
    return ok({ _embedded: { environments: envs }, _links: { self: link(`${b}/environments`) } });
  });
  router.post("/environments", async ({ base: b, body }) => {
    const input = environmentInput(await body());
    if ((await data()).environment(input.name))
      throw badRequest("name", `Another environment with name '${input.name}' already exists.`);
    const env = await store.write((tx) => tx.createEnvironment(input));
    return created(environmentBody(b, env, (await store.environmentsCreatedAt()).get(env.uuid)));
  });
  router.get("/environments/:uuid", async ({ base: b, params }) => {
    const env = needEnvironment(await data(), params.uuid);
    return ok(environmentBody(b, env, (await store.environmentsCreatedAt()).get(env.uuid)));
  });
  router.put("/environments/:uuid", async ({ base: b, params, body }) => {
    const input = environmentInput(await body());
    const env = await store.write((tx) => tx.updateEnvironment(params.uuid, input));
    if (!env) throw notFound(`environment ${params.uuid}`);
    return ok(environmentBody(b, env, (await store.environmentsCreatedAt()).get(env.uuid)));
  });
  router.delete("/environments/:uuid", async ({ params }) => {
    if (!(await store.write((tx) => tx.deleteEnvironment(params.uuid))))
      throw notFound(`environment ${params.uuid}`);
    return noContent();
  });
}
