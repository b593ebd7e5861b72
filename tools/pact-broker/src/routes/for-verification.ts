import {
  type ConsumerVersionSelector,
  encodePactMetadata,
  pactsForVerification,
  SelectorError,
} from "../domain/for-verification.ts";
import { badRequest, isObject, link, ok, optString } from "../http-util.ts";
import type { Router } from "../router.ts";
import type { Broker } from "./context.ts";
import { urls as u } from "./urls.ts";

// "Pacts for verification": the provider's verifier POSTs its consumer version
// selectors and gets back the pact contents to verify, each marked pending or
// work in progress. The GET is the relation the verifier discovers it by.
// A WIP pact's URL carries the real broker's metadata segment ("w=true"), so
// the results the verifier publishes through it are known to be WIP ones.

export function forVerificationRoutes(router: Router, { store, data }: Broker): void {
  const self = (b: string, provider: string) =>
    link(u.forVerification(b, provider), { title: "Pacts to be verified" });

  router.get("/pacts/provider/:provider/for-verification", async ({ base: b, params }) =>
    ok({ _links: { self: self(b, params.provider) } }),
  );

  router.post("/pacts/provider/:provider/for-verification", async ({ base: b, params, body }) => {
    const raw = await body();
    if (!isObject(raw)) throw badRequest("body", "must be a JSON object");
    const selectors = raw.consumerVersionSelectors ?? [];
    if (!Array.isArray(selectors) || !selectors.every(isObject))
      throw badRequest("consumerVersionSelectors", "must be an array of objects");
    const [d, wipVerificationIds, tagsCreatedAt] = await Promise.all([
      data(),
      store.wipVerificationIds(),
      store.tagsCreatedAt(),
    ]);
    const provider = d.pacticipant(params.provider);
    if (!provider) return ok({ _embedded: { pacts: [] }, _links: { self: self(b, params.provider) } });
    let list: ReturnType<typeof pactsForVerification>;
    try {
      list = pactsForVerification(
        d,
        provider,
        {
          // Checked key by key by the domain (validateSelectors), with the real broker's messages.
          consumerVersionSelectors: selectors as ConsumerVersionSelector[],
          includePendingStatus: raw.includePendingStatus === true,
          includeWipPactsSince: optString(raw, "includeWipPactsSince"),
          providerVersionBranch: optString(raw, "providerVersionBranch"),
          providerVersionTags: Array.isArray(raw.providerVersionTags) ? raw.providerVersionTags : [],
        },
        (cons, pv, wip) => pactHref(b, provider.name, cons.name, pv.sha, wip),
        { wipVerificationIds, tagsCreatedAt },
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
            self: link(pactHref(b, provider.name, p.consumer.name, p.pactVersion.sha, p.wip), {
              name: `Pact between ${p.consumer.name} (${p.consumerVersions.map((v) => v.number).join(", ")}) and ${provider.name}`,
            }),
          },
        })),
      },
      _links: { self: self(b, params.provider) },
    });
  });
}

/** The pact version's URL; a WIP pact's carries the metadata that marks it. */
function pactHref(b: string, provider: string, consumer: string, sha: string, wip: boolean): string {
  const url = u.pactVersion(b, provider, consumer, sha);
  return wip ? `${url}/metadata/${encodePactMetadata({ w: "true" })}` : url;
}
