import { isIPv4, isIPv6 } from "node:net";

/** Why an address is not a public destination; `null` for one that is. */
export type AddressCategory =
  | "loopback"
  | "link-local"
  | "cloud metadata"
  | "private"
  | "carrier-grade NAT"
  | "unique local"
  | "unspecified"
  | "multicast"
  | "reserved";

/** An IPv4 or IPv6 address as a number, so ranges are plain comparisons. */
export type ParsedAddress = { family: 4 | 6; value: bigint };
export type Cidr = ParsedAddress & { prefix: number };

const BITS = { 4: 32, 6: 128 } as const;

function ipv4ToBigInt(text: string): bigint {
  return text.split(".").reduce((sum, octet) => (sum << 8n) | BigInt(Number(octet)), 0n);
}

function ipv6ToBigInt(text: string): bigint {
  let groups = text;
  // An IPv4 tail (::ffff:1.2.3.4) is two groups written differently.
  const tail = groups.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (tail) {
    const v4 = ipv4ToBigInt(tail[1]!);
    groups = `${groups.slice(0, -tail[1]!.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = "", rest] = groups.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = rest === undefined || rest === "" ? [] : rest.split(":");
  const missing = 8 - left.length - right.length;
  const all = [...left, ...Array<string>(rest === undefined ? 0 : missing).fill("0"), ...right];
  return all.reduce((sum, group) => (sum << 16n) | BigInt(parseInt(group, 16)), 0n);
}

/** `1.2.3.4`, `::1`, `[::1]`, `fe80::1%eth0`; undefined for anything that is not an address. */
export function parseAddress(text: string): ParsedAddress | undefined {
  const bare = text.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  if (isIPv4(bare)) return { family: 4, value: ipv4ToBigInt(bare) };
  if (isIPv6(bare)) return { family: 6, value: ipv6ToBigInt(bare) };
  return undefined;
}

/** `10.0.0.0/8`, `fd00::/8`; undefined when the text is not a CIDR block. */
export function parseCidr(text: string): Cidr | undefined {
  const match = text.match(/^(.+)\/(\d{1,3})$/);
  if (!match) return undefined;
  const address = parseAddress(match[1]!);
  const prefix = Number(match[2]);
  if (!address || prefix > BITS[address.family]) return undefined;
  return { ...address, prefix };
}

export function cidrContains(cidr: Cidr, address: ParsedAddress): boolean {
  if (cidr.family !== address.family) return false;
  const shift = BigInt(BITS[cidr.family] - cidr.prefix);
  return address.value >> shift === cidr.value >> shift;
}

function block(text: string): Cidr {
  const cidr = parseCidr(text);
  if (!cidr) throw new Error(`not a CIDR block: ${text}`);
  return cidr;
}

/** First match wins: the metadata endpoints sit inside the link-local and private blocks. */
const RANGES: ReadonlyArray<readonly [Cidr, AddressCategory]> = [
  [block("169.254.169.254/32"), "cloud metadata"], // AWS, GCP, Azure, OpenStack, DigitalOcean
  [block("169.254.170.2/32"), "cloud metadata"], // ECS task metadata
  [block("100.100.100.200/32"), "cloud metadata"], // Alibaba Cloud
  [block("192.0.0.192/32"), "cloud metadata"], // Oracle Cloud (legacy)
  [block("fd00:ec2::254/128"), "cloud metadata"], // AWS over IPv6
  [block("0.0.0.0/8"), "unspecified"],
  [block("127.0.0.0/8"), "loopback"],
  [block("169.254.0.0/16"), "link-local"],
  [block("10.0.0.0/8"), "private"],
  [block("172.16.0.0/12"), "private"],
  [block("192.168.0.0/16"), "private"],
  [block("100.64.0.0/10"), "carrier-grade NAT"],
  [block("192.0.0.0/24"), "reserved"],
  [block("198.18.0.0/15"), "reserved"],
  [block("224.0.0.0/4"), "multicast"],
  [block("240.0.0.0/4"), "reserved"],
  [block("::/128"), "unspecified"],
  [block("::1/128"), "loopback"],
  [block("fe80::/10"), "link-local"],
  [block("fec0::/10"), "private"],
  [block("fc00::/7"), "unique local"],
  [block("ff00::/8"), "multicast"],
  [block("100::/64"), "reserved"],
];

/**
 * IPv6 forms that carry an IPv4 address a packet may end up at: mapped (::ffff:a.b.c.d),
 * compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d, 64:ff9b:1::/48) and 6to4 (2002:AABB:CCDD::).
 */
function embeddedIPv4(address: ParsedAddress): ParsedAddress | undefined {
  if (address.family !== 6) return undefined;
  const low32 = address.value & 0xffffffffn;
  for (const prefix of ["::ffff:0:0/96", "::/96", "64:ff9b::/96", "64:ff9b:1::/48"]) {
    if (cidrContains(block(prefix), address)) return { family: 4, value: low32 };
  }
  if (cidrContains(block("2002::/16"), address))
    return { family: 4, value: (address.value >> 80n) & 0xffffffffn };
  return undefined;
}

/** The range an address falls in when it is not a public destination; null when it is. */
export function categorize(address: ParsedAddress): AddressCategory | null {
  for (const [cidr, category] of RANGES) if (cidrContains(cidr, address)) return category;
  const inner = embeddedIPv4(address);
  return inner ? categorize(inner) : null;
}
