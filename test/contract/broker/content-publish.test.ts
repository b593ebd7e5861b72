import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BrokerProcess,
  pactDocument,
  publishVerificationResult,
  publishWithCli,
  type SimpleInteraction,
  startBroker,
} from "#test/support/broker.ts";
import { queryDatabase } from "#test/support/postgres.ts";

// What a publication may change, and when two pacts are the same content, as
// the real Pact Broker decides it: lib/pact_broker/pacts/service.rb
// (disallowed_modification?), contracts/service.rb and its spec (409 on a
// conflict unless allow_dangerous_contract_modification), merger.rb,
// pacts/sort_content.rb and generate_sha.rb (the sha of the sorted content).

let broker: BrokerProcess;
let permissive: BrokerProcess;

const a: SimpleInteraction = { description: "a request for order 1", path: "/orders/1", body: { id: "1" } };
const b: SimpleInteraction = { description: "a request for order 2", path: "/orders/2", body: { id: "2" } };
const c: SimpleInteraction = { description: "a request for order 3", path: "/orders/3", body: { id: "3" } };

const enc = encodeURIComponent;

async function pactHref(on: BrokerProcess, provider: string, consumer: string, version: string) {
  const r = await on.request(
    `/pacts/provider/${enc(provider)}/consumer/${enc(consumer)}/version/${enc(version)}`,
  );
  expect(r.status).toBe(200);
  return r.body as { interactions: { description: string }[]; _links: { self: { href: string } } };
}

function base64(doc: unknown): string {
  return Buffer.from(JSON.stringify(doc)).toString("base64");
}

beforeAll(async () => {
  [broker, permissive] = await Promise.all([
    startBroker(),
    startBroker({ env: { PACT_BROKER_ALLOW_DANGEROUS_CONTRACT_MODIFICATION: "true" } }),
  ]);
  expect((await broker.cli(["create-environment", "--name", "prod"])).code).toBe(0);
});

afterAll(async () => {
  await Promise.all([broker?.stop(), permissive?.stop()]);
});

describe("changing the content published for a consumer version", () => {
  it("is refused with 409 by default, and the first content stays", async () => {
    const first = await publishWithCli(broker, [pactDocument("Foo30", "Bar30", [a])], "1", {
      branch: "main",
    });
    expect(first.code, first.output).toBe(0);
    expect(first.output).toContain("Pact successfully published for Foo30 version 1 and provider Bar30.");

    const changed = await publishWithCli(broker, [pactDocument("Foo30", "Bar30", [a, b])], "1", {
      branch: "main",
    });
    expect(changed.code, changed.output).not.toBe(0);
    expect(changed.output).toContain("Cannot change the content of the pact for Foo30 version 1");
    expect((await pactHref(broker, "Bar30", "Foo30", "1")).interactions.map((i) => i.description)).toEqual([
      a.description,
    ]);

    // The same through the API: 409 with the notices and the errors per contract.
    const raw = await broker.request("/contracts/publish", {
      body: {
        pacticipantName: "Foo30",
        pacticipantVersionNumber: "1",
        branch: "main",
        contracts: [
          {
            consumerName: "Foo30",
            providerName: "Bar30",
            specification: "pact",
            contentType: "application/json",
            content: base64(pactDocument("Foo30", "Bar30", [b])),
          },
        ],
      },
    });
    expect(raw.status).toBe(409);
    const body = raw.body as { notices: { type: string; text: string }[]; errors: { contracts: string[] } };
    expect(body.notices.some((n) => n.type === "error")).toBe(true);
    expect(body.errors.contracts).toHaveLength(1);
    expect(body.errors.contracts[0]).toContain("Cannot change the content of the pact for Foo30 version 1");
  });

  it("republishing the same content is fine", async () => {
    const doc = pactDocument("Foo32", "Bar32", [a]);
    expect((await publishWithCli(broker, [doc], "1", { branch: "main" })).code).toBe(0);
    const again = await publishWithCli(broker, [doc], "1", { branch: "main" });
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain(
      "Pact successfully republished for Foo32 version 1 and provider Bar32 with no content changes.",
    );
  });

  it("the legacy PUT of a pact is refused with 409 too", async () => {
    const url = "/pacts/provider/Bar33/consumer/Foo33/version/1";
    expect(
      (await broker.request(url, { method: "PUT", body: pactDocument("Foo33", "Bar33", [a]) })).status,
    ).toBe(201);
    expect(
      (await broker.request(url, { method: "PUT", body: pactDocument("Foo33", "Bar33", [a]) })).status,
    ).toBe(200);
    const changed = await broker.request(url, { method: "PUT", body: pactDocument("Foo33", "Bar33", [b]) });
    expect(changed.status).toBe(409);
    expect(JSON.stringify(changed.body)).toContain(
      "Cannot change the content of the pact for Foo33 version 1",
    );
  });

  it("--merge adds interactions; an interaction that differs from the published one is a 409", async () => {
    expect((await publishWithCli(broker, [pactDocument("Foo34", "Bar34", [a])], "1")).code).toBe(0);
    const merged = await publishWithCli(broker, [pactDocument("Foo34", "Bar34", [b])], "1", { merge: true });
    expect(merged.code, merged.output).toBe(0);
    expect(merged.output).toContain(
      "Pact content merged with existing content for Foo34 version 1 and provider Bar34.",
    );
    expect((await pactHref(broker, "Bar34", "Foo34", "1")).interactions.map((i) => i.description)).toEqual([
      a.description,
      b.description,
    ]);

    const clash = await publishWithCli(
      broker,
      [pactDocument("Foo34", "Bar34", [{ ...a, body: { id: "9" } }])],
      "1",
      {
        merge: true,
      },
    );
    expect(clash.code, clash.output).not.toBe(0);
    expect(clash.output).toContain("a request for order 1");
  });

  it("is accepted, with a warning, when PACT_BROKER_ALLOW_DANGEROUS_CONTRACT_MODIFICATION=true", async () => {
    expect((await publishWithCli(permissive, [pactDocument("Foo35", "Bar35", [a])], "1")).code).toBe(0);
    const changed = await publishWithCli(permissive, [pactDocument("Foo35", "Bar35", [b])], "1");
    expect(changed.code, changed.output).toBe(0);
    expect(changed.output).toContain(
      "Pact with changed content published over existing content for Foo35 version 1 and provider Bar35.",
    );
    expect(
      (await pactHref(permissive, "Bar35", "Foo35", "1")).interactions.map((i) => i.description),
    ).toEqual([b.description]);
  });
});

