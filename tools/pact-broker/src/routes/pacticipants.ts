import { badRequest, isObject, link, ok, optString, type Reply, reqString } from "../http-util.ts";
import type { Router } from "../router.ts";
import { type Broker, needPacticipant } from "./context.ts";
import { pacticipantBody } from "./representations.ts";
import { urls as u } from "./urls.ts";

// Pacticipants: the applications that consume or provide (name, main branch).
// Names match case-insensitively, as in the real broker.

export function pacticipantRoutes(router: Router, { store, data }: Broker): void {
  router.get("/pacticipants", async ({ base: b }) => {
    const d = await data();
    return ok({
      pacticipants: d.s.pacticipants.map((p) => pacticipantBody(b, p)),
      _embedded: { pacticipants: d.s.pacticipants.map((p) => pacticipantBody(b, p)) },
      _links: {
        self: link(`${b}/pacticipants`),
        "pb:pacticipants": d.s.pacticipants.map((p) => link(u.pacticipant(b, p.name), { name: p.name })),
      },
    });
  });

  /** Creates the pacticipant or updates its main branch: 201 when new, 200 when it existed. */
  const upsert = async (b: string, name: string, raw: unknown): Promise<Reply> => {
    const body = isObject(raw) ? raw : {};
    const mainBranch = optString(body, "mainBranch");
    const existed = (await data()).pacticipant(name) !== undefined;
    await store.write((tx) => tx.updatePacticipant(name, mainBranch === undefined ? {} : { mainBranch }));
    const p = needPacticipant(await data(), name);
    return { status: existed ? 200 : 201, body: pacticipantBody(b, p) };
  };

  router.post("/pacticipants", async ({ base: b, body }) => {
    const raw = await body();
    if (!isObject(raw)) throw badRequest("body", "must be a JSON object");
    return upsert(b, reqString(raw, "name"), raw);
  });
  router.put("/pacticipants/:pacticipant", async ({ base: b, params, body }) =>
    upsert(b, params.pacticipant, await body()),
  );
  router.patch("/pacticipants/:pacticipant", async ({ base: b, params, body }) =>
    upsert(b, params.pacticipant, await body()),
  );
  router.get("/pacticipants/:pacticipant", async ({ base: b, params }) =>
    ok(pacticipantBody(b, needPacticipant(await data(), params.pacticipant))),
  );
}
