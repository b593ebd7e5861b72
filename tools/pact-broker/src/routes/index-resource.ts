import { link, ok } from "../http-util.ts";
import type { Router } from "../router.ts";

// GET /: the index a client starts from (the CLI follows its relations), and the heartbeat.

export function indexRoutes(router: Router): void {
  router.get("/", async ({ base: b }) =>
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
        "pb:latest-tagged-version": link(`${b}/pacticipants/{pacticipant}/latest-version/{tag}`, {
          title: "Latest pacticipant version with the specified tag",
          templated: true,
        }),
        "pb:pacticipant-version-tag": link(`${b}/pacticipants/{pacticipant}/versions/{version}/tags/{tag}`, {
          title: "Get, create or delete a tag for a pacticipant version",
          templated: true,
        }),
        "pb:pacticipant-branch": link(`${b}/pacticipants/{pacticipant}/branches/{branch}`, {
          title: "Get or delete a pacticipant branch",
          templated: true,
        }),
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
        "pb:can-i-deploy-pacticipant-version-to-tag": link(
          `${b}/can-i-deploy?pacticipant={pacticipant}&version={version}&to={tag}`,
          {
            title:
              "Determine if an application version can be safely deployed to an environment identified by the given tag",
            templated: true,
          },
        ),
        "pb:webhooks": link(`${b}/webhooks`, { title: "Webhooks", templated: false }),
        "pb:webhook": link(`${b}/webhooks/{uuid}`, { title: "Webhook", templated: true }),
        curies: [{ name: "pb", href: `${b}/doc/{rel}?context=index`, templated: true }],
      },
    }),
  );

  router.get("/diagnostic/status/heartbeat", async ({ base: b }) =>
    ok({ ok: true, _links: { self: link(`${b}/diagnostic/status/heartbeat`) } }),
  );
}
