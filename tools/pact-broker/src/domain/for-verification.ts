import type { BrokerData, Pacticipant, PactPublication, PactVersion, Version } from "./model.ts";

// "Pacts for verification": which pact contents a provider build must verify,
// chosen by consumer version selectors, deduplicated by content, each marked
// pending or not, plus work-in-progress pacts when asked for.

export interface ConsumerVersionSelector {
  mainBranch?: boolean;
  branch?: string;
  fallbackBranch?: string;
  matchingBranch?: boolean;
  deployedOrReleased?: boolean;
  deployed?: boolean;
  released?: boolean;
  environment?: string;
  tag?: string;
  fallbackTag?: string;
  latest?: boolean;
  consumer?: string;
}

export interface ForVerificationRequest {
  consumerVersionSelectors?: ConsumerVersionSelector[];
  includePendingStatus?: boolean;
  includeWipPactsSince?: string;
  providerVersionBranch?: string;
  providerVersionTags?: string[];
}

export interface PactToVerify {
  consumer: Pacticipant;
  pactVersion: PactVersion;
  /** The consumer versions whose pact this content is, newest last. */
  consumerVersions: Version[];
  selectorDescriptions: string[];
  pending: boolean | undefined;
  wip: boolean;
  notices: { when: string; text: string }[];
  shortDescription: string;
}

export class SelectorError extends Error {}

const KNOWN_KEYS = new Set([
  "mainBranch",
  "branch",
  "fallbackBranch",
  "matchingBranch",
  "deployedOrReleased",
  "deployed",
  "released",
  "environment",
  "tag",
  "fallbackTag",
  "latest",
  "consumer",
]);

/** Refuses selectors the real broker refuses, with its kind of message. */
export function validateSelectors(
  selectors: ConsumerVersionSelector[],
  providerVersionBranch?: string,
): void {
  selectors.forEach((s, i) => {
    const keys = Object.keys(s);
    const unknown = keys.filter((k) => !KNOWN_KEYS.has(k));
    if (unknown.length)
      throw new SelectorError(`consumerVersionSelectors[${i}]: unknown key(s) ${unknown.join(", ")}`);
    const criteria = keys.filter(
      (k) => k !== "consumer" && k !== "latest" && k !== "fallbackTag" && k !== "fallbackBranch",
    );
    if (criteria.length === 0 && s.latest !== true)
      throw new SelectorError(
        `consumerVersionSelectors[${i}]: must specify a value for at least one of the criteria`,
      );
    if (s.matchingBranch && !providerVersionBranch)
      throw new SelectorError(
        `consumerVersionSelectors[${i}]: the providerVersionBranch must be specified when the selector matchingBranch=true is used`,
      );
    for (const flag of [
      "mainBranch",
      "matchingBranch",
      "deployedOrReleased",
      "deployed",
      "released",
    ] as const) {
      if (s[flag] !== undefined && s[flag] !== true)
        throw new SelectorError(`consumerVersionSelectors[${i}]: ${flag} can only be set to true`);
    }
  });
}

interface Selected {
  consumer: Pacticipant;
  version: Version;
  publication: PactPublication;
  description: string;
}

function withPact(data: BrokerData, providerId: number, versions: Version[]) {
  return versions
    .map((v) => ({ v, pub: data.pactFor(v.id, providerId) }))
    .filter((x): x is { v: Version; pub: PactPublication } => x.pub !== undefined);
}

