import { describe, expect, it } from "vitest";
import {
  type Json,
  mergePacts,
  type PactDoc,
  PactMergeConflict,
  pactSha,
  sameContent,
} from "./pact-content.ts";

// The sha that identifies pact content (SortContent + GenerateSha of the real
// broker) and merging.

const interaction = (description: string, body: Json) => ({
  description,
  request: { method: "GET", path: `/${description}` },
  response: { status: 200, body },
});
const pact = (interactions: Json[], spec = "2.0.0", tool = "1"): PactDoc => ({
  consumer: { name: "web" },
  provider: { name: "api" },
  interactions,
  metadata: { pactSpecification: { version: spec }, "pact-js": { version: tool } },
});

describe("pactSha", () => {
  it("does not depend on the order of interactions, messages or keys, nor on tool versions", () => {
    const a = interaction("a", { id: 1, lines: [1, 2] });
    const b = interaction("b", { id: 2 });
    expect(pactSha(pact([a, b]))).toBe(pactSha(pact([b, a], "2.0.0", "2")));
    const reKeyed = { response: a.response, request: a.request, description: a.description };
    expect(sameContent(pact([a, b]), pact([b, reKeyed]))).toBe(true);
    const messages = (list: Json[]): PactDoc => ({
      consumer: { name: "c" },
      provider: { name: "p" },
      messages: list,
    });
    expect(pactSha(messages([{ description: "x" }, { description: "y" }]))).toBe(
      pactSha(messages([{ description: "y" }, { description: "x" }])),
    );
  });

  it("depends on the order of values inside an interaction and on the specification version", () => {
    const a = interaction("a", { lines: [1, 2] });
    expect(pactSha(pact([a]))).not.toBe(pactSha(pact([interaction("a", { lines: [2, 1] })])));
    expect(pactSha(pact([a]))).not.toBe(pactSha(pact([a], "3.0.0")));
  });
});

describe("mergePacts", () => {
  it("adds new interactions and refuses to change one already there", () => {
    const a = interaction("a", { id: 1 });
    const merged = mergePacts(pact([a]), pact([interaction("b", {})]));
    expect((merged.interactions as { description: string }[]).map((i) => i.description)).toEqual(["a", "b"]);
    expect(() => mergePacts(pact([a]), pact([interaction("a", { id: 2 })]))).toThrow(PactMergeConflict);
  });
});