describe("content stored before the sha sorted interactions", () => {
  it("stays the consumer version's pact when the same content is published again", async () => {
    const doc = pactDocument("Foo37", "Bar37", [a, b]);
    expect((await publishWithCli(broker, [doc], "1", { branch: "main" })).code).toBe(0);
    // As if stored by an older broker: the same content under another sha.
    await queryDatabase(
      broker.database,
      "UPDATE pact_versions SET sha = 'older-sha' WHERE content->'consumer'->>'name' = 'Foo37'",
    );
    const again = await publishWithCli(broker, [pactDocument("Foo37", "Bar37", [b, a])], "1", {
      branch: "main",
    });
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain("with no content changes");
    expect((await pactHref(broker, "Bar37", "Foo37", "1"))._links.self.href).toMatch(
      /pact-version\/older-sha$/,
    );
    const put = await broker.request("/pacts/provider/Bar37/consumer/Foo37/version/1", {
      method: "PUT",
      body: doc,
    });
    expect(put.status).toBe(200);
    expect((put.body as { _links: { self: { href: string } } })._links.self.href).toMatch(/older-sha$/);
  });
});

describe("the same content in another order", () => {
  it("reordered interactions are the same pact version: one verification counts for both consumer versions", async () => {
    expect(
      (await publishWithCli(broker, [pactDocument("Foo31", "Bar31", [a, b, c])], "1", { branch: "main" }))
        .code,
    ).toBe(0);
    const verified = await publishVerificationResult(broker, {
      provider: "Bar31",
      consumer: "Foo31",
      consumerVersion: "1",
      providerVersion: "p1",
      success: true,
      branch: "main",
    });
    expect(verified.status).toBe(201);
    expect(
      (
        await broker.cli([
          "record-deployment",
          "--pacticipant",
          "Bar31",
          "--version",
          "p1",
          "--environment",
          "prod",
        ])
      ).code,
    ).toBe(0);

    const reordered = await publishWithCli(broker, [pactDocument("Foo31", "Bar31", [c, a, b])], "2", {
      branch: "main",
    });
    expect(reordered.code, reordered.output).toBe(0);
    expect((await pactHref(broker, "Bar31", "Foo31", "2"))._links.self.href).toBe(
      (await pactHref(broker, "Bar31", "Foo31", "1"))._links.self.href,
    );
    const gate = await broker.cli([
      "can-i-deploy",
      "--pacticipant",
      "Foo31",
      "--version",
      "2",
      "--to-environment",
      "prod",
    ]);
    expect(gate.code, gate.output).toBe(0);

    // Not a change of content either, so republishing version 1 reordered is no conflict.
    const again = await publishWithCli(broker, [pactDocument("Foo31", "Bar31", [b, c, a])], "1", {
      branch: "main",
    });
    expect(again.code, again.output).toBe(0);
  });

  it("messages of a message pact are sorted too; key order never matters; order inside an interaction does", async () => {
    const message = (description: string, content: unknown) => ({
      description,
      providerStates: [],
      contents: content,
      metadata: { contentType: "application/json" },
    });
    const doc = (messages: unknown[]) => ({
      consumer: { name: "Foo36" },
      provider: { name: "Bar36" },
      messages,
      metadata: { pactSpecification: { version: "3.0.0" } },
    });
    const put = async (version: string, body: unknown) => {
      const r = await broker.request(`/pacts/provider/Bar36/consumer/Foo36/version/${version}`, {
        method: "PUT",
        body,
      });
      expect(r.status).toBe(201);
      return (r.body as { _links: { self: { href: string } } })._links.self.href;
    };
    const m1 = message("order placed", { id: 1, lines: [1, 2] });
    const m2 = message("order shipped", { id: 1 });
    const first = await put("1", doc([m1, m2]));
    expect(
      await put(
        "2",
        doc([
          m2,
          { contents: m1.contents, metadata: m1.metadata, description: m1.description, providerStates: [] },
        ]),
      ),
    ).toBe(first);
    expect(await put("3", doc([message("order placed", { id: 1, lines: [2, 1] }), m2]))).not.toBe(first);
  });
});
