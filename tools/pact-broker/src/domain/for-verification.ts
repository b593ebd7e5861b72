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
 * Pending: the content has no successful verification from a provider version
 * on the branch being verified, nor (when that branch is new) from any provider
 * version before the branch was created. A pending pact's failure must not fail
 * the provider build. Without a branch, pending means never verified successfully.
 */
export function isPending(
  data: BrokerData,
  provider: Pacticipant,
  pactVersionId: number,
  providerBranch?: string,
): boolean {
  const successes = data.verificationsOf(pactVersionId).filter((v) => v.success);
  if (successes.length === 0) return true;
  if (providerBranch === undefined) return false;
  const branch = data.branch(provider.id, providerBranch);
  if (!branch) return false; // a branch with no versions yet inherits what was verified before it
  const onBranch = new Set(data.versionsOnBranch(provider.id, providerBranch).map((v) => v.id));
  if (successes.some((v) => onBranch.has(v.providerVersionId))) return false;
  return !successes.some((v) => v.createdAt.getTime() < branch.createdAt.getTime());
}

export function pactsForVerification(
  data: BrokerData,
  provider: Pacticipant,
  req: ForVerificationRequest,
  pactUrl: (consumer: Pacticipant, pactVersion: PactVersion) => string,
): PactToVerify[] {
  const selectors = req.consumerVersionSelectors?.length ? req.consumerVersionSelectors : [{ latest: true }];
  validateSelectors(selectors, req.providerVersionBranch);
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

  const branchText =
    req.providerVersionBranch !== undefined ? `from branch '${req.providerVersionBranch}'` : "";
  const result: PactToVerify[] = [];
  for (const [pactVersionId, entry] of byContent) {
    const pactVersion = data.pactVersionById.get(pactVersionId);
    if (!pactVersion) continue;
    const pending = req.includePendingStatus
      ? isPending(data, provider, pactVersionId, req.providerVersionBranch)
      : undefined;
    result.push(describe(entry.consumer, pactVersion, entry, pending, false));
  }

  // WIP: the newest pact of each consumer branch published since the given
  // date that is not already selected and is still pending for this provider branch.
  if (
    req.includeWipPactsSince &&
    req.includePendingStatus &&
    (req.providerVersionBranch || req.providerVersionTags?.length)
  ) {
    const since = new Date(req.includeWipPactsSince);
    if (Number.isNaN(since.getTime())) throw new SelectorError("includeWipPactsSince: not a date");
    for (const consumer of consumers) {
      const branches = data.s.branches.filter((b) => b.pacticipantId === consumer.id);
      for (const b of branches) {
        const latest = withPact(data, provider.id, data.versionsOnBranch(consumer.id, b.name)).at(-1);
        if (!latest || latest.pub.createdAt < since || byContent.has(latest.pub.pactVersionId)) continue;
        if (!isPending(data, provider, latest.pub.pactVersionId, req.providerVersionBranch)) continue;
        const pactVersion = data.pactVersionById.get(latest.pub.pactVersionId);
        if (!pactVersion) continue;
        const entry = {
          consumer,
          versions: new Map([[latest.v.id, latest.v]]),
          descriptions: new Set([`latest version from branch '${b.name}' (${latest.v.number})`]),
        };
        byContent.set(latest.pub.pactVersionId, entry);
        result.push(describe(consumer, pactVersion, entry, true, true));
      }
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
    const url = pactUrl(consumer, pactVersion);
    const descriptions = [...entry.descriptions];
    const notices = [
      {
        when: "before_verification",
        text: wip
          ? `The pact at ${url} is being verified because it is a 'work in progress' pact (ie. it is the pact for the ${descriptions.join(", ")} and it has not yet been successfully verified by a version of ${provider.name} ${branchText}).`
          : `The pact at ${url} is being verified because the pact content belongs to the consumer version matching the following criteria:\n    * ${descriptions.join("\n    * ")}`,
      },
    ];
    if (pending === true) {
      notices.push({
        when: "before_verification",
        text: `This pact is in pending state for this version of ${provider.name} because a successful verification result for a version of ${provider.name} ${branchText || "(any branch)"} has not yet been published. If this verification fails, it will not cause the overall build to fail.`,
      });
    } else if (pending === false) {
      notices.push({
        when: "before_verification",
        text: `This pact has previously been successfully verified by a version of ${provider.name} ${branchText}. If this verification fails, it will fail the build.`,
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
