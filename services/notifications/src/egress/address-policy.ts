import { isIPv4, isIPv6 } from "node:net";

/**
 * Which IP addresses a webhook may be sent to: public unicast only. Every
 * range an outside caller could use to reach inside (the host itself, the
 * private network, cloud metadata) or that is not a unicast destination at
 * all is refused. Loopback is refused too, except behind the explicit
 * development setting. Pure: no sockets, no DNS.
 */

export type AddressClass =
  | "public"
  | "loopback"
  | "private"
  | "link-local"
  | "metadata"
  | "unique-local"
  | "cgnat"
  | "multicast"
  | "unspecified"
  | "broadcast"
  | "reserved"
  | "invalid";

interface V4Range {
  base: number;
  bits: number;
  kind: AddressClass;
}

const v4 = (a: string, bits: number, kind: AddressClass): V4Range => ({ base: v4ToInt(a), bits, kind });

// Most specific first: 169.254.169.254 is metadata before it is link-local.
const V4_RANGES: V4Range[] = [
  v4("169.254.169.254", 32, "metadata"),
  v4("255.255.255.255", 32, "broadcast"),
  v4("0.0.0.0", 8, "unspecified"),
  v4("10.0.0.0", 8, "private"),
  v4("100.64.0.0", 10, "cgnat"),
  v4("127.0.0.0", 8, "loopback"),
  v4("169.254.0.0", 16, "link-local"),
  v4("172.16.0.0", 12, "private"),
  v4("192.0.0.0", 24, "reserved"),
  v4("192.0.2.0", 24, "reserved"),
  v4("192.88.99.0", 24, "reserved"),
  v4("192.168.0.0", 16, "private"),
  v4("198.18.0.0", 15, "reserved"),
  v4("198.51.100.0", 24, "reserved"),
  v4("203.0.113.0", 24, "reserved"),
  v4("224.0.0.0", 4, "multicast"),
  v4("240.0.0.0", 4, "reserved"),
];

function v4ToInt(address: string): number {
  const parts = address.split(".").map(Number);
  return (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
}

function classifyV4Int(n: number): AddressClass {
  for (const r of V4_RANGES) {
    const mask = r.bits === 0 ? 0 : (0xffffffff << (32 - r.bits)) >>> 0;
    if ((n & mask) >>> 0 === (r.base & mask) >>> 0) return r.kind;
  }
  return "public";
}

/** The 16 bytes of an IPv6 address (also with an embedded dotted IPv4 tail), or undefined. */
function v6Bytes(address: string): number[] | undefined {
  let text = address.split("%")[0] ?? "";
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  const maybeV4 = text.slice(lastColon + 1);
  if (maybeV4.includes(".")) {
    if (!isIPv4(maybeV4)) return undefined;
    const n = v4ToInt(maybeV4);
    tail.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0] ?? "");
  const rest = halves.length === 2 ? groups(halves[1] ?? "") : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  const bytes: number[] = [];
  for (const g of all) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
    const v = Number.parseInt(g, 16);
    bytes.push(v >> 8, v & 0xff);
  }
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes.length === 16 ? bytes : undefined;
}

function bytesToV4Int(b: number[], at: number): number {
  return (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;
}

function classifyV6(b: number[]): AddressClass {
  const zeroUpTo = (n: number) => b.slice(0, n).every((x) => x === 0);
  const first = b[0] ?? 0;
  const second = b[1] ?? 0;
  if (zeroUpTo(15) && b[15] === 0) return "unspecified";
  if (zeroUpTo(15) && b[15] === 1) return "loopback";
  // IPv4-mapped (::ffff:a.b.c.d) and the deprecated IPv4-compatible (::a.b.c.d):
  // the IPv4 address is what is reached, so it decides.
  if (zeroUpTo(10) && b[10] === 0xff && b[11] === 0xff) return classifyV4Int(bytesToV4Int(b, 12));
  if (zeroUpTo(12)) return classifyV4Int(bytesToV4Int(b, 12));
  // NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48) reaches the embedded IPv4 address.
  if (first === 0x00 && second === 0x64 && b[2] === 0xff && b[3] === 0x9b) {
    const embedded = classifyV4Int(bytesToV4Int(b, 12));
    return embedded === "public" && b.slice(4, 12).every((x) => x === 0) ? "public" : "reserved";
  }
  // 6to4 (2002::/16) tunnels to the IPv4 address in bytes 2..5.
  if (first === 0x20 && second === 0x02) return classifyV4Int(bytesToV4Int(b, 2));
  // Metadata of AWS's IPv6 instance endpoint (fd00:ec2::254), before unique-local.
  if (
    first === 0xfd &&
    second === 0x00 &&
    b[2] === 0x0e &&
    b[3] === 0xc2 &&
    zeroUpTo0(b, 4, 14) &&
    b[14] === 0x02 &&
    b[15] === 0x54
  )
    return "metadata";
  if ((first & 0xfe) === 0xfc) return "unique-local";
  if (first === 0xfe && (second & 0xc0) === 0x80) return "link-local";
  // Deprecated site-local (fec0::/10): private in effect.
  if (first === 0xfe && (second & 0xc0) === 0xc0) return "private";
  if (first === 0xff) return "multicast";
  // Teredo (2001::/32), documentation (2001:db8::/32), discard (100::/64).
  if (first === 0x20 && second === 0x01 && b[2] === 0x00 && b[3] === 0x00) return "reserved";
  if (first === 0x20 && second === 0x01 && b[2] === 0x0d && b[3] === 0xb8) return "reserved";
  if (first === 0x01 && second === 0x00 && zeroUpTo0(b, 2, 8)) return "reserved";
  // Global unicast is 2000::/3; anything else is not assigned for use.
  if ((first & 0xe0) !== 0x20) return "reserved";
  return "public";
}

function zeroUpTo0(b: number[], from: number, to: number): boolean {
  return b.slice(from, to).every((x) => x === 0);
}

/** What kind of address this is (an IPv4 or IPv6 literal, IPv6 without brackets). */
export function classifyAddress(address: string): AddressClass {
  if (isIPv4(address)) return classifyV4Int(v4ToInt(address));
  if (isIPv6(address)) {
    const bytes = v6Bytes(address);
    return bytes ? classifyV6(bytes) : "invalid";
  }
  return "invalid";
}

/** Whether a webhook may be sent to this address: public, or loopback when the dev setting allows it. */
export function addressAllowed(address: string, allowLoopback: boolean): boolean {
  const kind = classifyAddress(address);
  return kind === "public" || (allowLoopback && kind === "loopback");
}
