import { S3Client } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";

import { presignGetUrl } from "../../../src/evidence/s3-presign.ts";

const credentials = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const at = new Date("2026-12-01T03:00:00Z");

describe("presigned report links", () => {
  it.each([
    [
      "path style on a custom endpoint",
      { endpoint: "http://127.0.0.1:4569", forcePathStyle: true },
      "127.0.0.1:4569",
      "/evidence/",
    ],
    ["virtual-hosted on AWS", {}, "evidence.s3.eu-west-1.amazonaws.com", "/"],
  ])(
    "address the object as the S3 client would: %s, a key with colons, spaces and non-ASCII",
    async (_, settings, host, prefix) => {
      const client = new S3Client({ region: "eu-west-1", credentials, ...settings });
      const key = "prod/shop/café 1/2026-12-01T03:00:00.000Z/report.md";
      const url = new URL(await presignGetUrl(client, "evidence", key, 3600, at));
      expect(url.host).toBe(host);
      expect(decodeURIComponent(url.pathname)).toBe(`${prefix}${key}`);
      expect(url.searchParams.get("X-Amz-Credential")).toBe(
        "AKIDEXAMPLE/20261201/eu-west-1/s3/aws4_request",
      );
      expect(url.searchParams.get("X-Amz-Date")).toBe("20261201T030000Z");
      expect(url.searchParams.get("X-Amz-Expires")).toBe("3600");
      expect(url.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
      expect(url.toString()).not.toContain(credentials.secretAccessKey);
    },
  );

  it("carries a session token and never lasts past seven days", async () => {
    const client = new S3Client({
      region: "eu-west-1",
      credentials: { ...credentials, sessionToken: "session/token+value" },
    });
    const url = new URL(await presignGetUrl(client, "evidence", "a/report.md", 30 * 86_400, at));
    expect(url.searchParams.get("X-Amz-Expires")).toBe("604800");
    expect(url.searchParams.get("X-Amz-Security-Token")).toBe("session/token+value");
  });
});
