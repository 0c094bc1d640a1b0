import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export type ClusterCertificates = {
  caCert: string;
  caKey: string;
  /** Serves 127.0.0.1/localhost and also works as a client certificate (apiserver → kubelet). */
  serverCert: string;
  serverKey: string;
  saPublicKey: string;
  saPrivateKey: string;
};

// P-256 keys take milliseconds where RSA-2048 takes ~0.7 s each on a busy 2-core machine, and
// certificates sit on the critical path of every cluster start.
const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync("openssl", args, { cwd });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args[0]} failed (is openssl installed?): ${stderr}`, {
      cause: error,
    });
  }
}

function certificateFiles(dir: string): ClusterCertificates {
  const file = (name: string) => path.join(dir, name);
  return {
    caCert: file("ca.crt"),
    caKey: file("ca.key"),
    serverCert: file("server.crt"),
    serverKey: file("server.key"),
    saPublicKey: file("sa.pub"),
    saPrivateKey: file("sa.key"),
  };
}

/** The certificates an earlier start left in this folder, if all of them are there. */
export function existingClusterCertificates(dir: string): ClusterCertificates | undefined {
  const files = certificateFiles(dir);
  return Object.values(files).every((file) => existsSync(file)) ? files : undefined;
}

/** A throwaway CA, a serving certificate for 127.0.0.1/localhost, a service-account key pair. */
export async function generateClusterCertificates(dir: string): Promise<ClusterCertificates> {
  const file = (name: string) => path.join(dir, name);
  await Promise.all([
    writeFile(
      file("ca.ext"),
      "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n",
    ),
    writeFile(
      file("server.ext"),
      "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n" +
        "extendedKeyUsage=serverAuth,clientAuth\n" +
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default\n",
    ),
  ]);
  const ca = (async () => {
    await openssl(
      [
        "req",
        "-new",
        ...EC_KEY,
        "-keyout",
        "ca.key",
        "-out",
        "ca.csr",
        "-subj",
        "/CN=podmortem-test-ca",
      ],
      dir,
    );
    await openssl(
      [
        "x509",
        "-req",
        "-in",
        "ca.csr",
        "-signkey",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-extfile",
        "ca.ext",
      ],
      dir,
    );
  })();
  const serverRequest = openssl(
    [
      "req",
      "-new",
      ...EC_KEY,
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=127.0.0.1",
    ],
    dir,
  );
  const serviceAccount = (async () => {
    await openssl(
      ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "sa.key"],
      dir,
    );
    await openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  })();
  const server = (async () => {
    await Promise.all([ca, serverRequest]);
    await openssl(
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
  })();
  await Promise.all([server, serviceAccount]);
  return certificateFiles(dir);
}
