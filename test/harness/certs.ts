import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";

export type ClusterCertificates = {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  saPublicKey: string;
  saPrivateKey: string;
};

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`openssl ${args[0]} failed (is openssl installed?): ${stderr}`, {
      cause: error,
    });
  }
}

/** A throwaway CA, a serving certificate for 127.0.0.1/localhost, and a service-account key pair. */
export function generateCertificates(dir: string): ClusterCertificates {
  const file = (name: string) => path.join(dir, name);
  writeFileSync(
    file("server.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "2",
      "-subj",
      "/CN=podmortem-test-ca",
    ],
    dir,
  );
  openssl(
    [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=127.0.0.1",
    ],
    dir,
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "2",
      "-extfile",
      "server.ext",
    ],
    dir,
  );
  openssl(["genrsa", "-out", "sa.key", "2048"], dir);
  openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  return {
    caCert: file("ca.crt"),
    caKey: file("ca.key"),
    serverCert: file("server.crt"),
    serverKey: file("server.key"),
    saPublicKey: file("sa.pub"),
    saPrivateKey: file("sa.key"),
  };
}