function select(
  data: BrokerData,
  provider: Pacticipant,
  consumer: Pacticipant,
  s: ConsumerVersionSelector,
  providerBranch: string | undefined,
): Selected[] {
  const pick = (versions: Version[], latest: boolean, description: string): Selected[] => {
    const found = withPact(data, provider.id, versions);
    const chosen = latest ? found.slice(-1) : found;
    return chosen.map(({ v, pub }) => ({ consumer, version: v, publication: pub, description }));
  };
  if (s.mainBranch) {
    if (!consumer.mainBranch) return [];
    return pick(
      data.versionsOnBranch(consumer.id, consumer.mainBranch),
      true,
      `latest version from the main branch '${consumer.mainBranch}'`,
    );
  }
  if (s.matchingBranch) {
    if (!providerBranch) return [];
    return pick(
      data.versionsOnBranch(consumer.id, providerBranch),
      true,
      `latest version from a branch matching the provider version branch '${providerBranch}'`,
    );
  }
  if (s.branch !== undefined) {
    const latest = s.latest !== false;
    const found = pick(
      data.versionsOnBranch(consumer.id, s.branch),
      latest,
      `${latest ? "latest version" : "one of the versions"} from branch '${s.branch}'`,
    );
    if (found.length === 0 && s.fallbackBranch !== undefined)
      return pick(
        data.versionsOnBranch(consumer.id, s.fallbackBranch),
        true,
        `latest version from fallback branch '${s.fallbackBranch}'`,
      );
    return found;
  }
  if (
    s.deployedOrReleased ||
    s.deployed ||
    s.released ||
    (s.environment !== undefined && s.tag === undefined)
  ) {
    const kinds = {
      deployed: Boolean(s.deployedOrReleased || s.deployed || (!s.released && !s.deployed)),
      released: Boolean(s.deployedOrReleased || s.released || (!s.released && !s.deployed)),
    };
    const envs =
      s.environment !== undefined
        ? data.s.environments.filter((e) => e.name === s.environment)
        : data.s.environments;
    const out: Selected[] = [];
    for (const env of envs) {
      const what =
        kinds.deployed && kinds.released ? "deployed or released" : kinds.deployed ? "deployed" : "released";
      out.push(
        ...pick(
          data.versionsInEnvironment(consumer.id, env.uuid, kinds),
          false,
          `version(s) currently ${what} to ${env.name}`,
        ),
      );
    }
    return out;
  }
  if (s.tag !== undefined) {
    const found = pick(
      data.versionsWithTag(consumer.id, s.tag),
      s.latest === true,
      `${s.latest ? "latest version" : "one of the versions"} with tag '${s.tag}'`,
    );
    if (found.length === 0 && s.fallbackTag !== undefined)
      return pick(
        data.versionsWithTag(consumer.id, s.fallbackTag),
        true,
        `latest version with fallback tag '${s.fallbackTag}'`,
      );
    return found;
  }
  // { latest: true } alone: the latest pact of each consumer.
  return pick(data.versionsOf(consumer.id), true, "latest version");
}

/**
 * What the snapshot leaves out and pending/WIP need: which verifications were
 * published through a WIP pact's URL, and when each tag was put on its version.
 */
export interface VerificationHistory {
  wipVerificationIds: ReadonlySet<number>;
  tagsCreatedAt: readonly { versionId: number; name: string; createdAt: Date }[];
}

export const NO_HISTORY: VerificationHistory = { wipVerificationIds: new Set(), tagsCreatedAt: [] };

const before = (a: Date, b: Date) => a.getTime() < b.getTime();

/** When a provider first used a tag (undefined: never). */
function tagFirstCreated(
  data: BrokerData,
  provider: Pacticipant,
  tag: string,
  history: VerificationHistory,
): Date | undefined {
  let first: Date | undefined;
  for (const t of history.tagsCreatedAt) {
    if (t.name !== tag || data.versionById.get(t.versionId)?.pacticipantId !== provider.id) continue;
    if (!first || before(t.createdAt, first)) first = t.createdAt;
  }
  if (first) return first;
  // Without the tag times, the first version with the tag stands in for it.
  return data.versionsWithTag(provider.id, tag)[0]?.createdAt;
}

/**
 * Pending for a provider branch (the real broker's PactVersion#pending_for_provider_branch?):
 * no successful verification from a provider version on that branch, and none
 * from a version on another branch made before this branch was created (any
 * time, when the branch does not exist yet). A verification from a provider
 * version on no branch counts for neither.
 */
