import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { type DescMessage, fromJson, type JsonObject, toJson } from "@bufbuild/protobuf";
import { type MessageProvider, providerWithMetadata } from "@pact-foundation/pact";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventRegistry } from "#lib/messaging/events.ts";
import { verifyProvider } from "#test/support/pact-verify.ts";

// Two safety nets for a change to an event or RPC field: buf breaking stops a
// renumbered or retyped proto field before any code runs, and the message
// pacts stop a producer whose JSON no longer has what a consumer reads.
const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "../..");
const BUF = path.join(ROOT, "node_modules/.bin/buf");
const PACT = path.join(ROOT, "contracts/notifications-orders.json");

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "accord-schema-"));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A copy of the buf workspace with one edit applied to orders/v1/events.proto. */
async function workspace(name: string, edit?: (proto: string) => string): Promise<string> {
  const dir = path.join(work, name);
  await cp(path.join(ROOT, "proto"), path.join(dir, "proto"), { recursive: true });
  await cp(path.join(ROOT, "buf.yaml"), path.join(dir, "buf.yaml"));
  if (edit) {
    const file = path.join(dir, "proto/accord/orders/v1/events.proto");
    const before = await readFile(file, "utf8");
    const after = edit(before);
    expect(after).not.toBe(before);
    await writeFile(file, after);
  }
  return dir;
}

async function bufBreaking(changed: string, original: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(BUF, ["breaking", changed, "--against", original]);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

describe("buf breaking (FILE rules)", () => {
  it("passes an unchanged contract", async () => {
    const original = await workspace("original");
    const same = await workspace("same");
    expect((await bufBreaking(same, original)).code).toBe(0);
  });

  it("catches a renumbered field", async () => {
    const original = await workspace("original-2");
    const renumbered = await workspace("renumbered", (p) =>
      p.replace("string payment_id = 5;", "string payment_id = 7;"),
    );
    const result = await bufBreaking(renumbered, original);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("OrderConfirmed");
  });

  it("catches a retyped field", async () => {
    const original = await workspace("original-3");
    const retyped = await workspace("retyped", (p) =>
      p.replace("string payment_id = 5;", "int64 payment_id = 5;"),
    );
    const result = await bufBreaking(retyped, original);
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/payment_id/);
  });
});

describe("buf breaking: retiring a field the protobuf way", () => {
  // The field nobody consumes: the released contract has it, no pact reads it.
  const LEGACY = "string shipment_id = 6;\n  // Nobody reads it any more.\n  string legacy_note = 7;\n}";
  const withLegacy = (p: string) => p.replace("string shipment_id = 6;\n}", LEGACY);
  const retired = (reserved: string) => (p: string) =>
    withLegacy(p).replace(LEGACY, `string shipment_id = 6;\n${reserved}}`);

  it("passes a deleted field whose number and name are reserved", async () => {
    const original = await workspace("legacy-original", withLegacy);
    const changed = await workspace("legacy-reserved", retired('  reserved 7;\n  reserved "legacy_note";\n'));
    const result = await bufBreaking(changed, original);
    expect(result.code, result.output).toBe(0);
  });

  it("fails a deleted field that is not reserved", async () => {
    const original = await workspace("legacy-original-2", withLegacy);
    // Deleted outright: the contract as it is today, without legacy_note.
    const changed = await workspace("legacy-deleted");
    const result = await bufBreaking(changed, original);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('deleted without reserving the number "7"');
    expect(result.output).toContain("legacy_note");
  });

  it("fails a deleted field whose number is reserved but whose name is not (JSON could reuse it)", async () => {
    const original = await workspace("legacy-original-3", withLegacy);
    const changed = await workspace("legacy-number-only", retired("  reserved 7;\n"));
    const result = await bufBreaking(changed, original);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('deleted without reserving the name "legacy_note"');
    expect(result.output).not.toContain("reserving the number");
  });

  it("keeps every other FILE rule", async () => {
    const rules = async (args: string[]) => {
      const { stdout } = await run(BUF, ["config", "ls-breaking-rules", "--format", "json", ...args], {
        cwd: ROOT,
      });
      return stdout
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as { id: string; categories?: string[] });
    };
    const all = await rules(["--version", "v2"]);
    const file = all.filter((r) => r.categories?.includes("FILE")).map((r) => r.id);
    const configured = (await rules(["--configured-only"])).map((r) => r.id).sort();
    const expected = [
      ...file.filter((id) => id !== "FIELD_NO_DELETE"),
      "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED",
      "FIELD_NO_DELETE_UNLESS_NAME_RESERVED",
    ].sort();
    expect(configured).toEqual(expected);
  });
});

describe("message pacts catch a producer that changed an event's JSON", () => {
  interface MessageInteraction {
    description: string;
    contents: { content: JsonObject };
    metadata: { ce_type: string };
  }

  async function interactions(): Promise<MessageInteraction[]> {
    const pact = JSON.parse(await readFile(PACT, "utf8")) as { interactions: MessageInteraction[] };
    return pact.interactions;
  }

  /**
   * Each message as the generated schema writes it (fromJson then toJson of
   * the pact's example) with the metadata the platform sends, so the only
   * difference a test introduces is its own edit.
   */
  async function providers(change?: { description: string; edit: (json: JsonObject) => JsonObject }) {
    const result: Record<string, MessageProvider> = {};
    for (const interaction of await interactions()) {
      const schema = eventRegistry.getMessage(interaction.metadata.ce_type) as DescMessage | undefined;
      if (!schema) throw new Error(`no schema for ${interaction.metadata.ce_type}`);
      const json = toJson(schema, fromJson(schema, interaction.contents.content)) as JsonObject;
      result[interaction.description] = providerWithMetadata(
        async () => (change?.description === interaction.description ? change.edit(json) : json),
        { ce_type: interaction.metadata.ce_type, topic: "orders.events" },
      );
    }
    return result;
  }

  it("accepts events shaped as the consumer expects", async () => {
    await verifyProvider({
      provider: "orders",
      source: { pactUrls: [PACT] },
      messageProviders: await providers(),
    });
  });

  it("rejects an event with a renamed field", async () => {
    const renamed = await providers({
      description: "an OrderConfirmed event",
      edit: ({ paymentId, ...rest }) => ({ ...rest, paymentReference: paymentId ?? null }),
    });
    await expect(
      verifyProvider({ provider: "orders", source: { pactUrls: [PACT] }, messageProviders: renamed }),
    ).rejects.toThrow(/paymentId/);
  });

  it("rejects an event with a retyped field", async () => {
    const retyped = await providers({
      description: "an OrderConfirmed event",
      edit: (json) => ({ ...json, total: "2500 EUR" }),
    });
    await expect(
      verifyProvider({ provider: "orders", source: { pactUrls: [PACT] }, messageProviders: retyped }),
    ).rejects.toThrow(/total/);
  });
});
