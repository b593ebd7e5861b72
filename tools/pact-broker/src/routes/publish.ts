import {
  consumerName,
  PactContentError,
  type PactDoc,
  parsePact,
  providerName,
} from "../domain/pact-content.ts";
import {
  badRequest,
  created,
  enc,
  isObject,
  isStringArray,
  link,
  ok,
  optString,
  reqString,
} from "../http-util.ts";
import type { Router } from "../router.ts";
import { type Broker, known, needPacticipant, pactVersionBySha } from "./context.ts";
import { pactDocument, pacticipantBody, versionBody } from "./representations.ts";
import { urls as u } from "./urls.ts";

// Publishing pacts: POST /contracts/publish (what `pact-broker publish` uses:
// version, branch, tags and every pact of a consumer version in one request)
// and the legacy PUT of one pact document.

export function publishRoutes(router: Router, { store, data }: Broker): void {
  router.post("/contracts/publish", async ({ base: b, body }) => {
    const raw = await body();
    if (!isObject(raw)) throw badRequest("body", "must be a JSON object");
    const name = reqString(raw, "pacticipantName");
    const number = reqString(raw, "pacticipantVersionNumber");
    const branch = optString(raw, "branch");
    const buildUrl = optString(raw, "buildUrl");
    const tags = raw.tags === undefined ? [] : raw.tags;
    if (!isStringArray(tags)) throw badRequest("tags", "must be an array of strings");
    const contracts = raw.contracts;
    if (!Array.isArray(contracts) || contracts.length === 0)
      throw badRequest("contracts", "must be a non-empty array");
    const parsed = contracts.map((c, i) => {
      const where = `contracts[${i}]`;
      if (!isObject(c)) throw badRequest(where, "must be an object");
      const spec = optString(c, "specification") ?? "pact";
      if (spec !== "pact") throw badRequest(`${where}.specification`, "only 'pact' is supported");
      const content = reqString(c, "content");
      let doc: PactDoc;
      try {
        doc = parsePact(JSON.parse(Buffer.from(content, "base64").toString("utf8")), `${where}.content`);
      } catch (error) {
        if (error instanceof PactContentError) throw badRequest(`${where}.content`, error.message);
        throw badRequest(`${where}.content`, "is not base64 encoded JSON");
      }
      const cName = optString(c, "consumerName") ?? consumerName(doc);
      const pName = optString(c, "providerName") ?? providerName(doc);
      if (cName.toLowerCase() !== name.toLowerCase())
        throw badRequest(`${where}.consumerName`, `must match pacticipantName (${name})`);
      if (
        consumerName(doc).toLowerCase() !== cName.toLowerCase() ||
        providerName(doc).toLowerCase() !== pName.toLowerCase()
      )
        throw badRequest(
          `${where}.content`,
          "consumer/provider names in the pact do not match consumerName/providerName",
        );
      const onConflict = optString(c, "onConflict") === "merge" ? "merge" : "overwrite";
      return { providerName: pName, doc, onConflict } as const;
    });

    const results = await store
      .write(async (tx) => {
        const consumerId = await tx.ensurePacticipant(name);
        const version = await tx.ensureVersion(consumerId, number, buildUrl);
        if (branch) await tx.addBranch(consumerId, version.id, branch);
        for (const t of tags) await tx.addTag(version.id, t);
        const out = [];
        for (const c of parsed) {
          const providerId = await tx.ensurePacticipant(c.providerName);
          out.push({
            ...c,
            ...(await tx.publishPact(version.id, consumerId, providerId, c.doc, c.onConflict)),
          });
        }
        return out;
      })
      .catch(rethrowContent);

    const d = await data();
    const consumer = needPacticipant(d, name);
    const version = known(d.version(consumer.id, number), `version ${number} of ${consumer.name}`);
    const notices = [
      {
        type: "success",
        text: `Created ${consumer.name} version ${number}${branch ? ` with branch ${branch}` : ""}${tags.length ? ` and tags ${tags.join(", ")}` : ""}`,
      },
      ...results.map((x) => ({
        type: "success",
        text: `Pact ${x.contentChanged ? "published (content changed)" : "published"} for ${consumer.name} version ${number} and provider ${x.providerName}.`,
      })),
      ...results.map((x) => ({
        type: "info",
        text: `  Pact: ${u.pactForVersion(b, x.providerName, consumer.name, number)}`,
      })),
    ];
    return ok({
      notices,
      logs: notices.map((n) => ({
        level: n.type === "success" ? "info" : n.type,
        message: n.text,
        deprecationWarning: "Replaced by notices",
      })),
      _embedded: { pacticipant: pacticipantBody(b, consumer), version: versionBody(b, d, version) },
      _links: {
        "pb:pacticipant": link(u.pacticipant(b, consumer.name), {
          title: "Pacticipant",
          name: consumer.name,
        }),
        "pb:pacticipant-version": link(u.version(b, consumer.name, number), {
          title: "Pacticipant version",
          name: number,
        }),
        "pb:pacticipant-version-tags": tags.map((t) =>
          link(`${u.version(b, consumer.name, number)}/tags/${enc(t)}`, { title: "Tag", name: t }),
        ),
        "pb:contracts": results.map((x) =>
          link(u.pactForVersion(b, x.providerName, consumer.name, number), {
            title: "Pact",
            name: `Pact between ${consumer.name} (${number}) and ${x.providerName}`,
          }),
        ),
      },
    });
  });

  // Legacy publication: PUT the pact document itself.
  router.put(
    "/pacts/provider/:provider/consumer/:consumer/version/:version",
    async ({ base: b, params, body }) => {
      let doc: PactDoc;
      try {
        doc = parsePact(await body(), "body");
      } catch (error) {
        if (error instanceof PactContentError) throw badRequest("body", error.message);
        throw error;
      }
      if (
        consumerName(doc).toLowerCase() !== params.consumer.toLowerCase() ||
        providerName(doc).toLowerCase() !== params.provider.toLowerCase()
      )
        throw badRequest("body", "consumer/provider names in the pact do not match the URL");
      const res = await store
        .write(async (tx) => {
          const consumerId = await tx.ensurePacticipant(params.consumer);
          const providerId = await tx.ensurePacticipant(params.provider);
          const version = await tx.ensureVersion(consumerId, params.version);
          return tx.publishPact(version.id, consumerId, providerId, doc, "overwrite");
        })
        .catch(rethrowContent);
      const { prov, cons, pv } = pactVersionBySha(await data(), params.provider, params.consumer, res.sha);
      const document = await pactDocument(store, b, cons, prov, pv);
      return res.revision === 1 && !res.contentChanged ? created(document) : ok(document);
    },
  );
}

function rethrowContent(error: unknown): never {
  if (error instanceof PactContentError) throw badRequest("contracts", error.message);
  throw error;
}
