import type { BrokerData, Pacticipant, PactPublication, Verification, Version } from "./model.ts";

// The matrix and can-i-deploy, following the real Pact Broker's rules
// (lib/pact_broker/matrix: parse_query, selector_resolver, repository,
// deployment_status_summary; Version.for_selector):
// - a selector's criteria combine: environment, tag, version number, main
//   branch, branch and latest narrow the same set of versions; without
//   `latest`, a branch, the main branch, a tag or an environment means every
//   such version;
// - the other side of an integration is inferred from the options (latest,
//   tag, mainBranch, environment); without them, and with one pacticipant
//   named, it is any version;
// - a specified consumer version REQUIRES each of its providers: every pact it
//   published must be verified successfully by the provider version(s) it will
//   meet; a provider with no version there leaves the answer unknown, so "no";
// - a specified provider does not require its consumers: it must have
//   verified successfully the pact of every consumer version it will meet, and
//   when none is there it cannot break anything (first deploy: "yes");
// - verifications belong to pact content (sha), so one verification counts
//   for every consumer version that published identical content;
// - latestby=cvpv keeps the latest verification per consumer version and
//   provider version, cvp only the one of the latest provider version;
// - deployable is false on a failure or an unknown specified version, null
//   (the CLI says no) when a required result is missing, true otherwise.

export interface MatrixSelector {
  pacticipant?: string;
  version?: string;
  latest?: boolean;
  tag?: string;
  branch?: string;
  mainBranch?: boolean;
  environment?: string;
}

export interface MatrixQuery {
  selectors: MatrixSelector[];
  /** Pacticipants (optionally one version) whose results do not count. */
  ignore: MatrixSelector[];
  environment?: string;
  /** "cvp": latest verification per consumer version and provider; "cvpv": per provider version too. */
  latestby?: "cvp" | "cvpv";
  /** Infer the latest version (optionally with `tag`) of the other pacticipants. */
  latest?: boolean;
  tag?: string;
  /** Infer the other pacticipants' main branch versions (the latest with `latest`: can-i-merge). */
  mainBranch?: boolean;
  /** Accepted and checked like the real broker's; every row is returned. */
  limit?: number;
}

