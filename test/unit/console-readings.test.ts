import { describe, expect, it } from "vitest";
import { isLoopbackUrl } from "#services/console/src/config.ts";
import {
  canIDeployFrom,
  contractsView,
  deployedVersionsOf,
  environmentsOf,
  pacticipantNames,
  validateCanIDeploy,
} from "#services/console/src/domain/contracts.ts";
import { breakersFrom, lagFrom, outboxFrom, samplesOf } from "#services/console/src/domain/health.ts";

const vector = (result: unknown[]) => ({ status: "success", data: { resultType: "vector", result } });

describe("console readings", () => {
  it("reads Prometheus vectors into breakers, lag and backlog, and refuses anything else", () => {
    const breakers = samplesOf(
      vector([
        { metric: { service: "orchestrator", breaker: "payments" }, value: [1, "2"] },
        { metric: { service: "orchestrator", breaker: "inventory" }, value: [1, "0"] },
        { metric: { service: "orders", breaker: "catalog" }, value: [1, "NaN"] },
      ]),
    );
    expect(breakersFrom(breakers).map((b) => [b.breaker, b.state])).toEqual([
      ["inventory", "closed"],
      ["payments", "open"],
    ]);
    expect(
      lagFrom(samplesOf(vector([{ metric: { service: "n", group: "g", topic: "t" }, value: [1, "7.4"] }])))[0]
        ?.lag,
    ).toBe(7n);
    const [backlog] = outboxFrom(
      samplesOf(vector([{ metric: { service: "orders" }, value: [1, "3"] }])),
      samplesOf(vector([{ metric: { service: "orders" }, value: [1, "1.5"] }])),
    );
    expect(backlog).toMatchObject({ service: "orders", unpublished: 3n, oldestAgeSeconds: 1.5 });
    expect(() => samplesOf({ status: "error", error: "bad query" })).toThrow();
    expect(() => samplesOf({ status: "success", data: { resultType: "matrix", result: [] } })).toThrow();
  });

  it("reads the broker's HAL into pacticipants with deployments per environment", () => {
    const names = pacticipantNames({
      _embedded: { pacticipants: [{ name: "orders" }, { name: "accord-cli" }] },
    });
    expect(names).toEqual(["accord-cli", "orders"]);
    const envs = environmentsOf({
      _embedded: { environments: [{ uuid: "u1", name: "production" }, { name: "x" }] },
    });
    expect(envs).toEqual([{ uuid: "u1", name: "production" }]);
    const deployed = deployedVersionsOf({
      _embedded: {
        deployedVersions: [
          {
            createdAt: "2026-12-01T10:00:00Z",
            _embedded: { pacticipant: { name: "orders" }, version: { number: "abc123" } },
          },
        ],
      },
    });
    const view = contractsView(names, new Map([["orders", "def456"]]), [
      { environment: "production", versions: deployed },
    ]);
    expect(view[1]).toMatchObject({ name: "orders", latestVersion: "def456" });
    expect(
      view[1]?.deployments.map((d) => [d.environment, d.version, Number(d.deployedAt?.seconds)]),
    ).toEqual([["production", "abc123", Date.parse("2026-12-01T10:00:00Z") / 1000]]);
    expect(view[0]?.deployments).toEqual([]);
  });

  it("reads can-i-deploy's summary and matrix, and names every bad request field", () => {
    const answer = canIDeployFrom({
      summary: { deployable: false, reason: "missing verification" },
      matrix: [
        {
          consumer: { name: "cli", version: { number: "c1" } },
          provider: { name: "orders", version: null },
          verificationResult: null,
        },
        {
          consumer: { name: "orchestrator", version: { number: "o1" } },
          provider: { name: "payments", version: { number: "p1" } },
          verificationResult: { success: true },
        },
      ],
    });
    expect(answer.deployable).toBe(false);
    expect(answer.rows.map((r) => [r.consumer, r.providerVersion, r.verified])).toEqual([
      ["cli", "", undefined],
      ["orchestrator", "p1", true],
    ]);
    expect(() => canIDeployFrom({ nothing: true })).toThrow();
    expect(() => validateCanIDeploy({ pacticipant: "", version: "../x", environment: "prod" })).toThrow(
      /pacticipant: is required; version: must be/,
    );
    expect(() =>
      validateCanIDeploy({ pacticipant: "orders", version: "1.2.3+b4", environment: "production" }),
    ).not.toThrow();
  });

  it("accepts loopback upstreams only", () => {
    for (const url of ["http://127.0.0.1:8081", "http://127.9.9.9", "http://localhost:1", "http://[::1]:9"]) {
      expect({ url, ok: isLoopbackUrl(url) }).toEqual({ url, ok: true });
    }
    for (const url of ["http://10.0.0.1", "http://example.com", "http://127.0.0.1.nip.io", "not a url"]) {
      expect({ url, ok: isLoopbackUrl(url) }).toEqual({ url, ok: false });
    }
  });
});
