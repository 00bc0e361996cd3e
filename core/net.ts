// IPv4 arithmetic shared by config validation and topology. Addresses are
// handled as unsigned 32-bit numbers so subnet checks are plain bit masks.

const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
// Dotted quad, no leading zeros (010 is octal to some parsers, decimal to others).
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export function isIPv4(s: string): boolean {
    return IPV4_RE.test(s);
}

/** The address as an unsigned 32-bit number, or undefined when it is not a dotted quad. */
export function ipv4ToNumber(s: string): number | undefined {
    if (!isIPv4(s)) return undefined;
    return s.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function numberToIpv4(n: number): string {
    return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/** Network mask for a prefix length, as an unsigned number (0 for /0). */
export function prefixMask(prefix: number): number {
    return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "a.b.c.d/p" of the subnet that holds `address`; undefined for a bad address. */
export function subnetOf(address: string, prefix: number): string | undefined {
    const n = ipv4ToNumber(address);
    if (n === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
    return `${numberToIpv4((n & prefixMask(prefix)) >>> 0)}/${prefix}`;
}

export function sameSubnet(a: string, b: string, prefix: number): boolean {
    const sa = subnetOf(a, prefix);
    return sa !== undefined && sa === subnetOf(b, prefix);
}

export interface Cidr {
    readonly network: string;
    readonly prefix: number;
}

/**
 * Parses "a.b.c.d/p". Host bits must be zero: PostgreSQL would silently
 * widen or narrow "10.0.0.5/24" depending on version, so we ask for the
 * network form explicitly.
 */
export function parseCidr(s: string): Cidr | undefined {
    const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(s);
    if (!m) return undefined;
    const prefix = Number(m[2]);
    if (prefix > 32 || (m[2].length > 1 && m[2].startsWith("0"))) return undefined;
    if (!isIPv4(m[1])) return undefined;
    if (subnetOf(m[1], prefix) !== s) return undefined;
    return { network: m[1], prefix };
}

/** Why an address cannot be a host's unicast address, or undefined when it can. */
export function unusableHostAddress(address: string): string | undefined {
    const n = ipv4ToNumber(address);
    if (n === undefined) return undefined;
    const first = Math.floor(n / 2 ** 24);
    if (first === 0) return 'is in 0.0.0.0/8 ("this network")';
    if (first === 127) return "is a loopback address";
    if (first >= 224) return "is a multicast or reserved address";
    return undefined;
}

/** True when `address` is the network or broadcast address of its subnet (for prefixes up to /30). */
export function isNetworkOrBroadcast(address: string, prefix: number): boolean {
    const n = ipv4ToNumber(address);
    if (n === undefined || prefix > 30) return false;
    const mask = prefixMask(prefix);
    const host = (n & ~mask) >>> 0;
    return host === 0 || host === ~mask >>> 0;
}
