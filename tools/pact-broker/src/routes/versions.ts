import type { Tx } from "../db/store.ts";
import { enc, isObject, link, noContent, notFound, ok, optString, type Reply } from "../http-util.ts";
import type { Router } from "../router.ts";
import { type Broker, needPacticipant, needVersion } from "./context.ts";
import { versionBody } from "./representations.ts";
import { urls as u } from "./urls.ts";

// Pacticipant versions with their branches and tags. Creating a version, or
// adding it to a branch or tag, is one idempotent PUT: 201 when the version
// is new, 200 when it existed.

export function versionRoutes(router: Router, { store, data }: Broker): void {
  router.get("/pacticipants/:pacticipant/versions", async ({ base: b, params }) => {
    const d = await data();
    const p = needPacticipant(d, params.pacticipant);
    const versions = d
      .versionsOf(p.id)
      .reverse()
      .map((v) => versionBody(b, d, v));
    return ok({ _embedded: { versions }, _links: { self: link(`${u.pacticipant(b, p.name)}/versions`) } });
  });
  router.get("/pacticipants/:pacticipant/versions/:version", async ({ base: b, params }) => {
    const d = await data();
    const { v } = needVersion(d, params.pacticipant, params.version);
    return ok(versionBody(b, d, v));
  });
  router.get("/pacticipants/:pacticipant/latest-version", async ({ base: b, params }) => {
    const d = await data();
    const p = needPacticipant(d, params.pacticipant);
    const v = d.latestVersion(p.id);
    if (!v) throw notFound(`latest version of ${p.name}`);
    return ok(versionBody(b, d, v));
  });
  router.get("/pacticipants/:pacticipant/latest-version/:tag", async ({ base: b, params }) => {
    const d = await data();
    const p = needPacticipant(d, params.pacticipant);
    const v = d.versionsWithTag(p.id, params.tag).at(-1);
    if (!v) throw notFound(`latest version of ${p.name} with tag ${params.tag}`);
    return ok(versionBody(b, d, v));
  });
  router.get("/pacticipants/:pacticipant/branches/:branch", async ({ base: b, params }) => {
    const d = await data();
    const p = needPacticipant(d, params.pacticipant);
    const branch = d.branch(p.id, params.branch);
    if (!branch) throw notFound(`branch ${params.branch} of ${p.name}`);
    return ok({
      name: branch.name,
      createdAt: branch.createdAt,
      _links: {
        self: link(u.branch(b, p.name, branch.name), { title: "Branch", name: branch.name }),
        "pb:latest-version": link(`${u.branch(b, p.name, branch.name)}/latest-version`, {
          title: "Latest version for branch",
        }),
        "pb:pacticipant": link(u.pacticipant(b, p.name), { title: "Pacticipant", name: p.name }),
      },
    });
  });
  router.get("/pacticipants/:pacticipant/branches/:branch/latest-version", async ({ base: b, params }) => {
    const d = await data();
    const p = needPacticipant(d, params.pacticipant);
    const v = d.versionsOnBranch(p.id, params.branch).at(-1);
    if (!v) throw notFound(`latest version of ${p.name} on branch ${params.branch}`);
    return ok(versionBody(b, d, v));
  });

  const putVersion = async (
    b: string,
    name: string,
    number: string,
    options: { branch?: string; tag?: string; body?: unknown } = {},
  ): Promise<Reply> => {
    const body = isObject(options.body) ? options.body : {};
    const before = await data();
    const pacticipant = before.pacticipant(name);
    const existed = pacticipant ? before.version(pacticipant.id, number) !== undefined : false;
    const bodyBranch = optString(body, "branch");
    await store.write(async (tx: Tx) => {
      const pid = await tx.ensurePacticipant(name);
      const v = await tx.ensureVersion(pid, number, optString(body, "buildUrl"));
      for (const br of [options.branch, bodyBranch]) if (br) await tx.addBranch(pid, v.id, br);
      if (options.tag) await tx.addTag(v.id, options.tag);
    });
    const d = await data();
    const { v } = needVersion(d, name, number);
    return { status: existed ? 200 : 201, body: versionBody(b, d, v) };
  };

  router.put("/pacticipants/:pacticipant/versions/:version", async ({ base: b, params, body }) =>
    putVersion(b, params.pacticipant, params.version, { body: await body() }),
  );
  router.put("/pacticipants/:pacticipant/branches/:branch/versions/:version", async ({ base: b, params }) =>
    putVersion(b, params.pacticipant, params.version, { branch: params.branch }),
  );
  // The Rust CLI's create-or-update-version --branch uses this shape.
  router.put("/pacticipants/:pacticipant/versions/:version/branches/:branch", async ({ base: b, params }) =>
    putVersion(b, params.pacticipant, params.version, { branch: params.branch }),
  );
  router.put("/pacticipants/:pacticipant/versions/:version/tags/:tag", async ({ base: b, params }) =>
    putVersion(b, params.pacticipant, params.version, { tag: params.tag }),
  );
  router.get("/pacticipants/:pacticipant/versions/:version/tags/:tag", async ({ base: b, params }) => {
    const d = await data();
    const { p, v } = needVersion(d, params.pacticipant, params.version);
    if (!d.tagsOf(v.id).includes(params.tag)) throw notFound(`tag ${params.tag} of ${p.name} ${v.number}`);
    return ok({
      name: params.tag,
      _links: {
        self: link(`${u.version(b, p.name, v.number)}/tags/${enc(params.tag)}`, {
          title: "Tag",
          name: params.tag,
        }),
        version: link(u.version(b, p.name, v.number), { title: "Version", name: v.number }),
        pacticipant: link(u.pacticipant(b, p.name), { title: "Pacticipant", name: p.name }),
      },
    });
  });
  // delete-version-tag: the version stays, only the tag goes.
  router.delete("/pacticipants/:pacticipant/versions/:version/tags/:tag", async ({ params }) => {
    const { v } = needVersion(await data(), params.pacticipant, params.version);
    if (!(await store.write((tx) => tx.deleteTag(v.id, params.tag)))) throw notFound(`tag ${params.tag}`);
    return noContent();
  });
  router.delete("/pacticipants/:pacticipant/branches/:branch", async ({ params }) => {
    const p = needPacticipant(await data(), params.pacticipant);
    const deleted = await store.write((tx) => tx.deleteBranch(p.id, params.branch));
    if (!deleted) throw notFound(`branch ${params.branch}`);
    return noContent();
  });
}
