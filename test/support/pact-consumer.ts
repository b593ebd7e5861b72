import { copyFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { MatchersV3, PactV4 } from "@pact-foundation/pact";

const { regex, like, fromProviderState, equal } = MatchersV3;

// Pact's anonymous usage telemetry would call out from every test run and CI job.
process.env.PACT_DO_NOT_TRACK ??= "true";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Where the committed pact files live; provider verification reads them from here. */
export const CONTRACTS_DIR = path.join(ROOT, "contracts");

// ---------------------------------------------------------------- matchers

export const UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
/** int64 in the protobuf JSON mapping: a decimal string. */
export const INT64_PATTERN = "^[0-9]+$";

export const uuid = (example: string) => regex(UUID_PATTERN, example);
export const int64 = (example: string) => regex(INT64_PATTERN, example);
/**
 * An enum value by its protobuf JSON name, one of the names the consumer
 * handles: a well-formed name the consumer has no branch for (a new status, a
 * renamed one) fails verification, e.g. enumOf(["FAILURE_CODE_OUT_OF_STOCK", ...], "FAILURE_CODE_OUT_OF_STOCK").
 */
export function enumOf(handled: readonly string[], example: string) {
  if (!handled.includes(example)) throw new Error(`enumOf: example ${example} is not a handled name`);
  for (const name of handled) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new Error(`enumOf: ${name} is not an enum value name`);
  }
  return regex(`^(${handled.join("|")})$`, example);
}
/**
 * A value that follows from the provider state (a status, an amount the
 * provider computed, an id the state seeded): the provider must answer
 * exactly this. (fromProviderState cannot pin a response: the verifier fills
 * provider-state values into requests only, and its matcher is a type check;
 * a state seeds the id the response must repeat instead.) An explicit equality matcher, so an enclosing like()/eachLike()
 * cannot relax it to a type check.
 */
export const exactly = <T>(value: T) => equal(value);
/** Money with a currency of three letters and an amount in minor units, any decimal. */
export const money = (currencyCode: string, amountMinor: string) => ({
  currencyCode: regex("^[A-Z]{3}$", currencyCode),
  amountMinor: int64(amountMinor),
});
/**
 * Money whose value follows from the provider state (2 x 1250 = "2500" minor
 * units): the same amount in major units ("25") or another currency fails.
 */
export const exactMoney = (currencyCode: string, amountMinor: string) => ({
  currencyCode: exactly(currencyCode),
  amountMinor: exactly(amountMinor),
});

/**
 * An order id the provider state makes up and returns as {orderId}: every
 * interaction runs on an order of its own, so idempotency keys (which embed
 * it) never collide between interactions, in the service or its simulators.
 */
export const stateOrderId = (example: string) =>
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a Pact provider-state expression, filled in by the verifier
  fromProviderState("${orderId}", example);
/** The saga's idempotency key "order-<order_id>/<step>" for the provider state's order. */
export const stateIdempotencyKey = (step: string, exampleOrderId: string) =>
  fromProviderState(`order-\${orderId}/${step}`, `order-${exampleOrderId}/${step}`);

// ---------------------------------------------------------------- Connect over HTTP

/** Connect unary: POST /<package>.<Service>/<Method>. */
export function connectPath(service: DescService, method: string): string {
  return `/${service.typeName}/${method}`;
}

/**
 * A bearer token in a request header: any token's shape, recorded with a
 * made-up example (a pact never holds a real token, and its file stays the
 * same on every run). The provider's verification sends a real one.
 */
export const BEARER_PATTERN = "^Bearer [A-Za-z0-9._~+/=-]+$";
export const EXAMPLE_AUTHORIZATION = "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJleGFtcGxlIn0.c2lnbmF0dXJl";
export const bearerToken = () => regex(BEARER_PATTERN, EXAMPLE_AUTHORIZATION);

/**
 * The headers every Connect JSON unary request carries: what the provider
 * needs to route it, and the caller's bearer token.
 */
export const CONNECT_REQUEST_HEADERS = {
  "Content-Type": "application/json",
  "Connect-Protocol-Version": "1",
  Authorization: bearerToken(),
};
export const JSON_RESPONSE_HEADERS = { "Content-Type": "application/json" };

/** A Connect error body: {"code": "<snake_case code>", "message": "..."}. */
export function connectErrorBody(code: string, message: string) {
  return { code, message: like(message) };
}

/** HTTP status of a Connect error code, as @connectrpc/connect maps it. */
export const CONNECT_HTTP_STATUS = {
  invalid_argument: 400,
  failed_precondition: 400,
  not_found: 404,
  already_exists: 409,
  unavailable: 503,
} as const;

/** The generated client over Connect JSON on HTTP/1.1: the bytes Pact records are the production ones. */
export function connectJsonClient<S extends DescService>(service: S, baseUrl: string): Client<S> {
  return createClient(
    service,
    createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false }),
  );
}

// ---------------------------------------------------------------- pact files

export interface ConsumerPact {
  pact: PactV4;
  /** Where this run writes the pact file (a fresh temporary directory). */
  dir: string;
  fileName: string;
  /**
   * Compares the written pact file with the committed one in contracts/ and
   * fails on any difference; with PACT_UPDATE=1 it copies it there instead.
   */
  checkCommitted(): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * A V4 pact for one consumer-provider pair. Each pair has exactly one test
 * file, which writes into its own empty directory: no interaction left over
 * from an earlier run can be merged in, so the file is a pure function of the
 * test, and comparing it with contracts/ catches a contract nobody committed.
 */
export async function consumerPact(consumer: string, provider: string): Promise<ConsumerPact> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `pact-${consumer}-${provider}-`));
  const fileName = `${consumer}-${provider}.json`;
  const pact = new PactV4({ consumer, provider, dir, logLevel: "warn" });
  return {
    pact,
    dir,
    fileName,
    async checkCommitted() {
      const written = path.join(dir, fileName);
      const committed = path.join(CONTRACTS_DIR, fileName);
      if (process.env.PACT_UPDATE === "1") {
        await mkdir(CONTRACTS_DIR, { recursive: true });
        await copyFile(written, committed);
        return;
      }
      // Compared as JSON, not bytes: the formatter may re-indent committed files.
      const fresh: unknown = JSON.parse(await readFile(written, "utf8"));
      const text = await readFile(committed, "utf8").catch(() => undefined);
      const stored: unknown = text === undefined ? undefined : JSON.parse(text);
      if (!isDeepStrictEqual(stored, fresh)) {
        throw new Error(
          `contracts/${fileName} ${stored === undefined ? "is missing" : "differs from what the consumer tests write"}. ` +
            "Regenerate with `PACT_UPDATE=1 npx vitest run --project contract test/contract/consumer` and commit contracts/.",
        );
      }
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
