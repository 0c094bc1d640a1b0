import { KubeConfig } from "@kubernetes/client-node";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { createKubeHttp, kubeHttpFor } from "../../../src/k8s/kube-http.ts";

function kubeConfig(user: Record<string, unknown>): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: "https://10.0.0.1:6443/", skipTLSVerify: false }],
    users: [{ name: "u", ...user }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return kc;
}

describe("the Kubernetes HTTP helper", () => {
  it("takes an exec plugin's credential per request, so a rotated token is used at once", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "kube-http-"));
    const tokenFile = path.join(dir, "token");
    writeFileSync(tokenFile, "first");
    // An already expired credential: client-node runs the plugin again on every request.
    const script = `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"2000-01-01T00:00:00Z"}}' "$(cat ${tokenFile})"`;
    const http = createKubeHttp(
      kubeConfig({
        exec: {
          apiVersion: "client.authentication.k8s.io/v1",
          command: "sh",
          args: ["-c", script],
          interactiveMode: "Never",
        },
      }),
    );
    expect((await http.headers()).authorization).toBe("Bearer first");
    writeFileSync(tokenFile, "second");
    expect((await http.headers()).authorization).toBe("Bearer second");
    await http.close();
  });

  it("sends basic credentials, impersonation and its own user agent", async () => {
    const http = createKubeHttp(
      kubeConfig({ username: "ana", password: "s3cret", impersonateUser: "bob" }),
    );
    const headers = await http.headers();
    expect(headers.authorization).toBe(`Basic ${Buffer.from("ana:s3cret").toString("base64")}`);
    expect(headers["impersonate-user"]).toBe("bob");
    expect(headers["user-agent"]).toMatch(/^podmortem\//);
    expect(http.server).toBe("https://10.0.0.1:6443");
  });

  it("is one helper per kubeconfig, so every caller shares its connections", () => {
    const kc = kubeConfig({ token: "t" });
    expect(kubeHttpFor(kc)).toBe(kubeHttpFor(kc));
    expect(kubeHttpFor(kubeConfig({ token: "t" }))).not.toBe(kubeHttpFor(kc));
  });

  it("refuses a plain-http server unless TLS verification is explicitly off", () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "c", server: "http://10.0.0.1:8080", skipTLSVerify: false }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    return expect(createKubeHttp(kc).request("/api")).rejects.toThrow(
      /not allowed when skipTLSVerify|insecure-skip-tls-verify/,
    );
  });
});
