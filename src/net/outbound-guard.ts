import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupAddress, LookupOptions } from "node:dns";

import {
  categorize,
  cidrContains,
  parseAddress,
  parseCidr,
  type AddressCategory,
  type Cidr,
  type ParsedAddress,
} from "./address-ranges.ts";

/** Where the allow list lives in the runtime config; messages point users at it. */
export const ALLOW_LIST_FIELD = "notifications.allowedDestinations";

/**
 * One allow-list entry: `HOST`, `HOST:PORT` (a DNS name, an IPv4 address or `[IPv6]`), or a CIDR
 * block (`10.0.0.0/8`, `fd00::/8`). A named host is trusted whatever it resolves to; a block
 * admits the addresses in it except cloud metadata, which only an entry naming it admits.
 */
export type AllowedDestination =
  | { kind: "name"; name: string; port: number | undefined }
  | { kind: "address"; address: ParsedAddress; port: number | undefined }
  | { kind: "cidr"; cidr: Cidr };

const DNS_NAME =
  /^(?=.{1,253}$)([a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([-a-z0-9_]{0,61}[a-z0-9_])?)*$/;

/** Names that mean this machine or a cloud's metadata service without any DNS lookup. */
const LOCAL_NAMES: ReadonlyMap<string, AddressCategory> = new Map([
  ["localhost", "loopback"],
  ["metadata", "cloud metadata"],
  ["metadata.google.internal", "cloud metadata"],
  ["metadata.goog", "cloud metadata"],
  ["instance-data", "cloud metadata"],
  ["instance-data.ec2.internal", "cloud metadata"],
]);

const normalizeName = (name: string) => name.toLowerCase().replace(/\.$/, "");

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65_535 ? port : undefined;
}

/** Undefined when the text is none of the documented forms. */
export function parseAllowedDestination(text: string): AllowedDestination | undefined {
  const entry = text.trim();
  if (entry.includes("/")) {
    const cidr = parseCidr(entry);
    return cidr ? { kind: "cidr", cidr } : undefined;
  }
  const bracketed = entry.match(/^\[([^\]]+)\](?::(\d+))?$/);
  if (bracketed) {
    const address = parseAddress(bracketed[1]!);
    if (!address || address.family !== 6) return undefined;
    const port = bracketed[2] === undefined ? undefined : parsePort(bracketed[2]);
    if (bracketed[2] !== undefined && port === undefined) return undefined;
    return { kind: "address", address, port };
  }
  // A bare IPv6 address has no room for a port.
  const bareV6 = parseAddress(entry);
  if (bareV6?.family === 6) return { kind: "address", address: bareV6, port: undefined };
  const colon = entry.lastIndexOf(":");
  const host = colon < 0 ? entry : entry.slice(0, colon);
  const port = colon < 0 ? undefined : parsePort(entry.slice(colon + 1));
  if (colon >= 0 && port === undefined) return undefined;
  const address = parseAddress(host);
  if (address) return { kind: "address", address, port };
  const name = normalizeName(host);
  return DNS_NAME.test(name) ? { kind: "name", name, port } : undefined;
}

/** The entries that parse; the config schema refuses the others by their index. */
export function parseAllowList(entries: readonly string[] | undefined): AllowedDestination[] {
  return (entries ?? [])
    .map(parseAllowedDestination)
    .filter((entry): entry is AllowedDestination => entry !== undefined);
}

const portMatches = (wanted: number | undefined, port: number) =>
  wanted === undefined || wanted === port;

function sameAddress(a: ParsedAddress, b: ParsedAddress): boolean {
  return a.family === b.family && a.value === b.value;
}

function namesHost(entry: AllowedDestination, hostname: string, port: number): boolean {
  if (entry.kind === "cidr" || !portMatches(entry.port, port)) return false;
  if (entry.kind === "name") return entry.name === normalizeName(hostname);
  const address = parseAddress(hostname);
  return address !== undefined && sameAddress(entry.address, address);
}

function coversAddress(
  entry: AllowedDestination,
  address: ParsedAddress,
  category: AddressCategory,
  port: number,
): boolean {
  if (entry.kind === "address")
    return portMatches(entry.port, port) && sameAddress(entry.address, address);
  if (entry.kind === "cidr")
    return category !== "cloud metadata" && cidrContains(entry.cidr, address);
  return false;
}

export function effectivePort(url: URL): number {
  if (url.port !== "") return Number(url.port);
  return url.protocol === "https:" ? 443 : 80;
}

/**
 * What can be said of a URL without DNS: its host is an address outside the public internet or
 * a name that means this machine or a metadata service, and the allow list does not name it.
 * Null when nothing is wrong so far; names are checked again after resolution, at delivery.
 */
export function refusalOfUrl(
  url: URL,
  allowed: readonly AllowedDestination[],
): AddressCategory | null {
  const port = effectivePort(url);
  if (allowed.some((entry) => namesHost(entry, url.hostname, port))) return null;
  const address = parseAddress(url.hostname);
  if (address) {
    const category = categorize(address);
    if (category === null) return null;
    return allowed.some((entry) => coversAddress(entry, address, category, port)) ? null : category;
  }
  const name = normalizeName(url.hostname);
  return LOCAL_NAMES.get(name) ?? (name.endsWith(".localhost") ? "loopback" : null);
}

/** A resolved address the allow list does not admit; its message names neither host nor URL. */
export class DestinationRefusedError extends Error {
  readonly category: AddressCategory;

  constructor(category: AddressCategory) {
    super(`resolves to ${articled(category)} address`);
    this.name = "DestinationRefusedError";
    this.category = category;
  }
}

export function articled(category: AddressCategory): string {
  return `${/^[aeiou]/.test(category) ? "an" : "a"} ${category}`;
}

export type ResolveHost = (hostname: string) => Promise<LookupAddress[]>;

const systemResolve: ResolveHost = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for net/tls connect: resolves the name, checks every address it resolves to, and
 * hands the socket only checked addresses, so a DNS answer that changes between a check and the
 * connection (rebinding) cannot slip a private address in. An allow-listed name passes as is.
 */
export function createGuardedLookup(options: {
  allowed: readonly AllowedDestination[];
  port: number;
  resolve?: ResolveHost | undefined;
}) {
  const resolve = options.resolve ?? systemResolve;
  return (hostname: string, lookupOptions: LookupOptions, callback: LookupCallback): void => {
    void (async () => {
      const addresses = await resolve(hostname);
      if (addresses.length === 0)
        throw Object.assign(new Error("no address"), { code: "ENOTFOUND" });
      if (!options.allowed.some((entry) => namesHost(entry, hostname, options.port))) {
        for (const { address: text } of addresses) {
          const address = parseAddress(text);
          if (!address) throw new DestinationRefusedError("reserved");
          const category = categorize(address);
          if (category === null) continue;
          if (!options.allowed.some((e) => coversAddress(e, address, category, options.port)))
            throw new DestinationRefusedError(category);
        }
      }
      const wanted =
        lookupOptions.family === 4 || lookupOptions.family === 6 ? lookupOptions.family : 0;
      const usable = addresses.filter((a) => wanted === 0 || a.family === wanted);
      if (lookupOptions.all) callback(null, usable);
      else if (usable[0]) callback(null, usable[0].address, usable[0].family);
      else throw Object.assign(new Error("no address of that family"), { code: "ENOTFOUND" });
    })().catch((error: unknown) => callback(error as NodeJS.ErrnoException, "", 0));
  };
}