export function isPendingForBranch(
  data: BrokerData,
  provider: Pacticipant,
  pactVersionId: number,
  branch: string,
): boolean {
  const successes = data.verificationsOf(pactVersionId).filter((v) => v.success);
  const onBranch = new Set(data.versionsOnBranch(provider.id, branch).map((v) => v.id));
  if (successes.some((v) => onBranch.has(v.providerVersionId))) return false;
  const created = data.branch(provider.id, branch)?.createdAt;
  return !successes.some(
    (v) =>
      data.branchNamesOf(v.providerVersionId).some((name) => name !== branch) &&
      (!created || before(v.createdAt, created)),
  );
}

/**
 * The provider tags a pact is pending for (select_pending_provider_version_tags):
 * those with no successful verification from a version with the tag, nor from
 * a version with another tag before the tag was first used.
 */
export function pendingProviderTags(
  data: BrokerData,
  provider: Pacticipant,
  pactVersionId: number,
  tags: readonly string[],
  history: VerificationHistory = NO_HISTORY,
): string[] {
  const successes = data.verificationsOf(pactVersionId).filter((v) => v.success);
  return tags.filter((tag) => {
    const tagged = new Set(data.versionsWithTag(provider.id, tag).map((v) => v.id));
    if (successes.some((v) => tagged.has(v.providerVersionId))) return false;
    const first = tagFirstCreated(data, provider, tag, history);
    return !successes.some(
      (v) =>
        data.tagsOf(v.providerVersionId).some((t) => t !== tag) && (!first || before(v.createdAt, first)),
    );
  });
}

/**
 * Pending: a pact's failure must not fail the provider build. For a provider
 * branch see isPendingForBranch; for provider tags, pending for any of them;
 * with neither, pending until its first successful verification.
 */
export function isPending(
  data: BrokerData,
  provider: Pacticipant,
  pactVersionId: number,
  providerBranch?: string,
  providerTags: readonly string[] = [],
  history: VerificationHistory = NO_HISTORY,
): boolean {
  if (providerBranch !== undefined) return isPendingForBranch(data, provider, pactVersionId, providerBranch);
  if (providerTags.length > 0)
    return pendingProviderTags(data, provider, pactVersionId, providerTags, history).length > 0;
  return !data.verificationsOf(pactVersionId).some((v) => v.success);
}

interface Candidate {
  consumer: Pacticipant;
  versions: Map<number, Version>;
  descriptions: Set<string>;
  /** When the newest publication of this content among the candidates was made. */
  publishedAt: Date;
}

/**
 * The heads a WIP pact can come from (latest_by_consumer_branch and
 * latest_by_consumer_tag): the latest pact of each consumer branch and of each
 * consumer tag, published after `since`, one entry per content.
 */
function wipCandidates(data: BrokerData, provider: Pacticipant, since: Date): Map<number, Candidate> {
  const out = new Map<number, Candidate>();
  const consider = (consumer: Pacticipant, versions: Version[], description: string) => {
    const latest = withPact(data, provider.id, versions).at(-1);
    if (!latest || !before(since, latest.pub.createdAt)) return;
    const entry = out.get(latest.pub.pactVersionId) ?? {
      consumer,
      versions: new Map<number, Version>(),
      descriptions: new Set<string>(),
      publishedAt: latest.pub.createdAt,
    };
    entry.versions.set(latest.v.id, latest.v);
    entry.descriptions.add(`${description} (${latest.v.number})`);
    if (before(entry.publishedAt, latest.pub.createdAt)) entry.publishedAt = latest.pub.createdAt;
    out.set(latest.pub.pactVersionId, entry);
  };
  for (const id of data.consumersOf(provider.id)) {
    const consumer = data.pacticipantById.get(id);
    if (!consumer) continue;
    for (const b of data.s.branches.filter((x) => x.pacticipantId === id))
      consider(consumer, data.versionsOnBranch(id, b.name), `latest version from branch '${b.name}'`);
    const ownVersions = new Set(data.versionsOf(id).map((v) => v.id));
    const tags = new Set(data.s.tags.filter((t) => ownVersions.has(t.versionId)).map((t) => t.name));
    for (const tag of tags)
      consider(consumer, data.versionsWithTag(id, tag), `latest version with tag '${tag}'`);
  }
  return out;
}

