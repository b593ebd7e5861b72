import { randomUUID } from "node:crypto";
import { inTransaction, type Pool, type PoolClient } from "#lib/db.ts";
import type { Environment, Snapshot, Verification, Version } from "../domain/model.ts";
import { mergePacts, PactContentError, type PactDoc, pactSha } from "../domain/pact-content.ts";
import { createWebhookStore, type WebhookStore } from "../webhooks/store.ts";

// SQL adapter of the broker. Writes run one at a time (a transaction-scoped
// advisory lock): a local/CI broker sees few writes, and serialising them
// keeps revision numbers, "undeploy the previous version" and name creation
// free of races without more machinery.

const WRITE_LOCK = 727_292;

/** Branch names that become a pacticipant's main branch when it has none (the real broker's defaults). */
export const MAIN_BRANCH_CANDIDATES = ["develop", "main", "master"];

export interface Store {
  snapshot(): Promise<Snapshot>;
  write<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  pactContent(pactVersionId: number): Promise<PactDoc | undefined>;
  verificationDetails(
    id: number,
  ): Promise<{ testResults: unknown; verifiedBy: unknown; buildUrl: string | null } | undefined>;
  /** Verifications published through a WIP pact's URL (they do not end its WIP state). */
  wipVerificationIds(): Promise<Set<number>>;
  /** When each tag was put on its version (the snapshot's tags leave it out). */
  tagsCreatedAt(): Promise<{ versionId: number; name: string; createdAt: Date }[]>;
  /** Webhooks, the outbox of publications and verifications, triggered webhooks (src/webhooks/store.ts). */
  webhooks: WebhookStore;
  /** When each environment was created, by uuid (the snapshot's environments leave it out). */
  environmentsCreatedAt(): Promise<Map<string, Date>>;
}

export interface Tx {
  ensurePacticipant(name: string): Promise<number>;
  updatePacticipant(name: string, fields: { mainBranch?: string | null }): Promise<number>;
  ensureVersion(pacticipantId: number, number: string, buildUrl?: string): Promise<Version>;
  addBranch(pacticipantId: number, versionId: number, branch: string): Promise<void>;
  addTag(versionId: number, tag: string): Promise<void>;
  /** Removes a tag from a version; false when the version did not have it. */
  deleteTag(versionId: number, tag: string): Promise<boolean>;
  publishPact(
    consumerVersionId: number,
    consumerId: number,
    providerId: number,
    doc: PactDoc,
    onConflict: "overwrite" | "merge",
  ): Promise<{ pactVersionId: number; sha: string; revision: number; contentChanged: boolean }>;
  recordVerification(input: {
    pactVersionId: number;
    providerVersionId: number;
    success: boolean;
    buildUrl?: string;
    verifiedBy?: unknown;
    testResults?: unknown;
  }): Promise<Verification>;
  createEnvironment(e: {
    name: string;
    displayName?: string;
    production: boolean;
    contacts?: unknown;
  }): Promise<Environment>;
  updateEnvironment(
    uuid: string,
    e: { name: string; displayName?: string; production: boolean; contacts?: unknown },
  ): Promise<Environment | undefined>;
  deleteEnvironment(uuid: string): Promise<boolean>;
  recordDeployment(
    versionId: number,
    environmentUuid: string,
    applicationInstance: string | null,
  ): Promise<string>;
  setDeploymentEnded(uuid: string): Promise<boolean>;
  recordRelease(versionId: number, environmentUuid: string): Promise<string>;
  setSupportEnded(uuid: string): Promise<boolean>;
  deleteBranch(pacticipantId: number, name: string): Promise<boolean>;
  /** The content of the latest pact revision of a consumer version with a provider, read inside the write. */
  latestPactContent(consumerVersionId: number, providerId: number): Promise<PactDoc | undefined>;
  /** Marks a verification as published for a work-in-progress pact. */
  markVerificationWip(verificationId: number): Promise<void>;
}

