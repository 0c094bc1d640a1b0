import { S3Client } from "@aws-sdk/client-s3";
import { SignatureV4 } from "@smithy/signature-v4";
import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";

import { presignGetUrl } from "../../../src/evidence/s3-presign.ts";

const toBytes = (data: string | ArrayBuffer | ArrayBufferView) =>
  typeof data === "string"
    ? Buffer.from(data)
    : ArrayBuffer.isView(data)
      ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
      : Buffer.from(data);

class NodeSha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", toBytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView) {
    this.hash.update(toBytes(data));
  }
  digest() {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}

const credentials = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const at = new Date("2026-12-01T03:00:00Z");

/** What the AWS SDK's own signer makes of the same request, as its S3 presigner calls it. */
async function awsSignature(link: string, sessionToken?: string): Promise<string | undefined> {
  const url = new URL(link);
  const query: Record<string, string> = {};
  for (const [name, value] of url.searchParams) if (!name.startsWith("X-Amz-")) query[name] = value;
  const signer = new SignatureV4({
    credentials: { ...credentials, ...(sessionToken ? { sessionToken } : {}) },
    region: "eu-west-1",
    service: "s3",
    sha256: NodeSha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const presigned = await signer.presign(
    {
      method: "GET",
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query,
      headers: { host: url.host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
    },
    {
      signingDate: at,
      expiresIn: Number(url.searchParams.get("X-Amz-Expires")),
      unsignableHeaders: new Set(["x-amz-content-sha256"]),
      unhoistableHeaders: new Set(["x-amz-content-sha256"]),
    },
  );
  return presigned.query?.["X-Amz-Signature"] as string | undefined;
}

describe("presigned report links", () => {
  it.each([
    [
      "path style on a custom endpoint",
      { endpoint: "http://127.0.0.1:4569", forcePathStyle: true },
    ],
    ["virtual-hosted on AWS", {}],
  ])(
    "sign as the AWS SDK does: %s, a key with colons, spaces and non-ASCII",
    async (_, settings) => {
      const client = new S3Client({ region: "eu-west-1", credentials, ...settings });
      const key = "prod/shop/café 1/2026-12-01T03:00:00.000Z/report.md";
      const link = await presignGetUrl(client, "evidence", key, 3600, at);
      const url = new URL(link);
      expect(url.pathname).toContain("2026-12-01T03%3A00%3A00.000Z");
      expect(url.searchParams.get("X-Amz-Credential")).toBe(
        "AKIDEXAMPLE/20261201/eu-west-1/s3/aws4_request",
      );
      expect(url.searchParams.get("X-Amz-Signature")).toBe(await awsSignature(link));
      expect(link).not.toContain(credentials.secretAccessKey);
    },
  );

  it("carries a session token, signed, and never lasts past seven days", async () => {
    const client = new S3Client({
      region: "eu-west-1",
      credentials: { ...credentials, sessionToken: "session/token+value" },
    });
    const link = await presignGetUrl(client, "evidence", "a/report.md", 30 * 86_400, at);
    const url = new URL(link);
    expect(url.searchParams.get("X-Amz-Expires")).toBe("604800");
    expect(url.searchParams.get("X-Amz-Security-Token")).toBe("session/token+value");
    expect(url.searchParams.get("X-Amz-Signature")).toBe(
      await awsSignature(link, "session/token+value"),
    );
  });
});
