/**
 * `host:port` in a log line: the host has a letter, is an IPv4 address or a bracketed IPv6
 * address, or is empty after a space (`:8080`). Clock times (`10:00:05`) never match.
 */
const HOST_PORT =
  /(?:^|[\s("'=@/])((?:[\w-]*[a-zA-Z][\w-]*)(?:\.[\w-]+)*|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]*\])?:(\d{2,5})\b(?!:\d)/g;
const SCHEMES = new Set(["http", "https", "tcp", "udp", "dial", "listen", "bind", "port", "error"]);

export function hostPorts(line: string): Array<{ host: string; port: string }> {
  return [...line.matchAll(HOST_PORT)]
    .map((m) => ({ host: m[1] ?? "", port: m[2]! }))
    .filter((hp) => !SCHEMES.has(hp.host.toLowerCase()));
}
