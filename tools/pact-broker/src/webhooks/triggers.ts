import type {
  BrokerData,
  Pacticipant,
  PactPublication,
  PactVersion,
  Verification,
  Version,
} from "../domain/model.ts";
import { urls as u } from "../routes/urls.ts";
import type { NewTrigger, Webhook, WebhookEventName } from "./model.ts";
import { emptyParameters, type TemplateParameters, verificationStatuses } from "./template.ts";

// Which webhooks an event fires, and with which template parameters: pure
// functions over one snapshot of the broker's data, following the real
// broker's rules (PactAndVerificationParameters, the content-changed check,
// and the required verifications behind contract_requiring_verification_published).

/** A row of the outbox the publishing transactions write (migration 002). */
export interface BrokerEvent {
  kind: "pact_publication" | "verification";
  refId: number;
}

/** What the snapshot does not hold: build URLs, read by the caller. */
export interface EventDetails {
  consumerVersionBuildUrl?: string | null;
  verificationBuildUrl?: string | null;
}

/** A provider version that has to verify a newly published pact, and why. */
export interface RequiredVerification {
  version: Version;
  branch: string;
  descriptions: string[];
}

const joinNames = (names: string[]) => names.join(", ");

function pacticipantOf(d: BrokerData, id: number): Pacticipant | undefined {
  return d.pacticipantById.get(id);
}

/**
 * The pact's URL as a webhook passes it on: the content's URL with metadata
 * naming the consumer version, the form the real broker uses (the metadata
 * segment does not change which content it is).
 */
export function pactUrlForWebhook(b: string, provider: string, consumer: string, sha: string, cvn: string) {
  const metadata = Buffer.from(`cvn=${encodeURIComponent(cvn)}`).toString("base64url");
  return `${u.pactVersion(b, provider, consumer, sha)}/metadata/${metadata}`;
}

function pactParameters(
  d: BrokerData,
  b: string,
  consumer: Pacticipant,
  provider: Pacticipant,
  pv: PactVersion,
  consumerVersion: Version,
): Partial<TemplateParameters> {
  return {
    "pactbroker.consumerName": consumer.name,
    "pactbroker.providerName": provider.name,
    "pactbroker.consumerVersionNumber": consumerVersion.number,
    "pactbroker.consumerVersionTags": joinNames(d.tagsOf(consumerVersion.id)),
    "pactbroker.consumerVersionBranch": d.branchNamesOf(consumerVersion.id).at(-1) ?? "",
    "pactbroker.pactUrl": pactUrlForWebhook(b, provider.name, consumer.name, pv.sha, consumerVersion.number),
  };
}

function verificationParameters(
  d: BrokerData,
  b: string,
  consumer: Pacticipant,
  provider: Pacticipant,
  pv: PactVersion,
  verification: Verification | undefined,
): Partial<TemplateParameters> {
  if (!verification) return verificationStatuses(undefined);
  const pver = d.versionById.get(verification.providerVersionId);
  return {
    ...verificationStatuses(verification.success),
    "pactbroker.providerVersionNumber": pver?.number ?? "",
    "pactbroker.providerVersionTags": pver ? joinNames(d.tagsOf(pver.id)) : "",
    "pactbroker.providerVersionBranch": pver ? (d.branchNamesOf(pver.id).at(-1) ?? "") : "",
    "pactbroker.verificationResultUrl": u.verification(
      b,
      provider.name,
      consumer.name,
      pv.sha,
      verification.id,
    ),
  };
}

/**
 * The real broker's check for contract_content_changed: with tags on the
 * consumer version, the content differs from the previous pact of any of
 * those tags (a new tag counts as a change); without tags, from the previous
 * pact between the two. A first pact is a change.
 */
export function contentChanged(d: BrokerData, pub: PactPublication): boolean {
  const consumerVersion = d.versionById.get(pub.consumerVersionId);
  if (!consumerVersion) return false;
  const earlier = d.s.publications.filter((p) => {
    if (p.id >= pub.id || p.providerId !== pub.providerId) return false;
    return d.versionById.get(p.consumerVersionId)?.pacticipantId === consumerVersion.pacticipantId;
  });
  const differs = (candidates: PactPublication[]) => {
    const previous = candidates.reduce<PactPublication | undefined>(
      (a, p) => (!a || p.id > a.id ? p : a),
      undefined,
    );
    return !previous || previous.pactVersionId !== pub.pactVersionId;
  };
  const tags = d.tagsOf(consumerVersion.id);
  if (tags.length === 0) return differs(earlier);
  return tags.some((tag) => differs(earlier.filter((p) => d.tagsOf(p.consumerVersionId).includes(tag))));
}

