import { describe, expect, it } from "vitest";

import {
  describeNetworkError,
  isFinalStatus,
  postToSink,
  SinkError,
} from "../../../src/notifications/webhook.ts";

const SECRET_URL = "https://hooks.example.com/services/T0/B0/very-secret-token";

describe("webhook delivery errors", () => {
  it("treats a 4xx as final except 408 and 429; 5xx are retried", () => {
    expect([400, 401, 403, 404, 410, 422].every(isFinalStatus)).toBe(true);
    expect([408, 429, 500, 502, 503, 504].some(isFinalStatus)).toBe(false);
  });

  it("names a network failure by its system code, never by the URL", () => {
    const refused = new TypeError("fetch failed", {
      cause: Object.assign(new Error(`connect ECONNREFUSED for ${SECRET_URL}`), {
        code: "ECONNREFUSED",
      }),
    });
    expect(describeNetworkError(refused)).toBe("ECONNREFUSED");
    expect(describeNetworkError(new DOMException("signal timed out", "TimeoutError"))).toBe(
      "timed out",
    );
    expect(describeNetworkError(new TypeError(`Failed to parse URL from ${SECRET_URL}`))).toBe(
      "network error",
    );
  });

  it("refuses a URL that is not http(s) as final, without echoing it", async () => {
    for (const url of ["not a url very-secret-token", "file:///etc/very-secret-token"]) {
      const error = await postToSink({ sink: "ops", url, body: "{}", headers: {}, nowS: 0 }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SinkError);
      expect((error as SinkError).final).toBe(true);
      expect((error as SinkError).message).not.toContain("very-secret-token");
    }
  });
});
