import { deletePrefixed, newTopicPrefix } from "./kafka.ts";
import { shortId, type TempDatabase, tempDatabase } from "./postgres.ts";

/**
 * What a test run owns on the shared infrastructure: databases of its own and
 * an ACCORD_TOPIC_PREFIX of its own (so the events its services publish never
 * reach a running platform or another test), and the clean-up of both.
 */
export interface Sandbox {
  readonly id: string;
  /** ACCORD_TOPIC_PREFIX for the processes the run starts, e.g. "test-pact-1a2b3c4d5e." (newTopicPrefix). */
  readonly topicPrefix: string;
  /** A database for one service, dropped by cleanup(). */
  database(service: string): TempDatabase;
  /** Drops the databases and deletes the topics and consumer groups under the prefix. */
  cleanup(): Promise<void>;
}

export function createSandbox(tag = "test", options: { topicPrefix?: string } = {}): Sandbox {
  const id = shortId();
  const topicPrefix = options.topicPrefix ?? newTopicPrefix(tag, id);
  const databases: TempDatabase[] = [];
  return {
    id,
    topicPrefix,
    database(service) {
      const db = tempDatabase(service, tag, id);
      databases.push(db);
      return db;
    },
    async cleanup() {
      const dropped = await Promise.allSettled(databases.splice(0).map((db) => db.drop()));
      await deletePrefixed(topicPrefix);
      const failed = dropped.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
    },
  };
}
