// The broker's data as plain records, and the lookups every decision needs.
// The whole data set of a local/CI broker is small, so the matrix and the
// pacts-for-verification logic work on one consistent snapshot (read in one
// transaction) as pure functions: easy to test, no query per row.

export interface Pacticipant {
  id: number;
  name: string;
  mainBranch: string | null;
  createdAt: Date;
}

export interface Version {
  id: number;
  pacticipantId: number;
  number: string;
  createdAt: Date;
}

export interface Branch {
  id: number;
  pacticipantId: number;
  name: string;
  createdAt: Date;
}

export interface BranchVersion {
  id: number;
  branchId: number;
  versionId: number;
  createdAt: Date;
}

export interface Tag {
  versionId: number;
  name: string;
}

export interface PactVersion {
  id: number;
  consumerId: number;
  providerId: number;
  sha: string;
  createdAt: Date;
}

export interface PactPublication {
  id: number;
  consumerVersionId: number;
  providerId: number;
  pactVersionId: number;
  revision: number;
  createdAt: Date;
}

export interface Verification {
  id: number;
  pactVersionId: number;
  providerVersionId: number;
  success: boolean;
  createdAt: Date;
}

export interface Environment {
  uuid: string;
  name: string;
  displayName: string | null;
  production: boolean;
}

export interface DeployedVersion {
  uuid: string;
  versionId: number;
  environmentUuid: string;
  applicationInstance: string | null;
  createdAt: Date;
  undeployedAt: Date | null;
}

export interface ReleasedVersion {
  uuid: string;
  versionId: number;
  environmentUuid: string;
  createdAt: Date;
  supportEndedAt: Date | null;
}

export interface Snapshot {
  pacticipants: Pacticipant[];
  versions: Version[];
  branches: Branch[];
  branchVersions: BranchVersion[];
  tags: Tag[];
  pactVersions: PactVersion[];
  publications: PactPublication[];
  verifications: Verification[];
  environments: Environment[];
  deployedVersions: DeployedVersion[];
  releasedVersions: ReleasedVersion[];
}

export function emptySnapshot(): Snapshot {
  return {
    pacticipants: [],
    versions: [],
    branches: [],
    branchVersions: [],
    tags: [],
    pactVersions: [],
    publications: [],
    verifications: [],
    environments: [],
    deployedVersions: [],
    releasedVersions: [],
  };
}

/** Index over a snapshot. Version order is creation order (id), as in the real broker. */
export class BrokerData {
  readonly pacticipantById = new Map<number, Pacticipant>();
  readonly pacticipantByName = new Map<string, Pacticipant>();
  readonly versionById = new Map<number, Version>();
  readonly pactVersionById = new Map<number, PactVersion>();
  readonly branchById = new Map<number, Branch>();

  readonly s: Snapshot;
  constructor(s: Snapshot) {
    this.s = s;
    for (const p of s.pacticipants) {
      this.pacticipantById.set(p.id, p);
      this.pacticipantByName.set(p.name.toLowerCase(), p);
    }
    for (const v of s.versions) this.versionById.set(v.id, v);
    for (const pv of s.pactVersions) this.pactVersionById.set(pv.id, pv);
    for (const b of s.branches) this.branchById.set(b.id, b);
  }

  /** Names are matched case-insensitively, like the real broker does. */
  pacticipant(name: string): Pacticipant | undefined {
    return this.pacticipantByName.get(name.toLowerCase());
  }

  name(pacticipantId: number): string {
    return this.pacticipantById.get(pacticipantId)?.name ?? `#${pacticipantId}`;
  }

  version(pacticipantId: number, number: string): Version | undefined {
    return this.s.versions.find((v) => v.pacticipantId === pacticipantId && v.number === number);
  }

  versionsOf(pacticipantId: number): Version[] {
    return this.s.versions.filter((v) => v.pacticipantId === pacticipantId).sort((a, b) => a.id - b.id);
  }

