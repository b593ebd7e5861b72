import type { Store } from "../db/store.ts";
import type { BrokerData, Environment, Pacticipant, PactVersion, Version } from "../domain/model.ts";
import { enc, link, notFound } from "../http-util.ts";
import { known } from "./context.ts";
import { urls as u } from "./urls.ts";

// The HAL representations several resources embed: pacticipant, version,
// environment and pact document, with the real broker's relation names.

export function pacticipantBody(b: string, p: Pacticipant) {
  return {
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
  };
}

export function versionBody(b: string, d: BrokerData, v: Version) {
  const p = known(d.pacticipantById.get(v.pacticipantId), `pacticipant ${v.pacticipantId}`);
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
}

export function environmentBody(b: string, e: Environment, createdAt?: Date) {
  const displayName = e.displayName ?? e.name;
  return {
    uuid: e.uuid,
    name: e.name,
    displayName,
    production: e.production,
    ...(createdAt ? { createdAt } : {}),
    _links: {
      self: link(u.environment(b, e.uuid), { title: "Environment", name: e.name }),
      // What record-undeployment, record-support-ended and describe-version --environment follow.
      "pb:currently-deployed-deployed-versions": link(u.currentlyDeployed(b, e.uuid), {
        title: `Versions currently deployed to ${displayName} environment`,
      }),
      "pb:currently-supported-released-versions": link(u.currentlySupported(b, e.uuid), {
        title: `Versions released and supported in ${displayName} environment`,
      }),
      "pb:environments": link(`${b}/environments`, { title: "Environments" }),
    },
  };
}

/** The pacticipant as deployed and released versions embed it (the CLI matches on its name). */
export function embeddedPacticipantBody(b: string, p: Pacticipant) {
  return {
    name: p.name,
    displayName: p.name,
    _links: { self: link(u.pacticipant(b, p.name), { title: "Pacticipant", name: p.name }) },
  };
}

function pactLinks(b: string, consumer: string, provider: string, sha: string) {
  return {
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
  };
}

/** The stored pact content with the broker's links (and any extra ones) added. */
export async function pactDocument(
  store: Store,
  b: string,
  cons: Pacticipant,
  prov: Pacticipant,
  pv: PactVersion,
  extra: object = {},
) {
  const content = await store.pactContent(pv.id);
  if (!content) throw notFound(`pact version ${pv.sha}`);
  return {
    ...content,
    createdAt: pv.createdAt,
    _links: { ...pactLinks(b, cons.name, prov.name, pv.sha), ...extra },
  };
}
