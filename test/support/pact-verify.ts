import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { type MessageProviders, Verifier, type VerifierOptions } from "@pact-foundation/pact";
import { callerAs, type TestCaller } from "./identity.ts";
import { CONTRACTS_DIR } from "./pact-consumer.ts";

// Pact's anonymous usage telemetry would call out from every test run and CI job.
process.env.PACT_DO_NOT_TRACK ??= "true";

// Not re-exported by the package root: taken from the options they belong to.
export type StateHandlers = NonNullable<VerifierOptions["stateHandlers"]>;
export type ConsumerVersionSelector = NonNullable<VerifierOptions["consumerVersionSelectors"]>[number];

/** Local pact files, e.g. the committed ones in contracts/. */
export interface LocalPactSource {
  pactUrls: string[];
}

/** Pacts chosen by a Pact Broker; verification results go back to it when publish is set. */
export interface BrokerPactSource {
  brokerUrl: string;
  /**
   * Exactly this pact, by its broker URL (a webhook's ${pactbroker.pactUrl}),
   * instead of the pacts the selectors choose.
   */
  pactUrl?: string;
  consumerVersionSelectors?: ConsumerVersionSelector[];
  /** Publish the verification results (CI on a provider commit; never from a developer machine). */
  publish?: boolean;
  /** Required when publish is set: the provider's version (e.g. its git sha). */
  providerVersion?: string;
  providerBranch?: string;
  enablePending?: boolean;
  includeWipPactsSince?: string;
  /** Credentials are taken from the caller (e.g. PACT_BROKER_TOKEN in CI), never stored here. */
  token?: string;
  username?: string;
  password?: string;
}

export type PactSource = LocalPactSource | BrokerPactSource;

export interface VerifyProviderOptions {
  /** The pacticipant name, e.g. "orders". */
  provider: string;
  /** Where the real provider process answers; omit for a message-only provider. */
  baseUrl?: string;
  stateHandlers?: StateHandlers;
  /** Message description -> function building that message through the provider's real code. */
  messageProviders?: MessageProviders;
  source: PactSource;
  /**
   * Who calls each RPC of the pacts (by Connect method name, e.g.
   * "ConfirmOrder"): every HTTP interaction is sent with that caller's real
   * token for audience `provider`, in place of the pact's made-up example.
   * A method missing here fails its interaction.
   */
  callers?: Readonly<Record<string, TestCaller>>;
  logLevel?: "trace" | "debug" | "info" | "warn" | "error";
}

/** The part of the Verifier's express middleware signature the filter uses. */
type RequestFilter = (
  req: { path: string; headers: Record<string, string | string[] | undefined> },
  res: unknown,
  next: (error?: unknown) => void,
) => void;

/**
 * The Verifier's request filter that puts a real bearer token on every
 * request to the provider (Connect paths "/<package>.<Service>/<Method>");
 * the proxy's own state-setup and message requests pass untouched.
 */
function bearerFilter(audience: string, callers: Readonly<Record<string, TestCaller>>): RequestFilter {
  return (req, _res, next) => {
    const rpc = /^\/[A-Za-z0-9_.]+\.[A-Za-z0-9_]+\/([A-Za-z0-9_]+)$/.exec(req.path)?.[1];
    if (rpc === undefined) return next();
    const caller = callers[rpc];
    if (caller === undefined) {
      next(new Error(`verifyProvider: no caller named for ${rpc} (add it to callers)`));
      return;
    }
    const { tokens } = callerAs(caller, audience);
    tokens.token(audience).then(
      (token) => {
        req.headers.authorization = `Bearer ${token}`;
        next();
      },
      (error: unknown) => next(error),
    );
  };
}

/**
 * Verifies every pact of one provider (HTTP and message interactions alike)
 * with the pact-js Verifier. Resolves with the verifier's output; rejects
 * when any interaction fails.
 */
export function verifyProvider(options: VerifyProviderOptions): Promise<string> {
  const { provider, baseUrl, stateHandlers, messageProviders, source } = options;
  const common: VerifierOptions = {
    provider,
    logLevel: options.logLevel ?? "warn",
    ...(baseUrl ? { providerBaseUrl: baseUrl } : {}),
    ...(stateHandlers ? { stateHandlers } : {}),
    ...(messageProviders ? { messageProviders } : {}),
    ...(options.callers
      ? { requestFilter: bearerFilter(provider, options.callers) as VerifierOptions["requestFilter"] }
      : {}),
  };
  const where: Partial<VerifierOptions> =
    "pactUrls" in source
      ? { pactUrls: source.pactUrls }
      : {
          pactBrokerUrl: source.brokerUrl,
          ...(source.pactUrl
            ? { pactUrls: [source.pactUrl] }
            : source.consumerVersionSelectors
              ? { consumerVersionSelectors: source.consumerVersionSelectors }
              : {}),
          // pact-core rejects the key itself without providerVersion, even when false.
          ...(source.publish ? { publishVerificationResult: true } : {}),
          ...(source.providerVersion ? { providerVersion: source.providerVersion } : {}),
          ...(source.providerBranch ? { providerVersionBranch: source.providerBranch } : {}),
          ...(source.enablePending !== undefined ? { enablePending: source.enablePending } : {}),
          ...(source.includeWipPactsSince ? { includeWipPactsSince: source.includeWipPactsSince } : {}),
          ...(source.token ? { pactBrokerToken: source.token } : {}),
          ...(source.username ? { pactBrokerUsername: source.username } : {}),
          ...(source.password ? { pactBrokerPassword: source.password } : {}),
        };
  if ("brokerUrl" in source && source.publish && !source.providerVersion) {
    return Promise.reject(new Error("verifyProvider: publishing results needs providerVersion"));
  }
  return new Verifier({ ...common, ...where } as VerifierOptions).verifyProvider();
}

/** The pact files in dir (default contracts/) whose provider is the given one. */
export async function localPactUrls(provider: string, dir: string = CONTRACTS_DIR): Promise<string[]> {
  const urls: string[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (!name.endsWith(".json")) continue;
    const file = path.join(dir, name);
    const pact = JSON.parse(await readFile(file, "utf8")) as { provider?: { name?: string } };
    if (pact.provider?.name === provider) urls.push(file);
  }
  if (urls.length === 0) throw new Error(`no pact in ${dir} names provider ${provider}`);
  return urls;
}

/**
 * Where a provider test takes its pacts from: the committed files in
 * contracts/ by default; the Pact Broker when the release script
 * (scripts/release/verify-provider.sh) asks for verification results to be
 * published, so consumers' can-i-deploy can see them.
 */
export async function pactSourceFromEnv(provider: string): Promise<PactSource> {
  const brokerUrl = process.env.PACT_BROKER_BASE_URL;
  if (brokerUrl && process.env.PACT_PUBLISH_VERIFICATION_RESULTS === "true") {
    // A webhook names the one pact that needs verifying (verify-provider.sh's PACT_URL).
    const pactUrl = process.env.PACT_URL || undefined;
    return {
      brokerUrl,
      ...(pactUrl ? { pactUrl } : {}),
      consumerVersionSelectors: [
        { mainBranch: true },
        { deployedOrReleased: true },
        { matchingBranch: true },
      ],
      enablePending: true,
      publish: true,
      providerVersion: process.env.PACT_PROVIDER_VERSION,
      providerBranch: process.env.PACT_PROVIDER_BRANCH,
      token: process.env.PACT_BROKER_TOKEN,
    };
  }
  return { pactUrls: await localPactUrls(provider) };
}