  latestVersion(pacticipantId: number): Version | undefined {
    return this.versionsOf(pacticipantId).at(-1);
  }

  branch(pacticipantId: number, name: string): Branch | undefined {
    return this.s.branches.find((b) => b.pacticipantId === pacticipantId && b.name === name);
  }

  /** Versions on a branch, oldest first (order they joined the branch). */
  versionsOnBranch(pacticipantId: number, branchName: string): Version[] {
    const branch = this.branch(pacticipantId, branchName);
    if (!branch) return [];
    return this.s.branchVersions
      .filter((bv) => bv.branchId === branch.id)
      .sort((a, b) => a.id - b.id)
      .map((bv) => this.versionById.get(bv.versionId))
      .filter((v): v is Version => v !== undefined);
  }

  branchNamesOf(versionId: number): string[] {
    return this.s.branchVersions
      .filter((bv) => bv.versionId === versionId)
      .map((bv) => this.branchById.get(bv.branchId)?.name)
      .filter((n): n is string => n !== undefined);
  }

  tagsOf(versionId: number): string[] {
    return this.s.tags.filter((t) => t.versionId === versionId).map((t) => t.name);
  }

  versionsWithTag(pacticipantId: number, tag: string): Version[] {
    const ids = new Set(this.s.tags.filter((t) => t.name === tag).map((t) => t.versionId));
    return this.versionsOf(pacticipantId).filter((v) => ids.has(v.id));
  }

  environment(name: string): Environment | undefined {
    return this.s.environments.find((e) => e.name === name);
  }

  /** Versions currently deployed (not undeployed) or released (support not ended) to an environment. */
  versionsInEnvironment(
    pacticipantId: number,
    environmentUuid: string | null,
    kinds: { deployed: boolean; released: boolean } = { deployed: true, released: true },
  ): Version[] {
    const ids = new Set<number>();
    if (kinds.deployed) {
      for (const d of this.s.deployedVersions) {
        if (d.undeployedAt === null && (environmentUuid === null || d.environmentUuid === environmentUuid))
          ids.add(d.versionId);
      }
    }
    if (kinds.released) {
      for (const r of this.s.releasedVersions) {
        if (r.supportEndedAt === null && (environmentUuid === null || r.environmentUuid === environmentUuid))
          ids.add(r.versionId);
      }
    }
    return this.versionsOf(pacticipantId).filter((v) => ids.has(v.id));
  }

  /** The pact of a consumer version with a provider: its latest revision. */
  pactFor(consumerVersionId: number, providerId: number): PactPublication | undefined {
    let best: PactPublication | undefined;
    for (const p of this.s.publications) {
      if (p.consumerVersionId !== consumerVersionId || p.providerId !== providerId) continue;
      if (!best || p.revision > best.revision) best = p;
    }
    return best;
  }

  /** Latest pact publication per consumer version, for one consumer version. */
  pactsOfConsumerVersion(consumerVersionId: number): PactPublication[] {
    const providers = new Set(
      this.s.publications.filter((p) => p.consumerVersionId === consumerVersionId).map((p) => p.providerId),
    );
    return [...providers]
      .map((providerId) => this.pactFor(consumerVersionId, providerId))
      .filter((p): p is PactPublication => p !== undefined);
  }

  /** Consumers that ever published a pact with this provider. */
  consumersOf(providerId: number): number[] {
    const ids = new Set<number>();
    for (const p of this.s.publications) {
      if (p.providerId !== providerId) continue;
      const v = this.versionById.get(p.consumerVersionId);
      if (v) ids.add(v.pacticipantId);
    }
    return [...ids].sort((a, b) => this.name(a).localeCompare(this.name(b)));
  }

  verificationsOf(pactVersionId: number): Verification[] {
    return this.s.verifications.filter((v) => v.pactVersionId === pactVersionId).sort((a, b) => a.id - b.id);
  }
}
