import { enc, link, notFound, ok } from "../http-util.ts";
import type { Router } from "../router.ts";
import { type Broker, known, needPacticipant, needVersion, pactVersionBySha } from "./context.ts";
import { pactDocument } from "./representations.ts";
import { urls as u } from "./urls.ts";

// Fetching pacts: by consumer version, the latest per consumer and provider,
// by content (pact version sha), and the latest pacts per provider and overall.

export function pactRoutes(router: Router, { store, data }: Broker): void {
  router.get("/pacts/provider/:provider/consumer/:consumer/version/:version", async ({ base: b, params }) => {
    const d = await data();
    const prov = needPacticipant(d, params.provider);
    const { p: cons, v } = needVersion(d, params.consumer, params.version);
    const pub = d.pactFor(v.id, prov.id);
    if (!pub) throw notFound("pact");
    const pv = known(d.pactVersionById.get(pub.pactVersionId), `pact version ${pub.pactVersionId}`);
    return ok(
      await pactDocument(store, b, cons, prov, pv, {
        "pb:consumer-version": link(u.version(b, cons.name, v.number), {
          title: "Consumer version",
          name: v.number,
        }),
      }),
    );
  });

  router.get("/pacts/provider/:provider/consumer/:consumer/latest", async ({ base: b, params }) => {
    const d = await data();
    const prov = needPacticipant(d, params.provider);
    const cons = needPacticipant(d, params.consumer);
    const latest = d
      .versionsOf(cons.id)
      .map((v) => d.pactFor(v.id, prov.id))
      .filter((x) => x !== undefined)
      .at(-1);
    if (!latest) throw notFound("pact");
    const pv = known(d.pactVersionById.get(latest.pactVersionId), `pact version ${latest.pactVersionId}`);
    return ok(await pactDocument(store, b, cons, prov, pv));
  });

  // The metadata segment (what the pact was selected for, e.g. that it is WIP)
  // does not change the content; as in the real broker, the relation to
  // publish verification results keeps it, so the result is known to be WIP.
  router.get(
    "/pacts/provider/:provider/consumer/:consumer/pact-version/:sha",
    async ({ base: b, params }) => {
      const { prov, cons, pv } = pactVersionBySha(await data(), params.provider, params.consumer, params.sha);
      return ok(await pactDocument(store, b, cons, prov, pv));
    },
  );
  router.get(
    "/pacts/provider/:provider/consumer/:consumer/pact-version/:sha/metadata/:metadata",
    async ({ base: b, params }) => {
      const { prov, cons, pv } = pactVersionBySha(await data(), params.provider, params.consumer, params.sha);
      const withMetadata = `${u.pactVersion(b, prov.name, cons.name, pv.sha)}/metadata/${enc(params.metadata)}`;
      return ok(
        await pactDocument(store, b, cons, prov, pv, {
          "pb:publish-verification-results": link(`${withMetadata}/verification-results`, {
            title: "Publish verification results",
          }),
        }),
      );
    },
  );

  router.get("/pacts/provider/:provider/latest", async ({ base: b, params }) => {
    const d = await data();
    const prov = needPacticipant(d, params.provider);
    const pacts = d.consumersOf(prov.id).flatMap((cid) => {
      const latest = d
        .versionsOf(cid)
        .map((v) => d.pactFor(v.id, prov.id))
        .filter((x) => x !== undefined)
        .at(-1);
      const pv = latest ? d.pactVersionById.get(latest.pactVersionId) : undefined;
      if (!pv) return [];
      const cons = known(d.pacticipantById.get(cid), `pacticipant ${cid}`);
      return [
        link(u.pactVersion(b, prov.name, cons.name, pv.sha), {
          title: `Pact between ${cons.name} and ${prov.name}`,
          name: cons.name,
        }),
      ];
    });
    return ok({
      _links: {
        self: link(`${b}/pacts/provider/${enc(prov.name)}/latest`),
        provider: link(u.pacticipant(b, prov.name)),
        pacts,
      },
    });
  });

  router.get("/pacts/latest", async ({ base: b }) => {
    const d = await data();
    const pacts = [];
    for (const prov of d.s.pacticipants) {
      for (const cid of d.consumersOf(prov.id)) {
        const versions = d.versionsOf(cid).filter((v) => d.pactFor(v.id, prov.id));
        const v = versions.at(-1);
        const pub = v ? d.pactFor(v.id, prov.id) : undefined;
        const pv = pub ? d.pactVersionById.get(pub.pactVersionId) : undefined;
        if (!v || !pub || !pv) continue;
        const cons = known(d.pacticipantById.get(cid), `pacticipant ${cid}`);
        pacts.push({
          createdAt: pub.createdAt,
          _embedded: {
            consumer: {
              name: cons.name,
              _links: { self: link(u.pacticipant(b, cons.name)) },
              _embedded: { version: { number: v.number } },
            },
            provider: { name: prov.name, _links: { self: link(u.pacticipant(b, prov.name)) } },
          },
          _links: {
            self: [
              link(u.pactForVersion(b, prov.name, cons.name, v.number)),
              link(u.pactVersion(b, prov.name, cons.name, pv.sha)),
            ],
          },
        });
      }
    }
    return ok({ pacts, _links: { self: link(`${b}/pacts/latest`) } });
  });
}
