import type { BrokerData, Pacticipant, PactPublication, Verification, Version } from "./model.ts";

// The matrix and can-i-deploy, following the real Pact Broker's rules:
// - a specified consumer version REQUIRES each of its providers: every pact it
//   published must be verified successfully by the provider version(s) it will
//   meet (deployed in the environment / the selected versions); a provider
//   with no version there leaves the answer unknown, so "no";
// - a specified provider does not require its consumers: it must have
//   verified successfully the pact of every consumer version it will meet, and
//   when none is deployed there is nothing to break (first deploy: "yes");
// - verifications belong to pact content (sha), so one verification counts
//   for every consumer version that published identical content;
// - deployable is false on a failure or an unknown specified version, null
//   (the CLI says no) when a required result is missing, true otherwise.

export interface MatrixSelector {
  pacticipant: string;
  version?: string;
  latest?: boolean;
  tag?: string;
  branch?: string;
  mainBranch?: boolean;
}

export interface MatrixQuery {
  selectors: MatrixSelector[];
  ignore: { pacticipant: string; version?: string }[];
  environment?: string;
  /** "cvp": latest verification per consumer version and provider; "cvpv": per provider version too. */
  latestby?: "cvp" | "cvpv";
  /** Compare with the latest version (optionally with tag) of the other pacticipants. */
  latest?: boolean;
  tag?: string;
  /** Compare with the latest version of the other pacticipants' main branches (can-i-merge). */
  mainBranch?: boolean;
}

export interface MatrixRow {
  consumer: Pacticipant;
  consumerVersion: Version;
  provider: Pacticipant;
  providerVersion: Version | null;
  publication: PactPublication;
  verification: Verification | null;
  ignored: boolean;
}

export interface Reason {
  type: "error" | "success" | "warning";
  text: string;
}

export interface MatrixResult {
  rows: MatrixRow[];
  deployable: boolean | null;
  reasons: Reason[];
  counts: { success: number; failed: number; unknown: number; ignored?: number };
}

export class MatrixQueryError extends Error {}

/** How a pacticipant's versions were chosen: for the row set and for the reason texts. */
interface Resolved {
  pacticipant: Pacticipant | undefined;
  name: string;
  /** null: every version (no restriction). */
  versions: Version[] | null;
  specified: boolean;
  /** A version was asked for but does not exist. */
  missing: boolean;
  describe: (version?: Version | null) => string;
}

function resolveSpecified(data: BrokerData, s: MatrixSelector): Resolved {
  const p = data.pacticipant(s.pacticipant);
  const name = p?.name ?? s.pacticipant;
  const base = { pacticipant: p, name, specified: true };
  if (!p) {
    return {
      ...base,
      versions: [],
      missing: true,
      describe: () => (s.version !== undefined ? `version ${s.version} of ${name}` : name),
    };
  }
  if (s.version !== undefined) {
    const v = data.version(p.id, s.version);
    return {
      ...base,
      versions: v ? [v] : [],
      missing: !v,
      describe: () => `version ${s.version} of ${name}`,
    };
  }
  if (s.mainBranch) {
    const v = p.mainBranch ? data.versionsOnBranch(p.id, p.mainBranch).at(-1) : undefined;
    return {
      ...base,
      versions: v ? [v] : [],
      missing: !v,
      describe: () =>
        `the latest version of ${name} from the main branch (${v?.number ?? "no such version exists"})`,
    };
  }
  if (s.branch !== undefined) {
    const onBranch = data.versionsOnBranch(p.id, s.branch);
    if (s.latest) {
      const v = onBranch.at(-1);
      return {
        ...base,
        versions: v ? [v] : [],
        missing: !v,
        describe: () =>
          `the latest version of ${name} from branch ${s.branch} (${v?.number ?? "no such version exists"})`,
      };
    }
    return {
      ...base,
      versions: onBranch,
      missing: onBranch.length === 0,
      describe: (v) => `version ${v?.number ?? "(none)"} of ${name} from branch ${s.branch}`,
    };
  }
  if (s.tag !== undefined) {
    const tagged = data.versionsWithTag(p.id, s.tag);
    const picked = s.latest ? tagged.slice(-1) : tagged;
    return {
      ...base,
      versions: picked,
      missing: picked.length === 0,
      describe: (v) =>
        picked.length
          ? `the latest version of ${name} with tag ${s.tag} (${v?.number ?? picked.at(-1)?.number})`
          : `the latest version of ${name} with tag ${s.tag} (no such version exists)`,
    };
  }
  if (s.latest) {
    const v = data.latestVersion(p.id);
    return {
      ...base,
      versions: v ? [v] : [],
      missing: !v,
      describe: () => `the latest version of ${name} (${v?.number ?? "no such version exists"})`,
    };
  }
  return {
    ...base,
    versions: null,
    missing: false,
    describe: (v) => (v ? `version ${v.number} of ${name}` : `any version of ${name}`),
  };
}

