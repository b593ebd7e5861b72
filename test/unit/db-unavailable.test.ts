import pg from "pg";
import { describe, expect, it } from "vitest";
import { isDatabaseUnavailable } from "#lib/db.ts";

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe("isDatabaseUnavailable", () => {
  it("is true when the database cannot be reached or is going away", () => {
    expect(isDatabaseUnavailable(withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"))).toBe(true);
    expect(isDatabaseUnavailable(new Error("Connection terminated unexpectedly"))).toBe(true);
    expect(
      isDatabaseUnavailable(new Error("Client has encountered a connection error and is not queryable")),
    ).toBe(true);
    expect(isDatabaseUnavailable(new Error("timeout exceeded when trying to connect"))).toBe(true);
    const shutdown = new pg.DatabaseError("terminating connection due to administrator command", 0, "error");
    shutdown.code = "57P01";
    expect(isDatabaseUnavailable(shutdown)).toBe(true);
    expect(isDatabaseUnavailable(withCode("the database system is starting up", "57P03"))).toBe(true);
    expect(isDatabaseUnavailable(withCode("connection failure", "08006"))).toBe(true);
  });

  it("is false for an answer the database gave, and for errors of other kinds", () => {
    const unique = new pg.DatabaseError("duplicate key value violates unique constraint", 0, "error");
    unique.code = "23505";
    expect(isDatabaseUnavailable(unique)).toBe(false);
    expect(isDatabaseUnavailable(withCode('relation "nope" does not exist', "42P01"))).toBe(false);
    expect(isDatabaseUnavailable(new Error("receiver answered HTTP 500"))).toBe(false);
    expect(isDatabaseUnavailable(undefined)).toBe(false);
  });
});
