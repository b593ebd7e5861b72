import { describe, expect, it } from "vitest";
import { afterCommit, inTransaction, type Pool, type PoolClient } from "#lib/db.ts";

// inTransaction's commit hooks, over a stand-in pool that records statements
// and hands out one reused client, as pg's pool does.
function recordingPool(failOn?: string) {
  const statements: string[] = [];
  const client = {
    async query(text: string) {
      statements.push(text);
      if (text === failOn) throw new Error(`${text} failed`);
      return { rows: [] };
    },
    release() {},
  } as unknown as PoolClient;
  const pool = { connect: async () => client } as unknown as Pool;
  return { pool, statements };
}

describe("afterCommit", () => {
  it("runs each hook once, after COMMIT, however often it was registered", async () => {
    const { pool, statements } = recordingPool();
    const seen: string[] = [];
    const hook = () => seen.push(`hook after ${statements.at(-1)}`);
    await inTransaction(pool, async (client) => {
      afterCommit(client, hook);
      afterCommit(client, hook);
      await client.query("INSERT");
    });
    expect(statements).toEqual(["BEGIN", "INSERT", "COMMIT"]);
    expect(seen).toEqual(["hook after COMMIT"]);
  });

  it("drops the hooks of a rolled-back transaction, so the client's next transaction does not run them", async () => {
    const { pool } = recordingPool();
    const seen: string[] = [];
    await expect(
      inTransaction(pool, async (client) => {
        afterCommit(client, () => seen.push("rolled back"));
        throw new Error("handler failed");
      }),
    ).rejects.toThrow("handler failed");
    await inTransaction(pool, async (client) => {
      afterCommit(client, () => seen.push("committed"));
    });
    expect(seen).toEqual(["committed"]);
  });

  it("runs no hook when COMMIT itself fails", async () => {
    const { pool } = recordingPool("COMMIT");
    const seen: string[] = [];
    await expect(
      inTransaction(pool, async (client) => {
        afterCommit(client, () => seen.push("hook"));
      }),
    ).rejects.toThrow("COMMIT failed");
    expect(seen).toEqual([]);
  });

  it("still reports a committed transaction as committed when a hook throws", async () => {
    const { pool } = recordingPool();
    const result = await inTransaction(pool, async (client) => {
      afterCommit(client, () => {
        throw new Error("hook failed");
      });
      return "stored";
    });
    expect(result).toBe("stored");
  });
});