function resolveInferred(data: BrokerData, p: Pacticipant, q: MatrixQuery): Resolved {
  const base = { pacticipant: p, name: p.name, specified: false, missing: false };
  if (q.environment !== undefined) {
    const env = data.environment(q.environment);
    const versions = env ? data.versionsInEnvironment(p.id, env.uuid) : [];
    return {
      ...base,
      versions,
      describe: (v) => {
        if (versions.length === 0)
          return `a version of ${p.name} currently in ${q.environment} (no version is currently recorded as deployed/released in this environment)`;
        const prefix = versions.length > 1 ? "one of the versions" : "the version";
        return `${prefix} of ${p.name} currently in ${q.environment} (${v?.number ?? versions.map((x) => x.number).join(", ")})`;
      },
    };
  }
  if (q.mainBranch) {
    const v = p.mainBranch ? data.versionsOnBranch(p.id, p.mainBranch).at(-1) : undefined;
    return {
      ...base,
      versions: v ? [v] : [],
      describe: () =>
        `the latest version of ${p.name} from the main branch (${v?.number ?? "no such version exists"})`,
    };
  }
  if (q.latest) {
    const v = q.tag !== undefined ? data.versionsWithTag(p.id, q.tag).at(-1) : data.latestVersion(p.id);
    const what =
      q.tag !== undefined
        ? `the latest version of ${p.name} with tag ${q.tag}`
        : `the latest version of ${p.name}`;
    return {
      ...base,
      versions: v ? [v] : [],
      describe: () => `${what} (${v?.number ?? "no such version exists"})`,
    };
  }
  return {
    ...base,
    versions: null,
    describe: (v) => (v ? `version ${v.number} of ${p.name}` : `any version of ${p.name}`),
  };
}

interface Integration {
  consumerId: number;
  providerId: number;
  required: boolean;
}