/**
 * The provider versions that must verify this content: the latest version
 * of the provider's main branch and every version currently deployed or
 * released, unless that version has a verification result for it already.
 * One entry per version, its reasons joined.
 */
export function requiredVerifications(d: BrokerData, pv: PactVersion): RequiredVerification[] {
  const provider = pacticipantOf(d, pv.providerId);
  if (!provider) return [];
  const found = new Map<number, RequiredVerification>();
  const add = (version: Version | undefined, description: string, branch?: string) => {
    if (!version || version.pacticipantId !== provider.id) return;
    if (d.verificationsOf(pv.id).some((v) => v.providerVersionId === version.id)) return;
    const entry = found.get(version.id);
    if (entry) {
      if (!entry.descriptions.includes(description)) entry.descriptions.push(description);
      return;
    }
    found.set(version.id, {
      version,
      branch: branch ?? d.branchNamesOf(version.id).at(-1) ?? "",
      descriptions: [description],
    });
  };
  if (provider.mainBranch)
    add(
      d.versionsOnBranch(provider.id, provider.mainBranch).at(-1),
      "latest version from main branch",
      provider.mainBranch,
    );
  const envName = (uuid: string) => d.s.environments.find((e) => e.uuid === uuid)?.name ?? uuid;
  for (const dep of d.s.deployedVersions)
    if (dep.undeployedAt === null)
      add(d.versionById.get(dep.versionId), `currently deployed version (${envName(dep.environmentUuid)})`);
  for (const rel of d.s.releasedVersions)
    if (rel.supportEndedAt === null)
      add(d.versionById.get(rel.versionId), `currently released version (${envName(rel.environmentUuid)})`);
  return [...found.values()];
}

/** Whether a webhook listens to this event for this consumer and provider. */
export function webhookApplies(w: Webhook, event: WebhookEventName, consumerId: number, providerId: number) {
  return (
    w.enabled &&
    w.events.includes(event) &&
    (w.consumerId === null || w.consumerId === consumerId) &&
    (w.providerId === null || w.providerId === providerId)
  );
}

/** The triggered webhooks an outbox event creates (none when nothing listens). */
export function triggersFor(
  d: BrokerData,
  event: BrokerEvent,
  webhooks: readonly Webhook[],
  base: string,
  details: EventDetails = {},
): NewTrigger[] {
  return event.kind === "pact_publication"
    ? publicationTriggers(d, event.refId, webhooks, base, details)
    : verificationTriggers(d, event.refId, webhooks, base, details);
}

function publicationTriggers(
  d: BrokerData,
  publicationId: number,
  webhooks: readonly Webhook[],
  base: string,
  details: EventDetails,
): NewTrigger[] {
  const pub = d.s.publications.find((p) => p.id === publicationId);
  const consumerVersion = pub ? d.versionById.get(pub.consumerVersionId) : undefined;
  const pv = pub ? d.pactVersionById.get(pub.pactVersionId) : undefined;
  const consumer = consumerVersion ? pacticipantOf(d, consumerVersion.pacticipantId) : undefined;
  const provider = pub ? pacticipantOf(d, pub.providerId) : undefined;
  if (!pub || !consumerVersion || !pv || !consumer || !provider) return [];

  const common = {
    ...emptyParameters(),
    ...pactParameters(d, base, consumer, provider, pv, consumerVersion),
    // Like the real broker: the content's latest verification, if it has one.
    ...verificationParameters(d, base, consumer, provider, pv, d.verificationsOf(pv.id).at(-1)),
    "pactbroker.buildUrl": details.consumerVersionBuildUrl ?? "",
  };
  const record = {
    triggerType: "resource_creation" as const,
    consumerId: consumer.id,
    providerId: provider.id,
    consumerVersionId: consumerVersion.id,
    pactVersionId: pv.id,
    verificationId: null,
  };
  const fired: { event: WebhookEventName; parameters: TemplateParameters }[] = [];
  const fire = (event: WebhookEventName, extra: Partial<TemplateParameters> = {}) =>
    fired.push({ event, parameters: { ...common, ...extra, "pactbroker.eventName": event } });

  fire("contract_published");
  if (contentChanged(d, pub)) fire("contract_content_changed");
  for (const required of requiredVerifications(d, pv))
    fire("contract_requiring_verification_published", {
      "pactbroker.providerVersionNumber": required.version.number,
      "pactbroker.providerVersionBranch": required.branch,
      "pactbroker.providerVersionTags": joinNames(d.tagsOf(required.version.id)),
      "pactbroker.providerVersionDescriptions": joinNames(required.descriptions),
    });

  return webhooks.flatMap((w) =>
    fired
      .filter((f) => webhookApplies(w, f.event, consumer.id, provider.id))
      .map((f) => ({ ...record, webhookUuid: w.uuid, eventName: f.event, parameters: f.parameters })),
  );
}

