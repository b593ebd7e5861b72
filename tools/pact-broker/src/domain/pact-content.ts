import { createHash } from "node:crypto";

// Pact documents as the broker stores them: validated, merged on request, and
// identified by a sha of their canonical form so identical content published
// by several consumer versions is stored (and verified) once.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type PactDoc = { [key: string]: Json };

export class PactContentError extends Error {}

function canonical(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k] as Json)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** Broker links a client may send back inside the document are not content. */
export function stripLinks(doc: PactDoc): PactDoc {
  const { _links: _l, _embedded: _e, ...rest } = doc;
  return rest;
}

/**
 * The content that identifies a pact, as the real broker's SortContent and
 * GenerateSha see it: key order, the order of the interactions (or messages)
 * and the tool versions in metadata do not change what a pact asks for. The
 * order of values inside an interaction (an array in a body, say) does.
 */
export function pactSha(doc: PactDoc): string {
  const { metadata, ...rest } = stripLinks(doc);
  const spec =
    metadata && typeof metadata === "object" && !Array.isArray(metadata)
      ? (metadata.pactSpecification ?? metadata["pact-specification"] ?? null)
      : null;
  const sorted: { [key: string]: Json } = { ...rest, spec };
  for (const field of ["interactions", "messages"]) {
    const list = rest[field];
    if (Array.isArray(list)) sorted[field] = list.map(canonical).sort();
  }
  return createHash("sha1")
    .update(canonical(sorted as Json))
    .digest("hex");
}

/** Whether two documents are the same content (the same pact version). */
export function sameContent(a: PactDoc, b: PactDoc): boolean {
  return pactSha(a) === pactSha(b);
}

/** A merge that would change an interaction already published (409, as the real broker's Merger.conflict?). */
export class PactMergeConflict extends PactContentError {}

export function parsePact(raw: unknown, where: string): PactDoc {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new PactContentError(`${where}: must be a JSON object`);
  const doc = raw as PactDoc;
  const name = (side: "consumer" | "provider") => {
    const v = doc[side];
    if (!v || typeof v !== "object" || Array.isArray(v) || typeof v.name !== "string" || v.name === "")
      throw new PactContentError(`${where}: ${side}.name is missing`);
    return v.name;
  };
  name("consumer");
  name("provider");
  const interactions = doc.interactions ?? doc.messages;
  if (interactions !== undefined && !Array.isArray(interactions))
    throw new PactContentError(`${where}: interactions must be an array`);
  return stripLinks(doc);
}

export function consumerName(doc: PactDoc): string {
  return (doc.consumer as { name: string }).name;
}

export function providerName(doc: PactDoc): string {
  return (doc.provider as { name: string }).name;
}

function interactionKey(i: Json): string {
  if (i && typeof i === "object" && !Array.isArray(i)) {
    const states = i.providerStates ?? i.providerState ?? null;
    return canonical([i.description ?? null, states] as Json);
  }
  return canonical(i);
}

/**
 * --merge: add the new interactions to the existing pact; an interaction with
 * the same description and provider states but different content is a conflict.
 */
export function mergePacts(existing: PactDoc, incoming: PactDoc): PactDoc {
  const field =
    Array.isArray(incoming.messages) && !Array.isArray(incoming.interactions) ? "messages" : "interactions";
  const old = (existing[field] as Json[] | undefined) ?? [];
  const add = (incoming[field] as Json[] | undefined) ?? [];
  const merged = [...old];
  for (const i of add) {
    const key = interactionKey(i);
    const at = merged.findIndex((o) => interactionKey(o) === key);
    if (at === -1) merged.push(i);
    else if (canonical(merged[at] as Json) !== canonical(i))
      throw new PactMergeConflict(`cannot merge: interaction ${key} differs from the one already published`);
  }
  return { ...existing, [field]: merged };
}
