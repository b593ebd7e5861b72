import type { Tx } from "../db/store.ts";
import {
  consumerName,
  mergePacts,
  PactContentError,
  type PactDoc,
  PactMergeConflict,
  parsePact,
  providerName,
  sameContent,
} from "../domain/pact-content.ts";
import {
  badRequest,
  enc,
  HttpError,
  isObject,
  isStringArray,
  link,
  ok,
  optString,
  reqString,
} from "../http-util.ts";
import type { Router } from "../router.ts";
import { type Broker, known, needPacticipant, needVersion } from "./context.ts";
import { pactDocument, pacticipantBody, versionBody } from "./representations.ts";
import { urls as u } from "./urls.ts";

// Publishing pacts: POST /contracts/publish (what `pact-broker publish` uses:
// version, branch, tags and every pact of a consumer version in one request)
// and the legacy PUT of one pact document.
//
// As in the real broker (allow_dangerous_contract_modification, default
// false), the content published for a consumer version may not change: a
// different pact for the same version is a 409, since can-i-deploy results
// would race with it. Republishing the same content (in any order of its
// interactions) is fine, and --merge may add interactions but not change one.

export interface PublishSettings {
  /** PACT_BROKER_ALLOW_DANGEROUS_CONTRACT_MODIFICATION: let a version's pact content change. */
  allowDangerousContractModification: boolean;
}

const message = {
  published: (c: string, v: string, p: string) =>
    `Pact successfully published for ${c} version ${v} and provider ${p}.`,
  republished: (c: string, v: string, p: string) =>
    `Pact successfully republished for ${c} version ${v} and provider ${p} with no content changes.`,
  modified: (c: string, v: string, p: string) =>
    `Pact with changed content published over existing content for ${c} version ${v} and provider ${p}. This is not recommended in normal circumstances and may indicate that you have not configured your Pact pipeline correctly. For more information see https://docs.pact.io/go/versioning`,
  merged: (c: string, v: string, p: string) =>
    `Pact content merged with existing content for ${c} version ${v} and provider ${p}.`,
  notAllowed: (c: string, v: string) =>
    `Cannot change the content of the pact for ${c} version ${v}, as race conditions will cause unreliable results for can-i-deploy. Each pact must be published with a unique consumer version number. For more information see https://docs.pact.io/go/versioning`,
};

type Outcome = "published" | "republished" | "modified" | "merged";

/** Why publishing `doc` over what the consumer version has (if anything) is refused; undefined when it is not. */
async function conflictOf(
  tx: Tx,
  consumerVersionId: number,
  providerId: number,
  doc: PactDoc,
  onConflict: "overwrite" | "merge",
  settings: PublishSettings,
  names: { consumer: string; version: string },
): Promise<{ conflict?: string; outcome: Outcome }> {
  const existing = await tx.latestPactContent(consumerVersionId, providerId);
  if (!existing) return { outcome: "published" };
  if (onConflict === "merge") {
    try {
      mergePacts(existing, doc);
    } catch (error) {
      if (error instanceof PactMergeConflict) return { conflict: error.message, outcome: "merged" };
      throw error;
    }
    return { outcome: "merged" };
  }
  if (sameContent(existing, doc)) return { outcome: "republished" };
  if (!settings.allowDangerousContractModification)
    return { conflict: message.notAllowed(names.consumer, names.version), outcome: "modified" };
  return { outcome: "modified" };
}

export function publishRoutes(
  router: Router,
  { store, data }: Broker,
  settings: PublishSettings = { allowDangerousContractModification: false },
): void {
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

    const before = await data();
    const beforeConsumer = before.pacticipant(name);
    const existed = beforeConsumer ? before.version(beforeConsumer.id, number) !== undefined : false;
    const results = await store
      .write(async (tx) => {
        const consumerId = await tx.ensurePacticipant(name);
        const version = await tx.ensureVersion(consumerId, number, buildUrl);
        // Every contract is checked before any is published: a conflict publishes nothing.
        const checked = [];
        for (const c of parsed) {
          const providerId = await tx.ensurePacticipant(c.providerName);
          const check = await conflictOf(tx, version.id, providerId, c.doc, c.onConflict, settings, {
            consumer: name,
            version: number,
          });
          checked.push({ ...c, providerId, ...check });
        }
        const conflicts = checked.flatMap((c) => (c.conflict ? [c.conflict] : []));
        if (conflicts.length > 0)
          throw new HttpError(409, {
            notices: conflicts.map((text) => ({ type: "error", text })),
            errors: { contracts: conflicts },
          });
        if (branch) await tx.addBranch(consumerId, version.id, branch);
        for (const t of tags) await tx.addTag(version.id, t);
        // The same content again is no new revision. (Content stored before the
        // sha sorted interactions may have another sha: it stays the version's pact.)
        for (const c of checked)
          if (c.outcome !== "republished")
            await tx.publishPact(version.id, consumerId, c.providerId, c.doc, c.onConflict);
        return checked;
      })
      .catch(rethrowContent);

    const d = await data();
    const consumer = needPacticipant(d, name);
    const version = known(d.version(consumer.id, number), `version ${number} of ${consumer.name}`);
    const notices = [
      {
        type: "success",
        text: `${existed ? "Updated" : "Created"} ${consumer.name} version ${number}${branch ? ` with branch ${branch}` : ""}${tags.length ? ` and tags ${tags.join(", ")}` : ""}`,
      },
      ...results.map((x) => ({
        type: x.outcome === "modified" ? "warning" : "success",
        text: message[x.outcome](consumer.name, number, x.providerName),
      })),
      ...results.map((x) => ({
        type: "info",
        text: `  Pact: ${u.pactForVersion(b, x.providerName, consumer.name, number)}`,
      })),
    ];
    return ok({
      notices,
      logs: notices.map((n) => ({
        level: n.type === "success" ? "info" : n.type === "warning" ? "warn" : n.type,
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
      const outcome = await store
        .write(async (tx) => {
          const consumerId = await tx.ensurePacticipant(params.consumer);
          const providerId = await tx.ensurePacticipant(params.provider);
          const version = await tx.ensureVersion(consumerId, params.version);
          const check = await conflictOf(tx, version.id, providerId, doc, "overwrite", settings, {
            consumer: params.consumer,
            version: params.version,
          });
          // The real broker's Pact resource: is_conflict? gives 409 with the error message.
          if (check.conflict) throw new HttpError(409, { error: check.conflict });
          if (check.outcome !== "republished")
            await tx.publishPact(version.id, consumerId, providerId, doc, "overwrite");
          return check.outcome;
        })
        .catch(rethrowContent);
      const d = await data();
      const prov = needPacticipant(d, params.provider);
      const { p: cons, v } = needVersion(d, params.consumer, params.version);
      const pub = known(d.pactFor(v.id, prov.id), `pact of ${cons.name} ${v.number} with ${prov.name}`);
      const pv = known(d.pactVersionById.get(pub.pactVersionId), `pact version ${pub.pactVersionId}`);
      const document = await pactDocument(store, b, cons, prov, pv);
      // 201 when the consumer version had no pact with this provider yet, 200 when it had.
      return { status: outcome === "published" ? 201 : 200, body: document };
    },
  );
}

function rethrowContent(error: unknown): never {
  if (error instanceof PactMergeConflict)
    throw new HttpError(409, { errors: { contracts: [error.message] } });
  if (error instanceof PactContentError) throw badRequest("contracts", error.message);
  throw error;
}