function verificationTriggers(
  d: BrokerData,
  verificationId: number,
  webhooks: readonly Webhook[],
  base: string,
  details: EventDetails,
): NewTrigger[] {
  const verification = d.s.verifications.find((v) => v.id === verificationId);
  const pv = verification ? d.pactVersionById.get(verification.pactVersionId) : undefined;
  const consumer = pv ? pacticipantOf(d, pv.consumerId) : undefined;
  const provider = pv ? pacticipantOf(d, pv.providerId) : undefined;
  if (!verification || !pv || !consumer || !provider) return [];
  // The newest consumer version that published this content.
  const pub = d.s.publications
    .filter((p) => p.pactVersionId === pv.id)
    .reduce<PactPublication | undefined>((a, p) => (!a || p.id > a.id ? p : a), undefined);
  const consumerVersion = pub ? d.versionById.get(pub.consumerVersionId) : undefined;

  const common = {
    ...emptyParameters(),
    ...(consumerVersion ? pactParameters(d, base, consumer, provider, pv, consumerVersion) : {}),
    ...verificationParameters(d, base, consumer, provider, pv, verification),
    "pactbroker.buildUrl": details.verificationBuildUrl ?? "",
  };
  const events: WebhookEventName[] = [
    "provider_verification_published",
    verification.success ? "provider_verification_succeeded" : "provider_verification_failed",
  ];
  return webhooks.flatMap((w) =>
    events
      .filter((event) => webhookApplies(w, event, consumer.id, provider.id))
      .map((event) => ({
        webhookUuid: w.uuid,
        eventName: event,
        triggerType: "resource_creation" as const,
        consumerId: consumer.id,
        providerId: provider.id,
        consumerVersionId: consumerVersion?.id ?? null,
        pactVersionId: pv.id,
        verificationId: verification.id,
        parameters: { ...common, "pactbroker.eventName": event },
      })),
  );
}

/**
 * The parameters of a test execution (POST /webhooks/{uuid}/execute): the
 * latest pact between the webhook's consumer and provider and, for a
 * verification event, its latest verification; placeholders when there is
 * no such pact yet, as the real broker does.
 */
export function testParameters(d: BrokerData, w: Webhook, base: string): Record<string, string> {
  const pub = d.s.publications
    .filter((p) => {
      const cv = d.versionById.get(p.consumerVersionId);
      return (
        cv !== undefined &&
        (w.consumerId === null || cv.pacticipantId === w.consumerId) &&
        (w.providerId === null || p.providerId === w.providerId)
      );
    })
    .reduce<PactPublication | undefined>((a, p) => (!a || p.id > a.id ? p : a), undefined);
  const cv = pub ? d.versionById.get(pub.consumerVersionId) : undefined;
  const pv = pub ? d.pactVersionById.get(pub.pactVersionId) : undefined;
  const consumer = cv ? pacticipantOf(d, cv.pacticipantId) : undefined;
  const provider = pub ? pacticipantOf(d, pub.providerId) : undefined;
  if (!cv || !pv || !consumer || !provider) {
    const cName = w.consumerName ?? "placeholder-consumer";
    const pName = w.providerName ?? "placeholder-provider";
    return {
      ...emptyParameters(),
      ...verificationStatuses(undefined),
      "pactbroker.consumerName": cName,
      "pactbroker.providerName": pName,
      "pactbroker.consumerVersionNumber": "placeholder",
      "pactbroker.pactUrl": u.pactForVersion(base, pName, cName, "placeholder"),
      "pactbroker.eventName": "test",
    };
  }
  const verifies = w.events.some((e) => e.startsWith("provider_verification"));
  return {
    ...emptyParameters(),
    ...pactParameters(d, base, consumer, provider, pv, cv),
    ...verificationParameters(
      d,
      base,
      consumer,
      provider,
      pv,
      verifies ? d.verificationsOf(pv.id).at(-1) : undefined,
    ),
    "pactbroker.eventName": "test",
  };
}
