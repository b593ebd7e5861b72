import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { Agent, buildConnector } from "undici";
import { type AddressClass, addressAllowed, classifyAddress } from "./address-policy.ts";

/**
 * The egress guard of webhooks: a URL is sent to only when its scheme is
 * allowed and every address its host resolves to is public (or loopback,
 * behind the development setting). It checks at subscription and at every
 * send, and its dispatcher connects to the address it checked at connect
 * time, so a name cannot resolve to a public address for the check and to
 * an inside one for the connection (DNS rebinding).
 */

/** Every address a host name resolves to. Injected in tests, so no test ever asks a real resolver. */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true, verbatim: true });

export interface EgressSettings {
  /** Development only: plain http, and loopback addresses, for receivers on this machine. */
  allowLoopbackHttp: boolean;
  resolve?: Resolver;
}

/** The guard refused a URL. reason is for the logs and the subscriber's own error message, never a socket error. */
export class EgressRefusedError extends Error {
  override name = "EgressRefusedError";
  readonly reason: string;
  constructor(reason: string) {
    super(`refused by egress policy: ${reason}`);
    this.reason = reason;
  }
}

/** A host name that does not resolve: not a policy refusal, the partner's DNS. */
export class EgressLookupError extends Error {
  override name = "EgressLookupError";
}

export interface CheckedTarget {
  url: URL;
  /** The host without IPv6 brackets. */
  hostname: string;
  /** Every address it resolved to, each allowed. */
  addresses: string[];
}

export interface EgressGuard {
  readonly allowLoopbackHttp: boolean;
  /** Resolves and checks a URL; throws EgressRefusedError or EgressLookupError. Opens no socket. */
  check(url: string): Promise<CheckedTarget>;
  /** The checked address to connect to for a host: the first of its resolved addresses, all checked. */
  addressFor(hostname: string, protocol: string): Promise<string>;
}

const DESCRIBED: Partial<Record<AddressClass, string>> = {
  loopback: "a loopback address",
  private: "a private address",
  "link-local": "a link-local address",
  metadata: "a cloud metadata address",
  "unique-local": "a unique-local address",
  cgnat: "a carrier-grade NAT address",
  multicast: "a multicast address",
  unspecified: "an unspecified address",
  broadcast: "the broadcast address",
  reserved: "a reserved address",
  invalid: "an invalid address",
};

export function unbracketed(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

export function createEgressGuard(settings: EgressSettings): EgressGuard {
  const { allowLoopbackHttp } = settings;
  const resolve = settings.resolve ?? systemResolver;

  const schemeProblem = (protocol: string): string | undefined => {
    if (protocol === "https:") return undefined;
    if (protocol === "http:") {
      return allowLoopbackHttp ? undefined : "plain http is not allowed; use https";
    }
    return `scheme ${protocol.replace(/:$/, "")} is not allowed`;
  };

  // Checks every address before any socket exists; for http (dev only), each must be loopback.
  const resolveChecked = async (hostname: string, protocol: string): Promise<string[]> => {
    const literal = isIP(hostname) !== 0;
    let addresses: string[];
    if (literal) {
      addresses = [hostname];
    } else {
      try {
        addresses = (await resolve(hostname)).map((a) => a.address);
      } catch {
        throw new EgressLookupError(`host ${hostname} does not resolve`);
      }
      if (addresses.length === 0) throw new EgressLookupError(`host ${hostname} does not resolve`);
    }
    for (const address of addresses) {
      const kind = classifyAddress(address);
      if (!addressAllowed(address, allowLoopbackHttp)) {
        const what = DESCRIBED[kind] ?? "an address that is not allowed";
        throw new EgressRefusedError(literal ? `${what}` : `${hostname} resolves to ${what}`);
      }
      if (protocol === "http:" && kind !== "loopback") {
        throw new EgressRefusedError("plain http is allowed to loopback only; use https");
      }
    }
    return addresses;
  };

  return {
    allowLoopbackHttp,
    async check(raw) {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new EgressRefusedError("not a valid absolute URL");
      }
      const scheme = schemeProblem(url.protocol);
      if (scheme) throw new EgressRefusedError(scheme);
      if (url.username !== "" || url.password !== "") throw new EgressRefusedError("credentials in the URL");
      const hostname = unbracketed(url.hostname);
      const addresses = await resolveChecked(hostname, url.protocol);
      return { url, hostname, addresses };
    },
    async addressFor(hostname, protocol) {
      const scheme = schemeProblem(protocol);
      if (scheme) throw new EgressRefusedError(scheme);
      const addresses = await resolveChecked(unbracketed(hostname), protocol);
      return addresses[0] as string;
    },
  };
}

export interface DispatcherLimits {
  /** Connect, headers and body each within this; the caller also bounds the whole exchange. */
  timeoutMs: number;
  /** Response headers larger than this fail the delivery. */
  maxHeaderBytes?: number;
}

/**
 * An undici dispatcher whose every new connection goes to an address the
 * guard checked just then, for that connection: the socket is opened to the
 * IP itself, the TLS server name (and certificate check) stays the host's.
 */
export function guardedDispatcher(guard: EgressGuard, limits: DispatcherLimits): Agent {
  const connectDirect = buildConnector({ timeout: limits.timeoutMs });
  const connect: buildConnector.connector = (options, callback) => {
    const hostname = unbracketed(options.hostname);
    guard.addressFor(hostname, options.protocol).then(
      (address) => {
        connectDirect(
          {
            ...options,
            hostname: address,
            // SNI and the certificate's name are the host's, not the address's.
            servername: isIP(hostname) === 0 ? hostname : undefined,
          } as buildConnector.Options,
          callback,
        );
      },
      (err: Error) => callback(err, null),
    );
  };
  return new Agent({
    connect,
    connectTimeout: limits.timeoutMs,
    headersTimeout: limits.timeoutMs,
    bodyTimeout: limits.timeoutMs,
    maxHeaderSize: limits.maxHeaderBytes ?? 16 * 1024,
    keepAliveTimeout: 4_000,
    // No redirect is ever followed: request() follows none, and no redirect interceptor is composed in.
  });
}
