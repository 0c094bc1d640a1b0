import { describe, expect, it } from "vitest";

import { hostPorts } from "../../../src/diagnosis/host-port.ts";
import { maskSecrets } from "../../../src/diagnosis/mask-secrets.ts";

describe("maskSecrets", () => {
  const cases: Array<[string, string, string]> = [
    ["key=value", "DB_PASSWORD=hunter2 host=db", "hunter2"],
    ["JSON", '{"client_secret": "s3cr3t-v4lue", "user": "app"}', "s3cr3t-v4lue"],
    ["YAML-ish", "api_key: AbCdEf123456", "AbCdEf123456"],
    ["bearer token", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc", "eyJhbGciOiJIUzI1NiJ9"],
    ["URL credentials", "connecting to postgres://app:pa55word@db:5432/shop", "pa55word"],
    ["AWS access key", "using AKIAIOSFODNN7EXAMPLE for s3", "AKIAIOSFODNN7EXAMPLE"],
    ["GitHub token", "token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghij"],
    [
      "Slack webhook",
      "posting to https://hooks.slack.com/services/T000/B000/XXXXXXXX",
      "T000/B000",
    ],
    [
      "JWT",
      "session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
      "dozjgNryP4J3",
    ],
    ["presigned URL", "GET /b/k?X-Amz-Signature=abcdef0123456789&X-Amz-Date=1", "abcdef0123456789"],
    [
      "private key",
      "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
      "MIIEow",
    ],
  ];
  for (const [name, line, secret] of cases)
    it(`masks ${name}`, () => {
      const masked = maskSecrets(line);
      expect(masked).not.toContain(secret);
      expect(masked).toContain("****");
    });

  it("keeps the name of the masked setting and ordinary text", () => {
    expect(maskSecrets("DB_PASSWORD=hunter2 host=db")).toBe("DB_PASSWORD=**** host=db");
    const plain = "listen tcp :8080: bind: address already in use (failed to authorize request)";
    expect(maskSecrets(plain)).toBe(plain);
  });
});

describe("hostPorts", () => {
  it("finds hosts, IPv4 and IPv6 peers and bare ports, never clock times", () => {
    expect(hostPorts("2026/11/22 10:00:05 listen tcp :8080: bind")).toEqual([
      { host: "", port: "8080" },
    ]);
    expect(hostPorts("dial tcp 10.96.12.4:5432: connect: connection refused")).toEqual([
      { host: "10.96.12.4", port: "5432" },
    ]);
    expect(hostPorts("connect ECONNREFUSED [::1]:6379").at(-1)).toEqual({
      host: "[::1]",
      port: "6379",
    });
    expect(hostPorts("Error 111 connecting to redis-master.cache.svc:6379.")).toEqual([
      { host: "redis-master.cache.svc", port: "6379" },
    ]);
  });
});