export function createStore(pool: Pool): Store {
  return {
    async wipVerificationIds() {
      const r = await pool.query<{ id: number }>("SELECT id FROM verifications WHERE wip");
      return new Set(r.rows.map((row) => row.id));
    },

    async tagsCreatedAt() {
      const r = await pool.query<{ versionId: number; name: string; createdAt: Date }>(
        `SELECT version_id AS "versionId", name, created_at AS "createdAt" FROM tags ORDER BY created_at`,
      );
      return r.rows;
    },

    webhooks: createWebhookStore(pool),

    async environmentsCreatedAt() {
      const r = await pool.query<{ uuid: string; createdAt: Date }>(
        `SELECT uuid, created_at AS "createdAt" FROM environments`,
      );
      return new Map(r.rows.map((row) => [row.uuid, row.createdAt]));
    },

    async snapshot() {
      // One consistent view for a whole decision.
      return inTransaction(
        pool,
        async (client) => {
          const q = async <T>(sql: string) => (await client.query(sql)).rows as T[];
          const snapshot: Snapshot = {
            pacticipants: await q(
              `SELECT id, name, main_branch AS "mainBranch", created_at AS "createdAt" FROM pacticipants ORDER BY id`,
            ),
            versions: await q(
              `SELECT id, pacticipant_id AS "pacticipantId", number, created_at AS "createdAt" FROM versions ORDER BY id`,
            ),
            branches: await q(
              `SELECT id, pacticipant_id AS "pacticipantId", name, created_at AS "createdAt" FROM branches ORDER BY id`,
            ),
            branchVersions: await q(
              `SELECT id, branch_id AS "branchId", version_id AS "versionId", created_at AS "createdAt" FROM branch_versions ORDER BY id`,
            ),
            tags: await q(`SELECT version_id AS "versionId", name FROM tags`),
            pactVersions: await q(
              `SELECT id, consumer_id AS "consumerId", provider_id AS "providerId", sha, created_at AS "createdAt" FROM pact_versions ORDER BY id`,
            ),
            publications: await q(
              `SELECT id, consumer_version_id AS "consumerVersionId", provider_id AS "providerId",
                    pact_version_id AS "pactVersionId", revision, created_at AS "createdAt"
               FROM pact_publications ORDER BY id`,
            ),
            verifications: await q(
              `SELECT id, pact_version_id AS "pactVersionId", provider_version_id AS "providerVersionId", success,
                    created_at AS "createdAt" FROM verifications ORDER BY id`,
            ),
            environments: await q(
              `SELECT uuid, name, display_name AS "displayName", production FROM environments ORDER BY created_at`,
            ),
            deployedVersions: await q(
              `SELECT uuid, version_id AS "versionId", environment_uuid AS "environmentUuid",
                    application_instance AS "applicationInstance", created_at AS "createdAt", undeployed_at AS "undeployedAt"
               FROM deployed_versions ORDER BY created_at`,
            ),
            releasedVersions: await q(
              `SELECT uuid, version_id AS "versionId", environment_uuid AS "environmentUuid", created_at AS "createdAt",
                    support_ended_at AS "supportEndedAt" FROM released_versions ORDER BY created_at`,
            ),
          };
          return snapshot;
        },
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
      );
    },

    async pactContent(pactVersionId) {
      const r = await pool.query<{ content: PactDoc }>("SELECT content FROM pact_versions WHERE id = $1", [
        pactVersionId,
      ]);
      return r.rows[0]?.content;
    },

    async verificationDetails(id) {
      const r = await pool.query(
        `SELECT test_results AS "testResults", verified_by AS "verifiedBy", build_url AS "buildUrl" FROM verifications WHERE id = $1`,
        [id],
      );
      return r.rows[0];
    },

    write(fn) {
      return inTransaction(pool, async (client) => {
        await client.query("SELECT pg_advisory_xact_lock($1)", [WRITE_LOCK]);
        return fn(createTx(client));
      });
    },
  };
}

