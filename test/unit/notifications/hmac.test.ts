import { describe, expect, it } from "vitest";

import { signBody, verifyBody } from "../../../src/notifications/hmac.ts";

const SECRET = "0123456789abcdef";

describe("webhook HMAC", () => {
  it("signs <timestamp>.<body> with HMAC-SHA256, as a receiver recomputes it", () => {
    // Independently computed: python3 hmac.new(secret, b'1700000000.{"a":1}', sha256)
    expect(signBody(SECRET, "1700000000", '{"a":1}')).toBe(
      "sha256=9eb18f493f8ec135d9eb2dad817c369bb4e9cbfa818657897a7437c1cd8c3a23",
    );
  });

  it("verifies only the exact body, timestamp and secret", () => {
    const signature = signBody(SECRET, "1700000000", '{"a":1}');
    expect(verifyBody(SECRET, "1700000000", '{"a":1}', signature)).toBe(true);
    expect(verifyBody(SECRET, "1700000000", '{"a":2}', signature)).toBe(false);
    expect(verifyBody(SECRET, "1700000001", '{"a":1}', signature)).toBe(false);
    expect(verifyBody(`${SECRET}x`, "1700000000", '{"a":1}', signature)).toBe(false);
    expect(verifyBody(SECRET, "1700000000", '{"a":1}', "sha256=00")).toBe(false);
  });
});