/**
 * Still work in progress for a provider branch (remove_non_wip_for_branch): no
 * successful non-WIP verification by a version on the branch, nor by a version
 * on another branch before the branch's first version was made.
 */
function wipForBranch(
  data: BrokerData,
  provider: Pacticipant,
  pactVersionId: number,
  branch: string,
  history: VerificationHistory,
): boolean {
  const successes = data
    .verificationsOf(pactVersionId)
    .filter((v) => v.success && !history.wipVerificationIds.has(v.id));
  const onBranch = data.versionsOnBranch(provider.id, branch);
  const ids = new Set(onBranch.map((v) => v.id));
  if (successes.some((v) => ids.has(v.providerVersionId))) return false;
  const first = onBranch.reduce<Version | undefined>((a, v) => (!a || v.id < a.id ? v : a), undefined);
  return !successes.some(
    (v) =>
      data.branchNamesOf(v.providerVersionId).some((name) => name !== branch) &&
      (!first || before(v.createdAt, first.createdAt)),
  );
}

/**
 * Still work in progress for a provider tag (remove_non_wip_for_tag), and
 * published after the tag was first used: a brand new provider tag does not
 * take on every earlier WIP pact.
 */
function wipForTag(
  data: BrokerData,
  provider: Pacticipant,
  pactVersionId: number,
  publishedAt: Date,
  tag: string,
  history: VerificationHistory,
): boolean {
  const first = tagFirstCreated(data, provider, tag, history);
  if (!first || !before(first, publishedAt)) return false;
  const successes = data
    .verificationsOf(pactVersionId)
    .filter((v) => v.success && !history.wipVerificationIds.has(v.id));
  const tagged = new Set(data.versionsWithTag(provider.id, tag).map((v) => v.id));
  if (successes.some((v) => tagged.has(v.providerVersionId))) return false;
  return !successes.some(
    (v) => data.tagsOf(v.providerVersionId).some((t) => t !== tag) && before(v.createdAt, first),
  );
}

/** Where a verifiable pact is fetched from; a WIP one's URL says so in its metadata. */
export type PactUrl = (consumer: Pacticipant, pactVersion: PactVersion, wip: boolean) => string;