function createTx(c: PoolClient): Tx {
  const one = async <T>(sql: string, params: unknown[]) =>
    (await c.query(sql, params)).rows[0] as T | undefined;

  const tx: Tx = {
    async ensurePacticipant(name) {
      const found = await one<{ id: number }>("SELECT id FROM pacticipants WHERE lower(name) = lower($1)", [
        name,
      ]);
      if (found) return found.id;
      const made = await one<{ id: number }>("INSERT INTO pacticipants (name) VALUES ($1) RETURNING id", [
        name,
      ]);
      if (!made) throw new Error("pacticipant insert returned nothing");
      return made.id;
    },

    async updatePacticipant(name, fields) {
      const id = await tx.ensurePacticipant(name);
      if (fields.mainBranch !== undefined)
        await c.query("UPDATE pacticipants SET main_branch = $2 WHERE id = $1", [id, fields.mainBranch]);
      return id;
    },

    async ensureVersion(pacticipantId, number, buildUrl) {
      await c.query(
        `INSERT INTO versions (pacticipant_id, number, build_url) VALUES ($1, $2, $3)
         ON CONFLICT (pacticipant_id, number) DO UPDATE SET build_url = COALESCE(EXCLUDED.build_url, versions.build_url)`,
        [pacticipantId, number, buildUrl ?? null],
      );
      const v = await one<Version>(
        `SELECT id, pacticipant_id AS "pacticipantId", number, created_at AS "createdAt" FROM versions
          WHERE pacticipant_id = $1 AND number = $2`,
        [pacticipantId, number],
      );
      if (!v) throw new Error("version upsert returned nothing");
      return v;
    },

    async addBranch(pacticipantId, versionId, branch) {
      await c.query("INSERT INTO branches (pacticipant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", [
        pacticipantId,
        branch,
      ]);
      await c.query(
        `INSERT INTO branch_versions (branch_id, version_id)
         SELECT id, $3 FROM branches WHERE pacticipant_id = $1 AND name = $2
         ON CONFLICT DO NOTHING`,
        [pacticipantId, branch, versionId],
      );
      if (MAIN_BRANCH_CANDIDATES.includes(branch))
        await c.query("UPDATE pacticipants SET main_branch = $2 WHERE id = $1 AND main_branch IS NULL", [
          pacticipantId,
          branch,
        ]);
    },

    async addTag(versionId, tag) {
      await c.query("INSERT INTO tags (version_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", [
        versionId,
        tag,
      ]);
    },

    async deleteTag(versionId, tag) {
      const r = await c.query("DELETE FROM tags WHERE version_id = $1 AND name = $2", [versionId, tag]);
      return (r.rowCount ?? 0) > 0;
    },

    async publishPact(consumerVersionId, consumerId, providerId, doc, onConflict) {
      const latest = await one<{ revision: number; pactVersionId: number; content: PactDoc }>(
        `SELECT p.revision, p.pact_version_id AS "pactVersionId", v.content
           FROM pact_publications p JOIN pact_versions v ON v.id = p.pact_version_id
          WHERE p.consumer_version_id = $1 AND p.provider_id = $2
          ORDER BY p.revision DESC LIMIT 1`,
        [consumerVersionId, providerId],
      );
      let content = doc;
      if (latest && onConflict === "merge") content = mergePacts(latest.content, doc);
      const sha = pactSha(content);
      await c.query(
        `INSERT INTO pact_versions (consumer_id, provider_id, sha, content) VALUES ($1, $2, $3, $4)
         ON CONFLICT (consumer_id, provider_id, sha) DO NOTHING`,
        [consumerId, providerId, sha, JSON.stringify(content)],
      );
      const pv = await one<{ id: number }>(
        "SELECT id FROM pact_versions WHERE consumer_id = $1 AND provider_id = $2 AND sha = $3",
        [consumerId, providerId, sha],
      );
      if (!pv) throw new PactContentError("pact content could not be stored");
      if (latest && latest.pactVersionId === pv.id)
        return { pactVersionId: pv.id, sha, revision: latest.revision, contentChanged: false };
      const revision = (latest?.revision ?? 0) + 1;
      await c.query(
        "INSERT INTO pact_publications (consumer_version_id, provider_id, pact_version_id, revision) VALUES ($1, $2, $3, $4)",
        [consumerVersionId, providerId, pv.id, revision],
      );
      return { pactVersionId: pv.id, sha, revision, contentChanged: latest !== undefined };
    },

    async recordVerification(input) {
      const v = await one<Verification>(
        `INSERT INTO verifications (pact_version_id, provider_version_id, success, build_url, verified_by, test_results)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING id, pact_version_id AS "pactVersionId", provider_version_id AS "providerVersionId", success, created_at AS "createdAt"`,
        [
          input.pactVersionId,
          input.providerVersionId,
          input.success,
          input.buildUrl ?? null,
          input.verifiedBy === undefined ? null : JSON.stringify(input.verifiedBy),
          input.testResults === undefined ? null : JSON.stringify(input.testResults),
        ],
      );
      if (!v) throw new Error("verification insert returned nothing");
      return v;
    },

    async createEnvironment(e) {
      const env = await one<Environment>(
        `INSERT INTO environments (uuid, name, display_name, production, contacts) VALUES ($1, $2, $3, $4, $5)
         RETURNING uuid, name, display_name AS "displayName", production`,
        [
          randomUUID(),
          e.name,
          e.displayName ?? null,
          e.production,
          e.contacts === undefined ? null : JSON.stringify(e.contacts),
        ],
      );
      if (!env) throw new Error("environment insert returned nothing");
      return env;
    },

    async updateEnvironment(uuid, e) {
      return one<Environment>(
        `UPDATE environments SET name = $2, display_name = $3, production = $4, contacts = $5 WHERE uuid = $1
         RETURNING uuid, name, display_name AS "displayName", production`,
        [
          uuid,
          e.name,
          e.displayName ?? null,
          e.production,
          e.contacts === undefined ? null : JSON.stringify(e.contacts),
        ],
      );
    },

    async deleteEnvironment(uuid) {
      return ((await c.query("DELETE FROM environments WHERE uuid = $1", [uuid])).rowCount ?? 0) > 0;
    },

    async recordDeployment(versionId, environmentUuid, applicationInstance) {
      // The previous deployment of this pacticipant to the same environment
      // (and application instance) is replaced by this one.
      await c.query(
        `UPDATE deployed_versions d SET undeployed_at = clock_timestamp()
           FROM versions v, versions mine
          WHERE d.version_id = v.id AND mine.id = $1 AND v.pacticipant_id = mine.pacticipant_id
            AND d.environment_uuid = $2 AND d.undeployed_at IS NULL
            AND d.application_instance IS NOT DISTINCT FROM $3 AND d.version_id <> $1`,
        [versionId, environmentUuid, applicationInstance],
      );
      const existing = await one<{ uuid: string }>(
        `SELECT uuid FROM deployed_versions WHERE version_id = $1 AND environment_uuid = $2
            AND application_instance IS NOT DISTINCT FROM $3 AND undeployed_at IS NULL`,
        [versionId, environmentUuid, applicationInstance],
      );
      if (existing) return existing.uuid;
      const uuid = randomUUID();
      await c.query(
        "INSERT INTO deployed_versions (uuid, version_id, environment_uuid, application_instance) VALUES ($1, $2, $3, $4)",
        [uuid, versionId, environmentUuid, applicationInstance],
      );
      return uuid;
    },

    async setDeploymentEnded(uuid) {
      const r = await c.query(
        "UPDATE deployed_versions SET undeployed_at = COALESCE(undeployed_at, clock_timestamp()) WHERE uuid = $1",
        [uuid],
      );
      return (r.rowCount ?? 0) > 0;
    },

    async recordRelease(versionId, environmentUuid) {
      const existing = await one<{ uuid: string }>(
        "SELECT uuid FROM released_versions WHERE version_id = $1 AND environment_uuid = $2",
        [versionId, environmentUuid],
      );
      if (existing) {
        await c.query("UPDATE released_versions SET support_ended_at = NULL WHERE uuid = $1", [
          existing.uuid,
        ]);
        return existing.uuid;
      }
      const uuid = randomUUID();
      await c.query(
        "INSERT INTO released_versions (uuid, version_id, environment_uuid) VALUES ($1, $2, $3)",
        [uuid, versionId, environmentUuid],
      );
      return uuid;
    },

    async setSupportEnded(uuid) {
      const r = await c.query(
        "UPDATE released_versions SET support_ended_at = COALESCE(support_ended_at, clock_timestamp()) WHERE uuid = $1",
        [uuid],
      );
      return (r.rowCount ?? 0) > 0;
    },

    async deleteBranch(pacticipantId, name) {
      return (
        ((
          await c.query("DELETE FROM branches WHERE pacticipant_id = $1 AND name = $2", [pacticipantId, name])
        ).rowCount ?? 0) > 0
      );
    },

    async latestPactContent(consumerVersionId, providerId) {
      const row = await one<{ content: PactDoc }>(
        `SELECT v.content FROM pact_publications p JOIN pact_versions v ON v.id = p.pact_version_id
          WHERE p.consumer_version_id = $1 AND p.provider_id = $2
          ORDER BY p.revision DESC LIMIT 1`,
        [consumerVersionId, providerId],
      );
      return row?.content;
    },

    async markVerificationWip(verificationId) {
      await c.query("UPDATE verifications SET wip = true WHERE id = $1", [verificationId]);
    },
  };
  return tx;
}
