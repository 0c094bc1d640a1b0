import type { LookupAddress } from "node:dns";
import { describe, expect, it } from "vitest";

import { categorize, parseAddress } from "../../../src/net/address-ranges.ts";
import {
  createGuardedLookup,
  DestinationRefusedError,
  parseAllowedDestination,
  parseAllowList,
  refusalOfUrl,
} from "../../../src/net/outbound-guard.ts";
import { postToSink, SinkError } from "../../../src/notifications/webhook.ts";

const categoryOf = (text: string) => categorize(parseAddress(text)!);

describe("address ranges", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["169.254.169.254", "cloud metadata"],
    ["169.254.1.1", "link-local"],
    ["0.0.0.0", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "reserved"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["fd00:ec2::254", "cloud metadata"],
    ["fc00::1", "unique local"],
    ["fd12:3456::1", "unique local"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:169.254.169.254", "cloud metadata"],
    ["::ffff:10.0.0.1", "private"],
    ["64:ff9b::10.0.0.1", "private"],
    ["2002:7f00:1::", "loopback"],
    ["[::1]", "loopback"],
  ])("puts %s in %s", (address, category) => {
    expect(categoryOf(address)).toBe(category);
  });

  it.each(["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8"])(
    "calls %s public",
    (address) => expect(categoryOf(address)).toBeNull(),
  );
});

describe("refusalOfUrl (config set and the first check at delivery)", () => {
  it.each([
    ["http://169.254.169.254/latest/meta-data/", "cloud metadata"],
    ["http://[fd00:ec2::254]/latest/", "cloud metadata"],
    ["http://127.0.0.1:8089/hook", "loopback"],
    ["http://localhost:8080/", "loopback"],
    ["http://LOCALHOST./", "loopback"],
    ["http://api.localhost/", "loopback"],
    ["http://metadata.google.internal/computeMetadata/v1/", "cloud metadata"],
    ["http://2130706433/", "loopback"],
    ["http://0x7f.1/", "loopback"],
    ["http://[::ffff:127.0.0.1]/", "loopback"],
    ["http://[::]/", "unspecified"],
    ["https://10.0.0.5/hook", "private"],
    ["https://100.100.100.200/", "cloud metadata"],
  ])("refuses %s (%s)", (url, category) => {
    expect(refusalOfUrl(new URL(url), [])).toBe(category);
  });

  it("leaves public addresses and ordinary names to the delivery-time check", () => {
    expect(refusalOfUrl(new URL("https://hooks.slack.com/services/T/B/x"), [])).toBeNull();
    expect(refusalOfUrl(new URL("https://93.184.215.14/"), [])).toBeNull();
  });

  it("admits what the allow list names, and only that", () => {
    const allowed = parseAllowList([
      "127.0.0.1:8089",
      "hooks.internal.example",
      "10.0.0.0/8",
      "[::1]:9000",
      "169.254.0.0/16",
    ]);
    const check = (url: string) => refusalOfUrl(new URL(url), allowed);
    expect(check("http://127.0.0.1:8089/hook")).toBeNull();
    expect(check("http://127.0.0.1:8090/hook")).toBe("loopback");
    expect(check("https://10.20.30.40/hook")).toBeNull();
    expect(check("http://[::1]:9000/")).toBeNull();
    expect(check("http://[::1]:9001/")).toBe("loopback");
    expect(check("http://169.254.3.4/")).toBeNull();
    // A block never admits a metadata endpoint: only an entry naming it does.
    expect(check("http://169.254.169.254/")).toBe("cloud metadata");
    expect(
      refusalOfUrl(new URL("http://169.254.169.254/"), parseAllowList(["169.254.169.254"])),
    ).toBeNull();
  });

  it("parses the documented allow-list forms and nothing else", () => {
    expect(parseAllowedDestination("hooks.internal.example:8443")).toMatchObject({
      kind: "name",
      name: "hooks.internal.example",
      port: 8443,
    });
    expect(parseAllowedDestination("fd00::/8")).toMatchObject({ kind: "cidr" });
    expect(parseAllowedDestination("fd00::1")).toMatchObject({ kind: "address", port: undefined });
    for (const bad of ["http://x", "10.0.0.0/33", "host:99999", "", "a b", "[::1", "[1.2.3.4]"])
      expect(parseAllowedDestination(bad), bad).toBeUndefined();
  });
});

function lookupWith(answers: LookupAddress[], allowed: string[] = [], port = 443) {
  const lookup = createGuardedLookup({
    allowed: parseAllowList(allowed),
    port,
    resolve: () => Promise.resolve(answers),
  });
  return (hostname: string) =>
    new Promise<LookupAddress[]>((resolve, reject) =>
      lookup(hostname, { all: true }, (error, addresses) =>
        error ? reject(error) : resolve(addresses as LookupAddress[]),
      ),
    );
}

describe("the guarded lookup (delivery, after DNS)", () => {
  it("refuses a name that resolves to a private address, even next to a public one", async () => {
    const error = await lookupWith([
      { address: "93.184.215.14", family: 4 },
      { address: "10.0.0.7", family: 4 },
    ])("hooks.example.com").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationRefusedError);
    expect((error as Error).message).toBe("resolves to a private address");
    expect((error as Error).message).not.toContain("hooks.example.com");
  });

  it("refuses a rebinding answer pointing at loopback or metadata", async () => {
    for (const [address, family] of [
      ["127.0.0.1", 4],
      ["::ffff:169.254.169.254", 6],
    ] as const) {
      await expect(lookupWith([{ address, family }])("rebind.example.com")).rejects.toBeInstanceOf(
        DestinationRefusedError,
      );
    }
  });

  it("hands the socket the checked public addresses", async () => {
    const answers = [{ address: "93.184.215.14", family: 4 }];
    expect(await lookupWith(answers)("hooks.example.com")).toEqual(answers);
  });

  it("trusts an allow-listed name whatever it resolves to, and an allow-listed block", async () => {
    const loopback = [{ address: "127.0.0.1", family: 4 }];
    expect(
      await lookupWith(loopback, ["hooks.internal.example"])("hooks.internal.example"),
    ).toEqual(loopback);
    const internal = [{ address: "10.1.1.1", family: 4 }];
    expect(await lookupWith(internal, ["10.0.0.0/8"])("svc.internal.example")).toEqual(internal);
    await expect(
      lookupWith(loopback, ["hooks.internal.example:8443"], 443)("hooks.internal.example"),
    ).rejects.toBeInstanceOf(DestinationRefusedError);
  });
});

describe("postToSink refuses before any request", () => {
  it("refuses a loopback URL as final without naming it", async () => {
    const error = await postToSink({
      sink: "ops",
      url: "http://127.0.0.1:1/very-secret-token",
      body: "{}",
      headers: {},
      nowS: 0,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SinkError);
    expect((error as SinkError).final).toBe(true);
    expect((error as SinkError).message).toBe(
      "sink ops: its URL points to a loopback address, which podmortem does not call unless notifications.allowedDestinations names it",
    );
  });

  it("refuses a name that resolves to metadata at connect time, as final", async () => {
    const error = await postToSink({
      sink: "ops",
      url: "http://hooks.example.com/very-secret-token",
      body: "{}",
      headers: {},
      nowS: 0,
      resolveHost: () => Promise.resolve([{ address: "169.254.169.254", family: 4 }]),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SinkError);
    expect((error as SinkError).final).toBe(true);
    expect((error as SinkError).message).toContain("resolves to a cloud metadata address");
    expect((error as SinkError).message).not.toContain("very-secret-token");
  });
});
