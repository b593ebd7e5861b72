import { BlockList, isIP } from "node:net";

// Where a webhook may send a request: the scheme, method and host allowlists
// of the real broker (webhook_scheme_whitelist, webhook_http_method_whitelist,
// webhook_host_whitelist). Checked when a webhook is saved and again before
// every execution, before any socket is opened.

export interface WebhookPolicy {
  /** Host entries: a name ("ci.example.org"), "*.example.org" (one label), an IP, a CIDR range, or /regex/. */
  hosts: readonly string[];
  /** Lower-case URL schemes without the colon, e.g. "http". */
  schemes: readonly string[];
  /** Upper-case HTTP methods. */
  methods: readonly string[];
}

/** This project's defaults: loopback only (the real broker allows https to any listed host). */
export const LOOPBACK_POLICY: WebhookPolicy = {
  hosts: ["127.0.0.1", "::1", "localhost"],
  schemes: ["http", "https"],
  methods: ["POST"],
};

/** Splits a list variable ("a b", "a,b") into its entries. */
export function listOf(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The URL's host as compared with the entries: lower case, IPv6 without brackets. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
}

/** Whether one allowlist entry admits the host. IP entries match IP hosts only: names are not resolved. */
export function hostMatches(host: string, entry: string): boolean {
  const h = host.toLowerCase();
  const regex = /^\/(.*)\/([a-z]*)$/.exec(entry);
  if (regex) {
    try {
      return new RegExp(regex[1] ?? "", regex[2]).test(h);
    } catch {
      return false;
    }
  }
  const [address, prefix] = entry.split("/");
  const family = address ? isIP(address) : 0;
  if (family !== 0) {
    const hostFamily = isIP(h);
    if (hostFamily === 0) return false;
    const list = new BlockList();
    const type = family === 4 ? "ipv4" : "ipv6";
    if (prefix === undefined) list.addAddress(address as string, type);
    else {
      const bits = Number(prefix);
      if (!Number.isInteger(bits)) return false;
      list.addSubnet(address as string, bits, type);
    }
    return list.check(h, hostFamily === 4 ? "ipv4" : "ipv6");
  }
  const e = entry.toLowerCase();
  if (e.startsWith("*.")) {
    const suffix = e.slice(1);
    return h.endsWith(suffix) && !h.slice(0, -suffix.length).includes(".") && h.length > suffix.length;
  }
  return h === e;
}

/** Why the request may not be sent (undefined: it may). */
export function refusal(policy: WebhookPolicy, method: string, url: URL): string | undefined {
  const scheme = url.protocol.replace(/:$/, "").toLowerCase();
  if (!policy.schemes.includes(scheme))
    return `scheme ${scheme} is not allowed (allowed: ${policy.schemes.join(", ") || "none"}; PACT_BROKER_WEBHOOK_SCHEME_WHITELIST)`;
  if (!policy.methods.includes(method.toUpperCase()))
    return `method ${method.toUpperCase()} is not allowed (allowed: ${policy.methods.join(", ") || "none"}; PACT_BROKER_WEBHOOK_HTTP_METHOD_WHITELIST)`;
  const host = hostOf(url);
  if (!policy.hosts.some((entry) => hostMatches(host, entry)))
    return `host ${host} is not in the webhook host allowlist (PACT_BROKER_WEBHOOK_HOST_WHITELIST: ${policy.hosts.join(" ") || "empty"})`;
  return undefined;
}