export function queryMatrix(data: BrokerData, q: MatrixQuery): MatrixResult {
  if (q.selectors.length === 0) throw new MatrixQueryError("Please provide 1 or more version selectors.");
  const specified = q.selectors.map((s) => resolveSpecified(data, s));
  const byId = new Map<number, Resolved>();
  for (const r of specified) if (r.pacticipant) byId.set(r.pacticipant.id, r);

  // The other side is inferred when asked for (environment, latest, main
  // branch) or when only one pacticipant is named.
  const infer =
    q.environment !== undefined || q.latest === true || q.mainBranch === true || specified.length === 1;
  const integrations = new Map<string, Integration>();
  const add = (i: Integration) => {
    const key = `${i.consumerId}/${i.providerId}`;
    const existing = integrations.get(key);
    if (!existing || (!existing.required && i.required)) integrations.set(key, i);
  };
  for (const r of specified) {
    const p = r.pacticipant;
    if (!p) continue;
    const versions = r.versions ?? data.versionsOf(p.id);
    for (const v of versions) {
      for (const pub of data.pactsOfConsumerVersion(v.id)) {
        if (infer || byId.has(pub.providerId))
          add({ consumerId: p.id, providerId: pub.providerId, required: true });
      }
    }
    if (infer)
      for (const c of data.consumersOf(p.id)) add({ consumerId: c, providerId: p.id, required: false });
  }

  const resolvedFor = (id: number): Resolved => {
    const known = byId.get(id);
    if (known) return known;
    const p = data.pacticipantById.get(id);
    if (!p) throw new Error(`unknown pacticipant id ${id}`);
    const r = infer ? resolveInferred(data, p, q) : resolveInferred(data, p, { selectors: [], ignore: [] });
    byId.set(id, r);
    return r;
  };

  const isIgnored = (p: Pacticipant, v: Version | null) =>
    q.ignore.some(
      (i) =>
        i.pacticipant.toLowerCase() === p.name.toLowerCase() &&
        (i.version === undefined || i.version === v?.number),
    );

  const rows: MatrixRow[] = [];
  const integrationsWithoutRow: Integration[] = [];
  for (const integration of integrations.values()) {
    const cr = resolvedFor(integration.consumerId);
    const pr = resolvedFor(integration.providerId);
    const consumer = data.pacticipantById.get(integration.consumerId);
    const provider = data.pacticipantById.get(integration.providerId);
    if (!consumer || !provider) continue;
    const before = rows.length;
    const consumerVersions = cr.versions ?? data.versionsOf(consumer.id);
    for (const cv of consumerVersions) {
      const pub = data.pactFor(cv.id, provider.id);
      if (!pub) continue;
      const allowed = pr.versions ? new Set(pr.versions.map((v) => v.id)) : null;
      if (allowed && allowed.size === 0) continue; // nothing of the provider to meet
      // Latest verification of this content by each provider version in scope.
      const latestByProviderVersion = new Map<number, Verification>();
      for (const ver of data.verificationsOf(pub.pactVersionId)) {
        if (allowed && !allowed.has(ver.providerVersionId)) continue;
        latestByProviderVersion.set(ver.providerVersionId, ver);
      }
      let found = [...latestByProviderVersion.values()];
      if (q.latestby === "cvp" && found.length > 1) found = [found.reduce((a, b) => (a.id > b.id ? a : b))];
      for (const ver of found) {
        const pv = data.versionById.get(ver.providerVersionId) ?? null;
        rows.push({
          consumer,
          consumerVersion: cv,
          provider,
          providerVersion: pv,
          publication: pub,
          verification: ver,
          ignored: isIgnored(consumer, cv) || isIgnored(provider, pv),
        });
      }
      // A provider version in scope that never verified this content leaves
      // the answer unknown (the real broker shows it as a row with no provider version).
      const unverified = allowed
        ? [...allowed].some((id) => !latestByProviderVersion.has(id))
        : found.length === 0;
      if (unverified) {
        rows.push({
          consumer,
          consumerVersion: cv,
          provider,
          providerVersion: null,
          publication: pub,
          verification: null,
          ignored: isIgnored(consumer, cv) || isIgnored(provider, null),
        });
      }
    }
    if (rows.length === before && integration.required) integrationsWithoutRow.push(integration);
  }

  const considered = rows.filter((r) => !r.ignored);
  const ignoredRows = rows.filter((r) => r.ignored);
  const requiredMissing = integrationsWithoutRow.filter((i) => {
    const c = data.pacticipantById.get(i.consumerId);
    const p = data.pacticipantById.get(i.providerId);
    return !(c && isIgnored(c, null)) && !(p && isIgnored(p, null));
  });
  const missingSpecified = specified.filter((r) => r.missing);

  const describeRow = (r: MatrixRow) => {
    const cr = resolvedFor(r.consumer.id);
    const pr = resolvedFor(r.provider.id);
    return [cr.describe(r.consumerVersion), pr.describe(r.providerVersion)] as const;
  };

  const errors: Reason[] = [];
  for (const r of missingSpecified) {
    errors.push({
      type: "error",
      text: `No pacts or verifications have been published for ${r.describe()}`,
    });
  }
  if (errors.length === 0) {
    for (const i of requiredMissing) {
      const cr = resolvedFor(i.consumerId);
      const pr = resolvedFor(i.providerId);
      errors.push({
        type: "error",
        text: `There is no verified pact between ${cr.describe()} and ${pr.describe()}`,
      });
    }
    for (const r of rows.filter((x) => x.verification?.success === false)) {
      const [c, p] = describeRow(r);
      errors.push({
        type: "error",
        text: `${r.ignored ? "[IGNORED] " : ""}The verification for the pact between ${c} and ${p} failed`,
      });
    }
    for (const r of rows.filter((x) => x.verification === null)) {
      const [c, p] = describeRow(r);
      errors.push({
        type: "error",
        text: `${r.ignored ? "[IGNORED] " : ""}There is no verified pact between ${c} and ${p}`,
      });
    }
  }
  const uniqueErrors = [...new Map(errors.map((e) => [e.text, e])).values()];
  const warnings: Reason[] = q.ignore
    .filter((i) => !data.pacticipant(i.pacticipant))
    .map((i) => ({ type: "warning", text: `WARNING: Cannot ignore ${i.pacticipant} (no such pacticipant)` }));

  let deployable: boolean | null;
  if (missingSpecified.length > 0) deployable = false;
  else if (considered.some((r) => r.verification === null) || requiredMissing.length > 0) deployable = null;
  else deployable = considered.every((r) => r.verification?.success === true);

  const success: Reason[] =
    considered.length > 0
      ? [{ type: "success", text: "All required verification results are published and successful" }]
      : [{ type: "success", text: "There are no missing dependencies" }];
  const reasons = uniqueErrors.length > 0 ? [...uniqueErrors, ...warnings] : [...success, ...warnings];

  const counts: MatrixResult["counts"] = {
    success: considered.filter((r) => r.verification?.success === true).length,
    failed: considered.filter((r) => r.verification?.success === false).length,
    unknown: considered.filter((r) => r.verification === null).length + requiredMissing.length,
  };
  if (ignoredRows.length > 0) counts.ignored = ignoredRows.length;

  rows.sort(
    (a, b) =>
      a.consumer.name.localeCompare(b.consumer.name) ||
      b.consumerVersion.id - a.consumerVersion.id ||
      a.provider.name.localeCompare(b.provider.name) ||
      (b.providerVersion?.id ?? 0) - (a.providerVersion?.id ?? 0),
  );
  return { rows, deployable, reasons, counts };
}
