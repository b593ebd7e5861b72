import { isWipMetadata } from "../domain/for-verification.ts";
import { badRequest, created, isObject, link, notFound, ok, optString, reqString } from "../http-util.ts";
import type { Request, Router } from "../router.ts";
import { type Broker, pactVersionBySha } from "./context.ts";
import { urls as u } from "./urls.ts";

// Verification results: published by the provider's verifier against one pact
// content (pact version), so one result counts for every consumer version
// that published the same content.

type PactVersionPattern = "/pacts/provider/:provider/consumer/:consumer/pact-version/:sha";

export function verificationRoutes(router: Router, { store, data }: Broker): void {
  const publish = async ({ base: b, params, body }: Request<PactVersionPattern>) => {
    const raw = await body();
    if (!isObject(raw)) throw badRequest("body", "must be a JSON object");
    const success = raw.success;
    if (typeof success !== "boolean") throw badRequest("success", "must be true or false");
    const providerVersion = reqString(raw, "providerApplicationVersion");
    const { prov, cons, pv } = pactVersionBySha(await data(), params.provider, params.consumer, params.sha);
    const verification = await store.write(async (tx) => {
      const v = await tx.ensureVersion(prov.id, providerVersion);
      const recorded = await tx.recordVerification({
        pactVersionId: pv.id,
        providerVersionId: v.id,
        success,
        buildUrl: optString(raw, "buildUrl"),
        verifiedBy: raw.verifiedBy,
        testResults: raw.testResults,
      });
      // Published through a WIP pact's URL (its metadata says so): a WIP verification,
      // which does not end the pact's WIP state (domain/for-verification.ts).
      if (isWipMetadata((params as { metadata?: string }).metadata))
        await tx.markVerificationWip(recorded.id);
      return recorded;
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
  router.post("/pacts/provider/:provider/consumer/:consumer/pact-version/:sha/verification-results", publish);
  router.post(
    "/pacts/provider/:provider/consumer/:consumer/pact-version/:sha/metadata/:metadata/verification-results",
    publish,
  );

  router.get(
    "/pacts/provider/:provider/consumer/:consumer/pact-version/:sha/verification-results/:id",
    async ({ base: b, params }) => {
      const d = await data();
      const { prov, cons, pv } = pactVersionBySha(d, params.provider, params.consumer, params.sha);
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
}