export interface MatrixRow {
  consumer: Pacticipant;
  consumerVersion: Version;
  provider: Pacticipant;
  /** The provider version of the verification; for a missing one, the version in scope that lacks it. */
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

/** The query is one the real broker refuses with 400; `errors` are its messages. */
export class MatrixQueryError extends Error {
  readonly errors: string[];
  constructor(errors: string[]) {
    super(errors.join("; "));
    this.errors = errors;
  }
}

/** The real broker's validate_selectors and validate_options, with its messages. */
export function validateMatrixQuery(data: BrokerData, q: MatrixQuery): string[] {
  const errors: string[] = [];
  for (const s of q.selectors) {
    if (!s.pacticipant) errors.push("Please specify the pacticipant name");
    else if (s.version !== undefined && s.latest)
      errors.push(`A version number and latest flag cannot both be specified for ${s.pacticipant}`);
  }
  const names = [...new Set(q.selectors.map((s) => s.pacticipant).filter((n): n is string => !!n))];
  for (const name of names) if (!data.pacticipant(name)) errors.push(`Pacticipant ${name} not found`);
  if (q.selectors.length === 0) errors.push("Please provide 1 or more version selectors.");

  for (const s of q.ignore) {
    if (!s.pacticipant) errors.push("Please specify the pacticipant name to ignore");
    else if (s.version !== undefined && s.latest)
      errors.push(`A version number and latest flag cannot both be specified for ${s.pacticipant} to ignore`);
  }
  const destinations = [q.tag, q.environment, q.mainBranch].filter((d) => d !== undefined);
  if (destinations.length > 1)
    errors.push("Cannot specify more than one of tag, environment and mainBranch as the destination.");
  if (q.latest && q.environment) errors.push("Cannot specify both latest=true and an environment.");
  if (q.environment && !data.environment(q.environment))
    errors.push(`Environment with name '${q.environment}' does not exist`);
  if (q.limit !== undefined && !(q.limit >= 1)) errors.push("The limit must be 1 or greater.");
  return errors;
}

/** What one selector resolved to: every version, one version, or none that exists. */
interface Resolved {
  pacticipant: Pacticipant;
  kind: "all" | "version" | "missing";
  version: Version | null;
  selector: MatrixSelector;
  oneOfMany: boolean;
}

const onlyName = (s: MatrixSelector) =>
  s.version === undefined &&
  s.tag === undefined &&
  s.branch === undefined &&
  !s.latest &&
  s.environment === undefined &&
  !s.mainBranch;

/** Version.for_selector: every criterion narrows the same set; null means every version. */
export function versionsForSelector(data: BrokerData, p: Pacticipant, s: MatrixSelector): Version[] | null {
  if (onlyName(s)) return null;
  let versions = data.versionsOf(p.id);
  const keep = (allowed: readonly Version[]) => {
    const ids = new Set(allowed.map((v) => v.id));
    versions = versions.filter((v) => ids.has(v.id));
  };
  let latestApplied = false;
  if (s.environment !== undefined) {
    const env = data.environment(s.environment);
    keep(env ? data.versionsInEnvironment(p.id, env.uuid) : []);
  }
  if (s.tag !== undefined) keep(data.versionsWithTag(p.id, s.tag));
  if (s.version !== undefined) versions = versions.filter((v) => v.number === s.version);
  for (const branch of [s.mainBranch ? (p.mainBranch ?? null) : undefined, s.branch]) {
    if (branch === undefined) continue;
    const onBranch = branch === null ? [] : data.versionsOnBranch(p.id, branch);
    if (s.latest) {
      latestApplied = true;
      keep(onBranch.slice(-1)); // the branch head
    } else keep(onBranch);
  }
  if (s.latest && !latestApplied) versions = versions.slice(-1);
  return versions;
}

function resolve(data: BrokerData, p: Pacticipant, s: MatrixSelector): Resolved[] {
  const versions = versionsForSelector(data, p, s);
  const base = { pacticipant: p, selector: s, oneOfMany: false };
  if (versions === null) return [{ ...base, kind: "all", version: null }];
  if (versions.length === 0) return [{ ...base, kind: "missing", version: null }];
  return versions.map((version) => ({ ...base, kind: "version", version, oneOfMany: versions.length > 1 }));
}

/** The real broker's ResolvedSelector#description, for a selector and (when known) the version. */
function describe(r: Resolved, version: Version | null = r.version): string {
  const n = r.pacticipant.name;
  const s = r.selector;
  const v = version?.number ?? s.version;
  const branch = s.branch ?? (s.mainBranch && version ? (r.pacticipant.mainBranch ?? undefined) : undefined);
  if (s.latest && s.tag !== undefined)
    return `the latest version of ${n} with tag ${s.tag} (${v ?? "no such version exists"})`;
  if (s.mainBranch && v === undefined)
    return `a version of ${n} from the main branch (no such version exists)`;
  if (s.latest && branch !== undefined)
    return `the latest version of ${n} from branch ${branch} (${v ?? "no such version exists"})`;
  if (branch !== undefined)
    return v !== undefined
      ? `${r.oneOfMany ? "one of the versions" : "the version"} of ${n} from branch ${branch} (${v})`
      : `a version of ${n} from branch ${branch} (no such version exists)`;
  if (s.latest) return `the latest version of ${n} (${v ?? "no such version exists"})`;
  if (s.tag !== undefined) return `a version of ${n} with tag ${s.tag} (${v ?? "no such version exists"})`;
  if (s.environment !== undefined)
    return v !== undefined
      ? `${r.oneOfMany ? "one of the versions" : "the version"} of ${n} currently in ${s.environment} (${v})`
      : `a version of ${n} currently in ${s.environment} (no version is currently recorded as deployed/released in this environment)`;
  if (v !== undefined && r.kind === "missing") return `version ${v} of ${n} (no such version exists)`;
  if (v !== undefined) return `version ${v} of ${n}`;
  return `any version of ${n}`;
}

/** The reason given when a specified selector found no version. */
function doesNotExist(r: Resolved): string {
  const n = r.pacticipant.name;
  const s = r.selector;
  if (s.tag !== undefined) return `No version with tag ${s.tag} exists for ${n}`;
  if (s.branch !== undefined) return `No version of ${n} from branch ${s.branch} exists`;
  if (s.mainBranch) return `No version of ${n} from the main branch exists`;
  if (s.environment !== undefined)
    return `No version of ${n} is currently recorded as deployed or released in environment ${s.environment}`;
  if (s.version !== undefined)
    return `No pacts or verifications have been published for version ${s.version} of ${n}`;
  return `No pacts or verifications have been published for ${n}`;
}

interface Integration {
  consumerId: number;
  providerId: number;
  required: boolean;
}

/** The versions in scope for one side: every version, or exactly these. */
function scopeOf(resolved: readonly Resolved[]): Version[] | "all" {
  if (resolved.some((r) => r.kind === "all")) return "all";
  return resolved.flatMap((r) => (r.version ? [r.version] : []));
}

export function queryMatrix(data: BrokerData, q: MatrixQuery): MatrixResult {
  const errors = validateMatrixQuery(data, q);
  if (errors.length > 0) throw new MatrixQueryError(errors);

  const pacticipantOf = (id: number): Pacticipant => {
    const p = data.pacticipantById.get(id);
    if (!p) throw new Error(`unknown pacticipant id ${id}`);
    return p;
  };
  const specified = new Map<number, Resolved[]>();
  for (const s of q.selectors) {
    const p = data.pacticipant(s.pacticipant ?? "");
    if (!p) continue; // validated above
    specified.set(p.id, [...(specified.get(p.id) ?? []), ...resolve(data, p, s)]);
  }

  // The other side is inferred from the options; with one pacticipant named
  // and none of them, every integration of it counts against any version.
  const infer =
    q.latest === true || q.tag !== undefined || q.environment !== undefined || q.mainBranch === true;
  const everyIntegration = infer || specified.size === 1;
  const integrations = new Map<string, Integration>();
  const add = (i: Integration) => {
    const key = `${i.consumerId}/${i.providerId}`;
    const existing = integrations.get(key);
    if (!existing || (!existing.required && i.required)) integrations.set(key, i);
  };
  for (const [id, resolved] of specified) {
    const scope = scopeOf(resolved);
    const versions = scope === "all" ? data.versionsOf(id) : scope;
    for (const v of versions)
      for (const pub of data.pactsOfConsumerVersion(v.id))
        if (everyIntegration || specified.has(pub.providerId))
          add({ consumerId: id, providerId: pub.providerId, required: true });
    for (const c of data.consumersOf(id))
      if (everyIntegration || specified.has(c)) add({ consumerId: c, providerId: id, required: false });
  }

  const inferred = new Map<number, Resolved[]>();
  const resolvedFor = (id: number): Resolved[] => {
    const known = specified.get(id) ?? inferred.get(id);
    if (known) return known;
    const p = pacticipantOf(id);
    const selector: MatrixSelector = { pacticipant: p.name };
    if (infer) {
      if (q.latest) selector.latest = true;
      if (q.tag !== undefined) selector.tag = q.tag;
      if (q.mainBranch) selector.mainBranch = true;
      if (q.environment !== undefined) selector.environment = q.environment;
    }
    const r = resolve(data, p, selector);
    inferred.set(id, r);
    return r;
  };
  /** The selector a row's version came from, for its description. */
  const resolvedForVersion = (id: number, version: Version | null): Resolved => {
    const all = resolvedFor(id);
    const exact = version ? all.find((r) => r.version?.id === version.id) : undefined;
    const chosen = exact ?? all.find((r) => r.kind === "all") ?? all[0];
    if (!chosen) throw new Error(`no selector for pacticipant ${id}`);
    if (chosen.kind === "all" && version) return { ...chosen, kind: "version", version };
    return chosen;
  };

  const isIgnored = (p: Pacticipant, v: Version | null) =>
    q.ignore.some(
      (i) =>
        i.pacticipant?.toLowerCase() === p.name.toLowerCase() &&
        (i.version === undefined || i.version === v?.number),
    );

  const rows: MatrixRow[] = [];
  const integrationsWithoutRow: Integration[] = [];
  for (const integration of integrations.values()) {
    const consumer = pacticipantOf(integration.consumerId);
    const provider = pacticipantOf(integration.providerId);
    const consumerScope = scopeOf(resolvedFor(consumer.id));
    const providerScope = scopeOf(resolvedFor(provider.id));
    const before = rows.length;
    const consumerVersions = consumerScope === "all" ? data.versionsOf(consumer.id) : consumerScope;
    for (const cv of consumerVersions) {
      const pub = data.pactFor(cv.id, provider.id);
      if (!pub) continue;
      if (providerScope !== "all" && providerScope.length === 0) continue; // nothing of the provider to meet
      const inScope = providerScope === "all" ? null : new Set(providerScope.map((v) => v.id));
      // The latest verification of this content by each provider version in scope (cvpv).
      const latestByProviderVersion = new Map<number, Verification>();
      for (const ver of data.verificationsOf(pub.pactVersionId)) {
        if (inScope && !inScope.has(ver.providerVersionId)) continue;
        latestByProviderVersion.set(ver.providerVersionId, ver);
      }
      let found = [...latestByProviderVersion.values()];
      // cvp: only the row of the latest provider version.
      if (q.latestby === "cvp" && found.length > 1)
        found = [found.reduce((a, b) => (a.providerVersionId > b.providerVersionId ? a : b))];
      const row = (providerVersion: Version | null, verification: Verification | null): MatrixRow => ({
        consumer,
        consumerVersion: cv,
        provider,
        providerVersion,
        publication: pub,
        verification,
        ignored: isIgnored(consumer, cv) || isIgnored(provider, providerVersion),
      });
      for (const ver of found) rows.push(row(data.versionById.get(ver.providerVersionId) ?? null, ver));
      // A provider version in scope that never verified this content leaves
      // the answer unknown; so does content nobody verified.
      if (providerScope === "all") {
        if (found.length === 0) rows.push(row(null, null));
      } else {
        for (const v of providerScope) if (!latestByProviderVersion.has(v.id)) rows.push(row(v, null));
      }
    }
    if (rows.length === before && integration.required) integrationsWithoutRow.push(integration);
  }

  const considered = rows.filter((r) => !r.ignored);
  const ignoredRows = rows.filter((r) => r.ignored);
  const requiredMissing = integrationsWithoutRow.filter(
    (i) => !isIgnored(pacticipantOf(i.consumerId), null) && !isIgnored(pacticipantOf(i.providerId), null),
  );
  const missingSpecified = [...specified.values()].flat().filter((r) => r.kind === "missing");

  const describeRow = (r: MatrixRow) =>
    [
      describe(resolvedForVersion(r.consumer.id, r.consumerVersion), r.consumerVersion),
      describe(resolvedForVersion(r.provider.id, r.providerVersion), r.providerVersion),
    ] as const;

  const errorsOut: Reason[] = missingSpecified.map((r) => ({ type: "error", text: doesNotExist(r) }));
  if (errorsOut.length === 0) {
    for (const i of requiredMissing) {
      const c = resolvedForVersion(i.consumerId, null);
      const p = resolvedForVersion(i.providerId, null);
      errorsOut.push({
        type: "error",
        text: `There is no verified pact between ${describe(c)} and ${describe(p)}`,
      });
    }
    for (const r of rows.filter((x) => x.verification?.success === false)) {
      const [c, p] = describeRow(r);
      errorsOut.push({
        type: "error",
        text: `${r.ignored ? "[IGNORED] " : ""}The verification for the pact between ${c} and ${p} failed`,
      });
    }
    for (const r of rows.filter((x) => x.verification === null)) {
      const [c, p] = describeRow(r);
      errorsOut.push({
        type: "error",
        text: `${r.ignored ? "[IGNORED] " : ""}There is no verified pact between ${c} and ${p}`,
      });
    }
  }
  const uniqueErrors = [...new Map(errorsOut.map((e) => [e.text, e])).values()];
  const warnings: Reason[] = q.ignore
    .filter((i) => i.pacticipant && !data.pacticipant(i.pacticipant))
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