export function pactsForVerification(
  data: BrokerData,
  provider: Pacticipant,
  req: ForVerificationRequest,
  pactUrl: PactUrl,
  history: VerificationHistory = NO_HISTORY,
): PactToVerify[] {
  const selectors = req.consumerVersionSelectors?.length ? req.consumerVersionSelectors : [{ latest: true }];
  validateSelectors(selectors, req.providerVersionBranch);
  const providerTags = req.providerVersionTags ?? [];
  const consumers = data
    .consumersOf(provider.id)
    .map((id) => data.pacticipantById.get(id))
    .filter((c): c is Pacticipant => c !== undefined);

  const selected: Selected[] = [];
  for (const s of selectors) {
    for (const consumer of consumers) {
      if (s.consumer !== undefined && s.consumer.toLowerCase() !== consumer.name.toLowerCase()) continue;
      selected.push(...select(data, provider, consumer, s, req.providerVersionBranch));
    }
  }

  const byContent = new Map<
    number,
    { consumer: Pacticipant; versions: Map<number, Version>; descriptions: Set<string> }
  >();
  for (const s of selected) {
    const key = s.publication.pactVersionId;
    const entry = byContent.get(key) ?? {
      consumer: s.consumer,
      versions: new Map(),
      descriptions: new Set<string>(),
    };
    entry.versions.set(s.version.id, s.version);
    entry.descriptions.add(`${s.description} (${s.version.number})`);
    byContent.set(key, entry);
  }

  const providerText =
    req.providerVersionBranch !== undefined
      ? `from branch '${req.providerVersionBranch}'`
      : providerTags.length > 0
        ? `with tag ${providerTags.map((t) => `'${t}'`).join(", ")}`
        : "";
  const result: PactToVerify[] = [];
  for (const [pactVersionId, entry] of byContent) {
    const pactVersion = data.pactVersionById.get(pactVersionId);
    if (!pactVersion) continue;
    const pending = req.includePendingStatus
      ? isPending(data, provider, pactVersionId, req.providerVersionBranch, providerTags, history)
      : undefined;
    result.push(describe(entry.consumer, pactVersion, entry, pending, false));
  }

  // WIP (find_wip): the latest pact of each consumer branch and tag published
  // since the given date, not selected explicitly, and not yet verified
  // successfully (other than as WIP) for the provider branch or a provider tag.
  // It needs a provider branch or tags; it does not need includePendingStatus.
  if (req.includeWipPactsSince && (req.providerVersionBranch !== undefined || providerTags.length > 0)) {
    const since = new Date(req.includeWipPactsSince);
    if (Number.isNaN(since.getTime())) throw new SelectorError("includeWipPactsSince: not a date");
    for (const [pactVersionId, candidate] of wipCandidates(data, provider, since)) {
      if (byContent.has(pactVersionId)) continue;
      const wip =
        req.providerVersionBranch !== undefined
          ? wipForBranch(data, provider, pactVersionId, req.providerVersionBranch, history)
          : providerTags.some((tag) =>
              wipForTag(data, provider, pactVersionId, candidate.publishedAt, tag, history),
            );
      const pactVersion = data.pactVersionById.get(pactVersionId);
      if (!wip || !pactVersion) continue;
      result.push(
        describe(
          candidate.consumer,
          pactVersion,
          candidate,
          req.includePendingStatus ? true : undefined,
          true,
        ),
      );
    }
  }
  return result;

  function describe(
    consumer: Pacticipant,
    pactVersion: PactVersion,
    entry: { versions: Map<number, Version>; descriptions: Set<string> },
    pending: boolean | undefined,
    wip: boolean,
  ): PactToVerify {
    const url = pactUrl(consumer, pactVersion, wip);
    const descriptions = [...entry.descriptions];
    const notices = [
      {
        when: "before_verification",
        text: wip
          ? `The pact at ${url} is being verified because it is a 'work in progress' pact (ie. it is the pact for the ${descriptions.join(", ")} and it has not yet been successfully verified by a version of ${provider.name} ${providerText}).`
          : `The pact at ${url} is being verified because the pact content belongs to the consumer version matching the following criteria:\n    * ${descriptions.join("\n    * ")}`,
      },
    ];
    if (pending === true) {
      notices.push({
        when: "before_verification",
        text: `This pact is in pending state for this version of ${provider.name} because a successful verification result for a version of ${provider.name} ${providerText || "(any branch)"} has not yet been published. If this verification fails, it will not cause the overall build to fail.`,
      });
    } else if (pending === false) {
      notices.push({
        when: "before_verification",
        text: `This pact has previously been successfully verified by a version of ${provider.name} ${providerText}. If this verification fails, it will fail the build.`,
      });
    }
    return {
      consumer,
      pactVersion,
      consumerVersions: [...entry.versions.values()].sort((a, b) => a.id - b.id),
      selectorDescriptions: descriptions,
      pending,
      wip,
      notices,
      shortDescription: (wip ? "WIP: " : "") + descriptions.join(", "),
    };
  }
}

// The metadata segment of a verifiable pact's URL: base64 of a query string,
// as the real broker's PactBrokerUrls#encode_metadata ("w=true" marks WIP).
// Base64url here, so the segment never holds a "/"; both alphabets decode.

export function encodePactMetadata(fields: Record<string, string>): string {
  return Buffer.from(new URLSearchParams(fields).toString()).toString("base64url");
}

export function decodePactMetadata(segment: string | undefined): Record<string, string> {
  if (!segment) return {};
  try {
    const text = Buffer.from(segment.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8");
    return Object.fromEntries(new URLSearchParams(text));
  } catch {
    return {};
  }
}

/** Whether a verification published under this metadata is for a WIP pact. */
export function isWipMetadata(segment: string | undefined): boolean {
  return decodePactMetadata(segment).w === "true";
}
