import type { Store, Tx } from "./db/store.ts";
import {
  type ConsumerVersionSelector,
  pactsForVerification,
  SelectorError,
} from "./domain/for-verification.ts";
import {
  type MatrixQuery,
  MatrixQueryError,
  type MatrixRow,
  type MatrixSelector,
  queryMatrix,
} from "./domain/matrix.ts";
import {
  BrokerData,
  type Environment,
  type Pacticipant,
  type PactVersion,
  type Version,
} from "./domain/model.ts";
import {
  consumerName,
  PactContentError,
  type PactDoc,
  parsePact,
  providerName,
} from "./domain/pact-content.ts";
import {
  badRequest,
  type Ctx,
  enc,
  HttpError,
  isObject,
  link,
  notFound,
  optString,
  type Reply,
  Router,
  reqString,
} from "./http-util.ts";

// The Pact Broker HTTP API subset used by the official pact-broker CLI and the
// pact-js (Rust core) Verifier. Resource shapes and relation names follow the
// real broker, so the same scripts work against either.

const ok = (body: unknown): Reply => ({ status: 200, body });
const created = (body: unknown): Reply => ({ status: 201, body });

export function createApi(store: Store): Router {
  const r = new Router();
  const data = async () => new BrokerData(await store.snapshot());

  // ---------- URLs ----------
  const u = {
    pacticipant: (b: string, p: string) => `${b}/pacticipants/${enc(p)}`,
    version: (b: string, p: string, v: string) => `${b}/pacticipants/${enc(p)}/versions/${enc(v)}`,
    pactForVersion: (b: string, prov: string, cons: string, v: string) =>
      `${b}/pacts/provider/${enc(prov)}/consumer/${enc(cons)}/version/${enc(v)}`,
    pactVersion: (b: string, prov: string, cons: string, sha: string) =>
      `${b}/pacts/provider/${enc(prov)}/consumer/${enc(cons)}/pact-version/${sha}`,
    verification: (b: string, prov: string, cons: string, sha: string, id: number) =>
      `${b}/pacts/provider/${enc(prov)}/consumer/${enc(cons)}/pact-version/${sha}/verification-results/${id}`,
    environment: (b: string, uuid: string) => `${b}/environments/${uuid}`,
  };

  // ---------- representations ----------
  const pacticipantBody = (b: string, p: Pacticipant) => ({
    name: p.name,
    displayName: p.name,
    mainBranch: p.mainBranch,
    createdAt: p.createdAt,
    _links: {
      self: link(u.pacticipant(b, p.name)),
      "pb:versions": link(`${u.pacticipant(b, p.name)}/versions`),
      "pb:version": link(`${u.pacticipant(b, p.name)}/versions/{version}`, { templated: true }),
      "pb:version-tag": link(`${u.pacticipant(b, p.name)}/versions/{version}/tags/{tag}`, {
        templated: true,
      }),
      "pb:branch-version": link(`${u.pacticipant(b, p.name)}/branches/{branch}/versions/{version}`, {
        templated: true,
      }),
      "pb:latest-version": link(`${u.pacticipant(b, p.name)}/latest-version`),
    },
  });

  const versionBody = (b: string, d: BrokerData, v: Version) => {
    const p = d.pacticipantById.get(v.pacticipantId) as Pacticipant;
    const branches = d.branchNamesOf(v.id);
    const envLinks = (kind: "deployed-versions" | "released-versions") =>
      d.s.environments.map((e) => ({
        title: `Record ${kind === "deployed-versions" ? "deployment" : "release"} to ${e.displayName ?? e.name}`,
        name: e.name,
        href: `${u.version(b, p.name, v.number)}/${kind}/environment/${e.uuid}`,
      }));
    return {
      number: v.number,
      createdAt: v.createdAt,
      branchVersions: branches.map((name) => ({
        name,
        latest: d.versionsOnBranch(p.id, name).at(-1)?.id === v.id,
      })),
      _embedded: {
        branchVersions: branches.map((name) => ({
          name,
          latest: d.versionsOnBranch(p.id, name).at(-1)?.id === v.id,
          _links: {
            self: link(`${u.pacticipant(b, p.name)}/branches/${enc(name)}/versions/${enc(v.number)}`),
          },
        })),
        tags: d.tagsOf(v.id).map((name) => ({
          name,
          _links: { self: link(`${u.version(b, p.name, v.number)}/tags/${enc(name)}`) },
        })),
      },
      _links: {
        self: link(u.version(b, p.name, v.number), { title: "Version", name: v.number }),
        "pb:pacticipant": link(u.pacticipant(b, p.name), { title: "Pacticipant", name: p.name }),
        "pb:tag": link(`${u.version(b, p.name, v.number)}/tags/{tag}`, { templated: true }),
        "pb:record-deployment": envLinks("deployed-versions"),
        "pb:record-release": envLinks("released-versions"),
      },
    };
  };

  const environmentBody = (b: string, e: Environment) => ({
    uuid: e.uuid,
    name: e.name,
    displayName: e.displayName ?? e.name,
    production: e.production,
    _links: { self: link(u.environment(b, e.uuid), { title: "Environment", name: e.name }) },
  });

  const pactLinks = (b: string, consumer: string, provider: string, sha: string) => ({
    self: link(u.pactVersion(b, provider, consumer, sha), {
      title: "Pact",
      name: `Pact between ${consumer} and ${provider}`,
    }),
    "pb:consumer": link(u.pacticipant(b, consumer), { title: "Consumer", name: consumer }),
    "pb:provider": link(u.pacticipant(b, provider), { title: "Provider", name: provider }),
    "pb:publish-verification-results": link(
      `${u.pactVersion(b, provider, consumer, sha)}/verification-results`,
      {
        title: "Publish verification results",
      },
    ),
  });

  // ---------- lookups ----------
  const needPacticipant = (d: BrokerData, name: string) => {
    const p = d.pacticipant(name);
    if (!p) throw notFound(`pacticipant ${name}`);
    return p;
  };
  const needVersion = (d: BrokerData, name: string, number: string) => {
    const p = needPacticipant(d, name);
    const v = d.version(p.id, number);
    if (!v) throw notFound(`version ${number} of ${name}`);
    return { p, v };
  };
  const needEnvironment = (d: BrokerData, uuid: string) => {
    const e = d.s.environments.find((x) => x.uuid === uuid);
    if (!e) throw notFound(`environment ${uuid}`);
    return e;
  };
  const pactVersionBySha = (d: BrokerData, provider: string, consumer: string, sha: string) => {
    const prov = needPacticipant(d, provider);
    const cons = needPacticipant(d, consumer);
    const pv = d.s.pactVersions.find(
      (x) => x.providerId === prov.id && x.consumerId === cons.id && x.sha === sha,
    );
    if (!pv) throw notFound(`pact version ${sha}`);
    return { prov, cons, pv };
  };
  const pactDocument = async (
    b: string,
    cons: Pacticipant,
    prov: Pacticipant,
    pv: PactVersion,
    extra: object = {},
  ) => {
    const content = await store.pactContent(pv.id);
    if (!content) throw notFound(`pact version ${pv.sha}`);
    return {
      ...content,
      createdAt: pv.createdAt,
      _links: { ...pactLinks(b, cons.name, prov.name, pv.sha), ...extra },
    };
  };

  // ---------- index and health ----------
  r.on("GET", "/", async ({ base: b }) =>
    ok({
      _links: {
        self: link(b, { title: "Index" }),
        "pb:publish-contracts": link(`${b}/contracts/publish`, {
          title: "Publish contracts",
          templated: false,
        }),
        "pb:publish-pact": link(
          `${b}/pacts/provider/{provider}/consumer/{consumer}/version/{consumerApplicationVersion}`,
          {
            title: "Publish a pact",
            templated: true,
          },
        ),
        "pb:latest-pact-versions": link(`${b}/pacts/latest`, { title: "Latest pact versions" }),
        "pb:pacticipants": link(`${b}/pacticipants`, { title: "Pacticipants" }),
        "pb:pacticipant": link(`${b}/pacticipants/{pacticipant}`, {
          title: "Fetch pacticipant by name",
          templated: true,
        }),
        "pb:pacticipant-version": link(`${b}/pacticipants/{pacticipant}/versions/{version}`, {
          title: "Get, create or delete a pacticipant version",
          templated: true,
        }),
        "pb:latest-version": link(`${b}/pacticipants/{pacticipant}/latest-version`, {
          title: "Latest pacticipant version",
          templated: true,
        }),
        "pb:pacticipant-branch-version": link(
          `${b}/pacticipants/{pacticipant}/branches/{branch}/versions/{version}`,
          {
            title: "Add a version to a branch",
            templated: true,
          },
        ),
        "pb:latest-provider-pacts": link(`${b}/pacts/provider/{provider}/latest`, {
          title: "Latest pacts by provider",
          templated: true,
        }),
        "pb:provider-pacts-for-verification": link(`${b}/pacts/provider/{provider}/for-verification`, {
          title: "Pact versions to be verified for the specified provider",
          templated: true,
        }),
        "beta:provider-pacts-for-verification": link(`${b}/pacts/provider/{provider}/for-verification`, {
          title: "Pact versions to be verified for the specified provider",
          templated: true,
        }),
        "pb:environments": link(`${b}/environments`, { title: "Environments" }),
        "pb:environment": link(`${b}/environments/{uuid}`, { title: "Environment", templated: true }),
        "pb:matrix": link(`${b}/matrix`, { title: "The compatibility matrix" }),
        "pb:can-i-deploy-pacticipant-version-to-environment": link(
          `${b}/can-i-deploy?pacticipant={pacticipant}&version={version}&environment={environment}`,
          {
            title: "Determine if an application version can be safely deployed to an environment",
            templated: true,
          },
        ),
        "pb:can-i-deploy-branch-to-environment": link(
          `${b}/pacticipants/{pacticipant}/branches/{branch}/latest-version/can-i-deploy/to-environment/{environment}`,
          {
            title: "Determine if the latest version from a branch can be safely deployed to an environment",
            templated: true,
          },
        ),
        curies: [{ name: "pb", href: `${b}/doc/{rel}?context=index`, templated: true }],
      },
    }),
  );
  r.on("GET", "/diagnostic/status/heartbeat", async ({ base: b }) =>
    ok({ ok: true, _links: { self: link(`${b}/diagnostic/status/heartbeat`) } }),
  );

  // ---------- publishing ----------
  r.on("POST", "/contracts/publish", async ({ base: b, body }) => {
    const raw = await body();
    if (!isObject(raw)) throw badRequest("body", "must be a JSON object");
    const name = reqString(raw, "pacticipantName");
    const number = reqString(raw, "pacticipantVersionNumber");
    const branch = optString(raw, "branch");
    const buildUrl = optString(raw, "buildUrl");
    const tags = raw.tags === undefined ? [] : raw.tags;
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string"))
      throw badRequest("tags", "must be an array of strings");
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
        for (const t of tags as string[]) await tx.addTag(version.id, t);
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
    const version = d.version(consumer.id, number) as Version;
    const notices = [
      {
        type: "success",
        text: `Created ${consumer.name} version ${number}${branch ? ` with branch ${branch}` : ""}${(tags as string[]).length ? ` and tags ${(tags as string[]).join(", ")}` : ""}`,
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
        "pb:pacticipant-version-tags": (tags as string[]).map((t) =>
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
  r.on(
    "PUT",
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
        consumerName(doc).toLowerCase() !== params.consumer?.toLowerCase() ||
        providerName(doc).toLowerCase() !== params.provider?.toLowerCase()
      )
        throw badRequest("body", "consumer/provider names in the pact do not match the URL");
      const res = await store
        .write(async (tx) => {
          const consumerId = await tx.ensurePacticipant(params.consumer as string);
          const providerId = await tx.ensurePacticipant(params.provider as string);
          const version = await tx.ensureVersion(consumerId, params.version as string);
          return tx.publishPact(version.id, consumerId, providerId, doc, "overwrite");
        })
        .catch(rethrowContent);
      const d = await data();
      const { prov, cons, pv } = pactVersionBySha(
        d,
        params.provider as string,
        params.consumer as string,
        res.sha,
      );
      const body2 = await pactDocument(b, cons, prov, pv);
      return res.revision === 1 && !res.contentChanged ? created(body2) : ok(body2);
    },
  );

  r.on(
    "GET",
    "/pacts/provider/:provider/consumer/:consumer/version/:version",
    async ({ base: b, params }) => {
      const d = await data();
      const prov = needPacticipant(d, params.provider as string);
      const { p: cons, v } = needVersion(d, params.consumer as string, params.version as string);
      const pub = d.pactFor(v.id, prov.id);
      if (!pub) throw notFound("pact");
      const pv = d.pactVersionById.get(pub.pactVersionId) as PactVersion;
      return ok(
        await pactDocument(b, cons, prov, pv, {
          "pb:consumer-version": link(u.version(b, cons.name, v.number), {
            title: "Consumer version",
            name: v.number,
          }),
        }),
      );
    },
  );

  r.on("GET", "/pacts/provider/:provider/consumer/:consumer/latest", async ({ base: b, params }) => {
    const d = await data();
    const prov = needPacticipant(d, params.provider as string);
    const cons = needPacticipant(d, params.consumer as string);
    const latest = d
      .versionsOf(cons.id)
      .map((v) => d.pactFor(v.id, prov.id))
      .filter((x) => x !== undefined)
      .at(-1);
    if (!latest) throw notFound("pact");
    return ok(await pactDocument(b, cons, prov, d.pactVersionById.get(latest.pactVersionId) as PactVersion));
  });

  const getPactVersion = async ({ base: b, params }: Ctx) => {
    const d = await data();
    const { prov, cons, pv } = pactVersionBySha(
      d,
      params.provider as string,
      params.consumer as string,
      params.sha as string,
    );
    return ok(await pactDocument(b, cons, prov, pv));
  };
  r.on("GET", "/pacts/provider/:provider/consumer/:consumer/pact-version/:sha", getPactVersion);
  r.on(
    "GET",
    "/pacts/provider/:provider/consumer/:consumer/pact-version/:sha/metadata/:metadata",
    getPactVersion,
  );

  // ---------- verification results ----------
  const publishVerification = async ({ base: b, params, body }: Ctx) => {
    const raw = await body();
    if (!isObject(raw)) throw badRequest("body", "must be a JSON object");
    if (typeof raw.success !== "boolean") throw badRequest("success", "must be true or false");
    const providerVersion = reqString(raw, "providerApplicationVersion");
    const d = await data();
    const { prov, cons, pv } = pactVersionBySha(
      d,
      params.provider as string,
      params.consumer as string,
      params.sha as string,
    );
    const verification = await store.write(async (tx) => {
      const v = await tx.ensureVersion(prov.id, providerVersion);
      return tx.recordVerification({
        pactVersionId: pv.id,
        providerVersionId: v.id,
        success: raw.success as boolean,
        buildUrl: optString(raw, "buildUrl"),
        verifiedBy: raw.verifiedBy,
        testResults: raw.testResults,
      });
    });
    return created({
      providerName: prov.name,
      providerApplicationVersion: providerVersion,
      success: verification.success,
      verificationDate: verification.createdAt,
      testResults: raw.testResults ?? null,
      _links: {
        self: link(u.verification(b, prov.name, cons.name, pv.sha, verification.id), {
          title: "Verification result",
        }),
        "pb:pact-version": link(u.pactVersion(b, prov.name, cons.name, pv.sha), { title: "Pact" }),
      },
    });
  };
  r.on(
    "POST",
    "/pacts/provider/:provider/consumer/:consumer/pact-version/:sha/verification-results",
    publishVerification,
  );
  r.on(
    "POST",
    "/pacts/provider/:provider/consumer/:consumer/pact-version/:sha/metadata/:metadata/verification-results",
    publishVerification,
  );

  r.on(
    "GET",
    "/pacts/provider/:provider/consumer/:consumer/pact-version/:sha/verification-results/:id",
    async ({ base: b, params }) => {
      const d = await data();
      const { prov, cons, pv } = pactVersionBySha(
        d,
        params.provider as string,
        params.consumer as string,
        params.sha as string,
      );
      const ver = d.s.verifications.find((x) => x.id === Number(params.id) && x.pactVersionId === pv.id);
      if (!ver) throw notFound("verification result");
      const details = await store.verificationDetails(ver.id);
      return ok({
        providerName: prov.name,
        providerApplicationVersion: d.versionById.get(ver.providerVersionId)?.number,
        success: ver.success,
        verificationDate: ver.createdAt,
        buildUrl: details?.buildUrl ?? null,
        testResults: details?.testResults ?? null,
        verifiedBy: details?.verifiedBy ?? null,
        _links: {
          self: link(u.verification(b, prov.name, cons.name, pv.sha, ver.id), {
            title: "Verification result",
          }),
        },
      });
    },
  );

  // ---------- pacts for verification ----------
  r.on("GET", "/pacts/provider/:provider/for-verification", async ({ base: b, params }) =>
    ok({
      _links: {
        self: link(`${b}/pacts/provider/${enc(params.provider as string)}/for-verification`, {
          title: "Pacts to be verified",
        }),
      },
    }),
  );

  r.on("POST", "/pacts/provider/:provider/for-verification", async ({ base: b, params, body }) => {
    const raw = await body();
    if (!isObject(raw)) throw badRequest("body", "must be a JSON object");
    const selectors = raw.consumerVersionSelectors ?? [];
    if (!Array.isArray(selectors) || !selectors.every(isObject))
      throw badRequest("consumerVersionSelectors", "must be an array of objects");
    const d = await data();
    const provider = d.pacticipant(params.provider as string);
    const self = link(`${b}/pacts/provider/${enc(params.provider as string)}/for-verification`, {
      title: "Pacts to be verified",
    });
    if (!provider) return ok({ _embedded: { pacts: [] }, _links: { self } });
    let list: ReturnType<typeof pactsForVerification>;
    try {
      list = pactsForVerification(
        d,
        provider,
        {
          consumerVersionSelectors: selectors as ConsumerVersionSelector[],
          includePendingStatus: raw.includePendingStatus === true,
          includeWipPactsSince: optString(raw, "includeWipPactsSince"),
          providerVersionBranch: optString(raw, "providerVersionBranch"),
          providerVersionTags: Array.isArray(raw.providerVersionTags)
            ? (raw.providerVersionTags as string[])
            : [],
        },
        (cons, pv) => u.pactVersion(b, provider.name, cons.name, pv.sha),
      );
    } catch (error) {
      if (error instanceof SelectorError) throw badRequest("consumerVersionSelectors", error.message);
      throw error;
    }
    return ok({
      _embedded: {
        pacts: list.map((p) => ({
          shortDescription: p.shortDescription,
          verificationProperties: {
            ...(p.pending === undefined ? {} : { pending: p.pending }),
            ...(p.wip ? { wip: true } : {}),
            notices: p.notices,
          },
          _links: {
            self: link(u.pactVersion(b, provider.name, p.consumer.name, p.pactVersion.sha), {
              name: `Pact between ${p.consumer.name} (${p.consumerVersions.map((v) => v.number).join(", ")}) and ${provider.name}`,
            }),
          },
        })),
      },
      _links: { self },
    });
  });

  r.on("GET", "/pacts/provider/:provider/latest", async ({ base: b, params }) => {
    const d = await data();
    const prov = needPacticipant(d, params.provider as string);
    const pacts = d.consumersOf(prov.id).flatMap((cid) => {
      const cons = d.pacticipantById.get(cid) as Pacticipant;
      const latest = d
        .versionsOf(cid)
        .map((v) => d.pactFor(v.id, prov.id))
        .filter((x) => x !== undefined)
        .at(-1);
      const pv = latest ? d.pactVersionById.get(latest.pactVersionId) : undefined;
      return pv
        ? [
            link(u.pactVersion(b, prov.name, cons.name, pv.sha), {
              title: `Pact between ${cons.name} and ${prov.name}`,
              name: cons.name,
            }),
          ]
        : [];
    });
    return ok({
      _links: {
        self: link(`${b}/pacts/provider/${enc(prov.name)}/latest`),
        provider: link(u.pacticipant(b, prov.name)),
        pacts,
      },
    });
  });

  r.on("GET", "/pacts/latest", async ({ base: b }) => {
    const d = await data();
    const pacts = [];
    for (const prov of d.s.pacticipants) {
      for (const cid of d.consumersOf(prov.id)) {
        const cons = d.pacticipantById.get(cid) as Pacticipant;
        const versions = d.versionsOf(cid).filter((v) => d.pactFor(v.id, prov.id));
        const v = versions.at(-1);
        const pub = v ? d.pactFor(v.id, prov.id) : undefined;
        const pv = pub ? d.pactVersionById.get(pub.pactVersionId) : undefined;
        if (!v || !pub || !pv) continue;
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

  // ---------- pacticipants, versions, branches, tags ----------
  r.on("GET", "/pacticipants", async ({ base: b }) => {
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
  const upsertPacticipant = async (b: string, name: string, raw: unknown) => {
    const body = isObject(raw) ? raw : {};
    const mainBranch = optString(body, "mainBranch");
    const existed = (await data()).pacticipant(name) !== undefined;
    await store.write((tx) => tx.updatePacticipant(name, mainBranch === undefined ? {} : { mainBranch }));
    const p = needPacticipant(await data(), name);
    return { status: existed ? 200 : 201, body: pacticipantBody(b, p) };
  };
  r.on("POST", "/pacticipants", async ({ base: b, body }) => {
    const raw = await body();
    if (!isObject(raw)) throw badRequest("body", "must be a JSON object");
    return upsertPacticipant(b, reqString(raw, "name"), raw);
  });
  r.on("PUT", "/pacticipants/:pacticipant", async ({ base: b, params, body }) =>
    upsertPacticipant(b, params.pacticipant as string, await body()),
  );
  r.on("PATCH", "/pacticipants/:pacticipant", async ({ base: b, params, body }) =>
    upsertPacticipant(b, params.pacticipant as string, await body()),
  );
  r.on("GET", "/pacticipants/:pacticipant", async ({ base: b, params }) =>
    ok(pacticipantBody(b, needPacticipant(await data(), params.pacticipant as string))),
  );

  r.on("GET", "/pacticipants/:pacticipant/versions", async ({ base: b, params }) => {
    const d = await data();
    const p = needPacticipant(d, params.pacticipant as string);
    const versions = d
      .versionsOf(p.id)
      .reverse()
      .map((v) => versionBody(b, d, v));
    return ok({ _embedded: { versions }, _links: { self: link(`${u.pacticipant(b, p.name)}/versions`) } });
  });
  r.on("GET", "/pacticipants/:pacticipant/versions/:version", async ({ base: b, params }) => {
    const d = await data();
    const { v } = needVersion(d, params.pacticipant as string, params.version as string);
    return ok(versionBody(b, d, v));
  });
  r.on("GET", "/pacticipants/:pacticipant/latest-version", async ({ base: b, params }) => {
    const d = await data();
    const p = needPacticipant(d, params.pacticipant as string);
    const v = d.latestVersion(p.id);
    if (!v) throw notFound(`latest version of ${p.name}`);
    return ok(versionBody(b, d, v));
  });
  r.on("GET", "/pacticipants/:pacticipant/branches/:branch/latest-version", async ({ base: b, params }) => {
    const d = await data();
    const p = needPacticipant(d, params.pacticipant as string);
    const v = d.versionsOnBranch(p.id, params.branch as string).at(-1);
    if (!v) throw notFound(`latest version of ${p.name} on branch ${params.branch}`);
    return ok(versionBody(b, d, v));
  });

  const putVersion = async (
    b: string,
    name: string,
    number: string,
    branch?: string,
    tag?: string,
    raw?: unknown,
  ) => {
    const body = isObject(raw) ? raw : {};
    const before = await data();
    const existed = (() => {
      const p = before.pacticipant(name);
      return p ? before.version(p.id, number) !== undefined : false;
    })();
    const bodyBranch = optString(body, "branch");
    await store.write(async (tx: Tx) => {
      const pid = await tx.ensurePacticipant(name);
      const v = await tx.ensureVersion(pid, number, optString(body, "buildUrl"));
      for (const br of [branch, bodyBranch]) if (br) await tx.addBranch(pid, v.id, br);
      if (tag) await tx.addTag(v.id, tag);
    });
    const d = await data();
    const { v } = needVersion(d, name, number);
    return { status: existed ? 200 : 201, body: versionBody(b, d, v) };
  };
  r.on("PUT", "/pacticipants/:pacticipant/versions/:version", async ({ base: b, params, body }) =>
    putVersion(b, params.pacticipant as string, params.version as string, undefined, undefined, await body()),
  );
  r.on("PUT", "/pacticipants/:pacticipant/branches/:branch/versions/:version", async ({ base: b, params }) =>
    putVersion(b, params.pacticipant as string, params.version as string, params.branch),
  );
  // The Rust CLI's create-or-update-version --branch uses this shape.
  r.on("PUT", "/pacticipants/:pacticipant/versions/:version/branches/:branch", async ({ base: b, params }) =>
    putVersion(b, params.pacticipant as string, params.version as string, params.branch),
  );
  r.on("PUT", "/pacticipants/:pacticipant/versions/:version/tags/:tag", async ({ base: b, params }) =>
    putVersion(b, params.pacticipant as string, params.version as string, undefined, params.tag),
  );
  r.on("DELETE", "/pacticipants/:pacticipant/branches/:branch", async ({ params }) => {
    const d = await data();
    const p = needPacticipant(d, params.pacticipant as string);
    const deleted = await store.write((tx) => tx.deleteBranch(p.id, params.branch as string));
    if (!deleted) throw notFound(`branch ${params.branch}`);
    return { status: 204 };
  });

  // ---------- environments, deployments, releases ----------
  const envInput = (raw: unknown) => {
    if (!isObject(raw)) throw badRequest("body", "must be a JSON object");
    const name = reqString(raw, "name");
    if (!/^[^\s/]+$/.test(name)) throw badRequest("name", "must not contain spaces or slashes");
    return {
      name,
      displayName: optString(raw, "displayName"),
      production: raw.production === true,
      contacts: raw.contacts,
    };
  };
  r.on("GET", "/environments", async ({ base: b, url }) => {
    const d = await data();
    const name = url.searchParams.get("name");
    const envs = d.s.environments
      .filter((e) => name === null || e.name === name)
      .map((e) => environmentBody(b, e));
    return ok({ _embedded: { environments: envs }, _links: { self: link(`${b}/environments`) } });
  });
  r.on("POST", "/environments", async ({ base: b, body }) => {
    const input = envInput(await body());
    if ((await data()).environment(input.name))
      throw badRequest("name", `Another environment with name '${input.name}' already exists.`);
    const env = await store.write((tx) => tx.createEnvironment(input));
    return created(environmentBody(b, env));
  });
  r.on("GET", "/environments/:uuid", async ({ base: b, params }) =>
    ok(environmentBody(b, needEnvironment(await data(), params.uuid as string))),
  );
  r.on("PUT", "/environments/:uuid", async ({ base: b, params, body }) => {
    const input = envInput(await body());
    const env = await store.write((tx) => tx.updateEnvironment(params.uuid as string, input));
    if (!env) throw notFound(`environment ${params.uuid}`);
    return ok(environmentBody(b, env));
  });
  r.on("DELETE", "/environments/:uuid", async ({ params }) => {
    if (!(await store.write((tx) => tx.deleteEnvironment(params.uuid as string))))
      throw notFound(`environment ${params.uuid}`);
    return { status: 204 };
  });

  const deployedBody = (b: string, d: BrokerData, uuid: string) => {
    const dep = d.s.deployedVersions.find((x) => x.uuid === uuid);
    if (!dep) throw notFound(`deployed version ${uuid}`);
    const v = d.versionById.get(dep.versionId) as Version;
    const env = d.s.environments.find((e) => e.uuid === dep.environmentUuid) as Environment;
    return {
      uuid: dep.uuid,
      currentlyDeployed: dep.undeployedAt === null,
      applicationInstance: dep.applicationInstance,
      target: dep.applicationInstance,
      createdAt: dep.createdAt,
      undeployedAt: dep.undeployedAt,
      _embedded: { version: versionBody(b, d, v), environment: environmentBody(b, env) },
      _links: { self: link(`${b}/deployed-versions/${dep.uuid}`) },
    };
  };
  const releasedBody = (b: string, d: BrokerData, uuid: string) => {
    const rel = d.s.releasedVersions.find((x) => x.uuid === uuid);
    if (!rel) throw notFound(`released version ${uuid}`);
    const v = d.versionById.get(rel.versionId) as Version;
    const env = d.s.environments.find((e) => e.uuid === rel.environmentUuid) as Environment;
    return {
      uuid: rel.uuid,
      currentlySupported: rel.supportEndedAt === null,
      createdAt: rel.createdAt,
      supportEndedAt: rel.supportEndedAt,
      _embedded: { version: versionBody(b, d, v), environment: environmentBody(b, env) },
      _links: { self: link(`${b}/released-versions/${rel.uuid}`) },
    };
  };

  r.on(
    "POST",
    "/pacticipants/:pacticipant/versions/:version/deployed-versions/environment/:uuid",
    async ({ base: b, params, body }) => {
      const raw = await body();
      const input = isObject(raw) ? raw : {};
      const instance = optString(input, "applicationInstance") ?? optString(input, "target") ?? null;
      const d = await data();
      const { v } = needVersion(d, params.pacticipant as string, params.version as string);
      needEnvironment(d, params.uuid as string);
      const uuid = await store.write((tx) => tx.recordDeployment(v.id, params.uuid as string, instance));
      return created(deployedBody(b, await data(), uuid));
    },
  );
  r.on(
    "POST",
    "/pacticipants/:pacticipant/versions/:version/released-versions/environment/:uuid",
    async ({ base: b, params }) => {
      const d = await data();
      const { v } = needVersion(d, params.pacticipant as string, params.version as string);
      needEnvironment(d, params.uuid as string);
      const uuid = await store.write((tx) => tx.recordRelease(v.id, params.uuid as string));
      return created(releasedBody(b, await data(), uuid));
    },
  );
  r.on(
    "GET",
    "/environments/:uuid/deployed-versions/currently-deployed",
    async ({ base: b, params, url }) => {
      const d = await data();
      const env = needEnvironment(d, params.uuid as string);
      const name = url.searchParams.get("pacticipant");
      const instance = url.searchParams.get("applicationInstance");
      const list = d.s.deployedVersions.filter((x) => {
        if (x.environmentUuid !== env.uuid || x.undeployedAt !== null) return false;
        const v = d.versionById.get(x.versionId);
        if (name !== null && (!v || d.name(v.pacticipantId).toLowerCase() !== name.toLowerCase()))
          return false;
        return instance === null || x.applicationInstance === instance;
      });
      return ok({
        _embedded: { deployedVersions: list.map((x) => deployedBody(b, d, x.uuid)) },
        _links: { self: link(`${u.environment(b, env.uuid)}/deployed-versions/currently-deployed`) },
      });
    },
  );
  r.on(
    "GET",
    "/environments/:uuid/released-versions/currently-supported",
    async ({ base: b, params, url }) => {
      const d = await data();
      const env = needEnvironment(d, params.uuid as string);
      const name = url.searchParams.get("pacticipant");
      const list = d.s.releasedVersions.filter((x) => {
        if (x.environmentUuid !== env.uuid || x.supportEndedAt !== null) return false;
        const v = d.versionById.get(x.versionId);
        return (
          name === null || (v !== undefined && d.name(v.pacticipantId).toLowerCase() === name.toLowerCase())
        );
      });
      return ok({
        _embedded: { releasedVersions: list.map((x) => releasedBody(b, d, x.uuid)) },
        _links: { self: link(`${u.environment(b, env.uuid)}/released-versions/currently-supported`) },
      });
    },
  );
  r.on("GET", "/deployed-versions/:uuid", async ({ base: b, params }) =>
    ok(deployedBody(b, await data(), params.uuid as string)),
  );
  r.on("PATCH", "/deployed-versions/:uuid", async ({ base: b, params, body }) => {
    const raw = await body();
    if (!isObject(raw) || raw.currentlyDeployed !== false)
      throw badRequest("currentlyDeployed", "can only be set to false");
    if (!(await store.write((tx) => tx.setDeploymentEnded(params.uuid as string))))
      throw notFound(`deployed version ${params.uuid}`);
    return ok(deployedBody(b, await data(), params.uuid as string));
  });
  r.on("GET", "/released-versions/:uuid", async ({ base: b, params }) =>
    ok(releasedBody(b, await data(), params.uuid as string)),
  );
  r.on("PATCH", "/released-versions/:uuid", async ({ base: b, params, body }) => {
    const raw = await body();
    if (!isObject(raw) || raw.currentlySupported !== false)
      throw badRequest("currentlySupported", "can only be set to false");
    if (!(await store.write((tx) => tx.setSupportEnded(params.uuid as string))))
      throw notFound(`released version ${params.uuid}`);
    return ok(releasedBody(b, await data(), params.uuid as string));
  });

  // ---------- matrix / can-i-deploy ----------
  const matrixReply = async (b: string, q: MatrixQuery, self: string) => {
    const d = await data();
    if (q.environment !== undefined && !d.environment(q.environment))
      throw badRequest("environment", `Environment with name '${q.environment}' does not exist`);
    let result: ReturnType<typeof queryMatrix>;
    try {
      result = queryMatrix(d, q);
    } catch (error) {
      if (error instanceof MatrixQueryError) throw new HttpError(400, { errors: [error.message] });
      throw error;
    }
    const versionJson = (p: Pacticipant, v: Version | null) =>
      v === null
        ? null
        : {
            number: v.number,
            branch: d.branchNamesOf(v.id).at(-1) ?? null,
            branches: d.branchNamesOf(v.id).map((name) => ({ name })),
            tags: d.tagsOf(v.id).map((name) => ({ name })),
            _links: { self: link(u.version(b, p.name, v.number)) },
          };
    const rowJson = (row: MatrixRow) => {
      const pv = d.pactVersionById.get(row.publication.pactVersionId) as PactVersion;
      return {
        consumer: {
          name: row.consumer.name,
          _links: { self: link(u.pacticipant(b, row.consumer.name)) },
          version: versionJson(row.consumer, row.consumerVersion),
        },
        provider: {
          name: row.provider.name,
          _links: { self: link(u.pacticipant(b, row.provider.name)) },
          version: versionJson(row.provider, row.providerVersion),
        },
        pact: {
          createdAt: row.publication.createdAt,
          _links: {
            self: link(u.pactForVersion(b, row.provider.name, row.consumer.name, row.consumerVersion.number)),
          },
        },
        verificationResult: row.verification
          ? {
              verifiedAt: row.verification.createdAt,
              success: row.verification.success,
              _links: {
                self: link(
                  u.verification(b, row.provider.name, row.consumer.name, pv.sha, row.verification.id),
                ),
              },
            }
          : null,
        ...(row.ignored ? { ignored: true } : {}),
      };
    };
    return ok({
      summary: {
        deployable: result.deployable,
        reason: result.reasons.map((x) => x.text).join("\n"),
        ...result.counts,
      },
      notices: result.reasons,
      matrix: result.rows.map(rowJson),
      _links: { self: link(self) },
    });
  };

  r.on("GET", "/matrix", async ({ base: b, url }) => {
    const q = parseMatrixQuery(url.searchParams);
    return matrixReply(b, q, `${b}${url.pathname}${url.search}`);
  });
  r.on("GET", "/can-i-deploy", async ({ base: b, url }) => {
    const sp = url.searchParams;
    const pacticipant = sp.get("pacticipant");
    const environment = sp.get("environment");
    if (!pacticipant) throw badRequest("pacticipant", "is required");
    if (!environment) throw badRequest("environment", "is required");
    const selector: MatrixSelector = { pacticipant };
    const version = sp.get("version");
    if (version !== null) selector.version = version;
    const branch = sp.get("branch");
    if (branch !== null) Object.assign(selector, { branch, latest: true });
    if (version === null && branch === null) selector.latest = true;
    return matrixReply(
      b,
      { selectors: [selector], ignore: [], environment, latestby: "cvp" },
      `${b}${url.pathname}${url.search}`,
    );
  });
  r.on(
    "GET",
    "/pacticipants/:pacticipant/branches/:branch/latest-version/can-i-deploy/to-environment/:environment",
    async ({ base: b, params, url }) =>
      matrixReply(
        b,
        {
          selectors: [
            { pacticipant: params.pacticipant as string, branch: params.branch as string, latest: true },
          ],
          ignore: [],
          environment: params.environment as string,
          latestby: "cvp",
        },
        `${b}${url.pathname}`,
      ),
  );

  return r;
}

function rethrowContent(error: unknown): never {
  if (error instanceof PactContentError) throw badRequest("contracts", error.message);
  throw error;
}

/** q[][pacticipant]=A&q[][version]=1&q[][pacticipant]=B&q[][latest]=true...: each pacticipant starts a selector. */
export function parseMatrixQuery(sp: URLSearchParams): MatrixQuery {
  const selectors: MatrixSelector[] = [];
  const ignore: { pacticipant: string; version?: string }[] = [];
  const q: MatrixQuery = { selectors, ignore };
  const bool = (v: string) => v === "true";
  for (const [rawKey, value] of sp) {
    const key = rawKey.replace(/\[\d+\]/g, "[]");
    const qm = /^q\[\]\[(\w+)\]$/.exec(key);
    const im = /^ignore\[\]\[(\w+)\]$/.exec(key);
    if (qm) {
      const field = qm[1] as string;
      if (field === "pacticipant") {
        selectors.push({ pacticipant: value });
        continue;
      }
      const cur = selectors.at(-1);
      if (!cur) throw badRequest(rawKey, "must follow a q[][pacticipant]");
      if (field === "version") cur.version = value;
      else if (field === "latest") cur.latest = bool(value);
      else if (field === "tag") cur.tag = value;
      else if (field === "branch") cur.branch = value;
      else if (field === "mainBranch") cur.mainBranch = bool(value);
    } else if (im) {
      const field = im[1] as string;
      if (field === "pacticipant") ignore.push({ pacticipant: value });
      else if (field === "version") {
        const cur = ignore.at(-1);
        if (!cur) throw badRequest(rawKey, "must follow an ignore[][pacticipant]");
        cur.version = value;
      }
    } else if (key === "latestby") {
      if (value !== "cvp" && value !== "cvpv") throw badRequest("latestby", "must be cvp or cvpv");
      q.latestby = value;
    } else if (key === "environment") q.environment = value;
    else if (key === "latest") q.latest = bool(value);
    else if (key === "tag") q.tag = value;
    else if (key === "mainBranch") q.mainBranch = bool(value);
  }
  if (selectors.length === 0) throw badRequest("q", "Please provide 1 or more version selectors.");
  return q;
}
