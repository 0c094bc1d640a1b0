import { KubeConfig } from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Agent, fetch } from "undici";

import { generateCertificates } from "./certs.ts";
import { freePort } from "./ports.ts";
import { startProcess, waitFor, type ManagedProcess } from "./processes.ts";

export type KubeCluster = AsyncDisposable & {
  server: string;
  caPem: string;
  caFile: string;
  /** A serving certificate for 127.0.0.1 signed by the cluster CA, for fake node servers. */
  serverCertFile: string;
  serverKeyFile: string;
  adminToken: string;
  restrictedToken: string;
  kubeconfigPath: string;
  tempDir: string;
  startupMs: number;
  kubeConfig(): KubeConfig;
  kubeConfigForToken(token: string): KubeConfig;
  /** Writes a kubeconfig file for another identity, for processes started by a test. */
  writeKubeconfig(token: string, name: string): string;
  restartApiServer(): Promise<void>;
};

const REPO_ROOT = path.resolve(import.meta.dirname, "..", "..");

export function resolveKubebuilderAssets(): string {
  const fromEnv = process.env.KUBEBUILDER_ASSETS;
  const candidates = [
    fromEnv,
    path.resolve(REPO_ROOT, "..", "shared", "kubebuilder-assets"),
  ].filter((dir): dir is string => Boolean(dir));
  for (const dir of candidates) {
    if (existsSync(path.join(dir, "kube-apiserver")) && existsSync(path.join(dir, "etcd")))
      return dir;
  }
  throw new Error(
    "the cluster tests need a real etcd and kube-apiserver: set KUBEBUILDER_ASSETS to a folder " +
      "holding etcd, kube-apiserver and kube-controller-manager (the envtest convention, e.g. " +
      "`export KUBEBUILDER_ASSETS=$(setup-envtest use -p path)`, or ../shared/kubebuilder-assets " +
      `beside the repository)${fromEnv ? `; ${fromEnv} does not hold them` : ""}`,
  );
}

function kubeconfigYaml(server: string, caFile: string, token: string, user: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: test`,
    `  cluster: { server: "${server}", certificate-authority: "${caFile}" }`,
    "users:",
    `- name: ${user}`,
    `  user: { token: "${token}" }`,
    "contexts:",
    `- name: test`,
    `  context: { cluster: test, user: ${user} }`,
    "current-context: test",
    "",
  ].join("\n");
}

/** A real etcd and kube-apiserver (and optionally kube-controller-manager) on loopback. */
export async function startKubeCluster(
  options: { controllerManager?: boolean } = {},
): Promise<KubeCluster> {
  const started = Date.now();
  const assets = resolveKubebuilderAssets();
  const tempDir = await mkdtemp(path.join(os.tmpdir(), "podmortem-kube-"));
  const certDir = path.join(tempDir, "certs");
  await mkdir(certDir);
  const certs = generateCertificates(certDir);
  const [etcdPort, etcdPeerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const adminToken = randomBytes(16).toString("hex");
  const restrictedToken = randomBytes(16).toString("hex");
  const tokensFile = path.join(tempDir, "tokens.csv");
  writeFileSync(
    tokensFile,
    `${adminToken},admin,admin-uid,"system:masters"\n${restrictedToken},restricted,restricted-uid\n`,
  );
  const server = `https://127.0.0.1:${apiPort}`;
  const caPem = readFileSync(certs.caCert, "utf8");
  const dispatcher = new Agent({ connect: { ca: caPem } });
  const processes: ManagedProcess[] = [];

  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const etcd = startProcess(
    path.join(assets, "etcd"),
    [
      "--name",
      "t",
      "--data-dir",
      path.join(tempDir, "etcd"),
      "--listen-client-urls",
      etcdUrl,
      "--advertise-client-urls",
      etcdUrl,
      "--listen-peer-urls",
      `http://127.0.0.1:${etcdPeerPort}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${etcdPeerPort}`,
      "--initial-cluster",
      `t=http://127.0.0.1:${etcdPeerPort}`,
      "--unsafe-no-fsync",
    ],
    { logFile: path.join(tempDir, "etcd.log") },
  );
  processes.push(etcd);

  let apiServer: ManagedProcess | undefined;
  async function startApiServer(): Promise<void> {
    apiServer = startProcess(
      path.join(assets, "kube-apiserver"),
      [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${apiPort}`,
        "--insecure-port=0",
        `--tls-cert-file=${certs.serverCert}`,
        `--tls-private-key-file=${certs.serverKey}`,
        `--client-ca-file=${certs.caCert}`,
        `--token-auth-file=${tokensFile}`,
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${certs.saPublicKey}`,
        `--service-account-signing-key-file=${certs.saPrivateKey}`,
        "--service-cluster-ip-range=10.0.0.0/24",
        "--endpoint-reconciler-type=none",
        "--disable-admission-plugins=ServiceAccount",
        "--allow-privileged=true",
        "--profiling=false",
        "--kubelet-preferred-address-types=InternalIP",
        `--kubelet-client-certificate=${certs.serverCert}`,
        `--kubelet-client-key=${certs.serverKey}`,
        `--cert-dir=${certDir}`,
      ],
      { logFile: path.join(tempDir, "kube-apiserver.log") },
    );
    const current = apiServer;
    await waitFor(
      "kube-apiserver",
      async () => {
        const response = await fetch(`${server}/readyz`, {
          headers: { authorization: `Bearer ${adminToken}` },
          dispatcher,
          signal: AbortSignal.timeout(2000),
        });
        return response.ok;
      },
      { timeoutMs: 90_000, process: current },
    );
  }

  const kubeconfigPath = path.join(tempDir, "admin.kubeconfig");
  writeFileSync(kubeconfigPath, kubeconfigYaml(server, certs.caCert, adminToken, "admin"));
  const writeKubeconfig = (token: string, name: string) => {
    const file = path.join(tempDir, `${name}.kubeconfig`);
    writeFileSync(file, kubeconfigYaml(server, certs.caCert, token, name));
    return file;
  };
  const kubeConfigForToken = (token: string) => {
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfigYaml(server, certs.caCert, token, "user"));
    return kc;
  };

  try {
    await startApiServer();
    if (options.controllerManager) {
      const kcm = startProcess(
        path.join(assets, "kube-controller-manager"),
        [
          `--kubeconfig=${kubeconfigPath}`,
          "--leader-elect=false",
          "--port=0",
          "--secure-port=0",
          `--service-account-private-key-file=${certs.saPrivateKey}`,
          `--root-ca-file=${certs.caCert}`,
          "--use-service-account-credentials=false",
          "--controllers=*,-nodelifecycle,-nodeipam,-cloud-node-lifecycle,-service,-route,-attachdetach,-persistentvolume-binder,-persistentvolume-expander,-pvc-protection,-pv-protection,-ttl,-bootstrapsigner,-tokencleaner,-csrsigning,-csrapproving,-csrcleaner",
          "--concurrent-deployment-syncs=10",
          "--concurrent-replicaset-syncs=10",
        ],
        { logFile: path.join(tempDir, "kube-controller-manager.log") },
      );
      processes.push(kcm);
    }
  } catch (error) {
    await apiServer?.stop("SIGKILL");
    for (const proc of processes.reverse()) await proc.stop("SIGKILL");
    await rm(tempDir, { recursive: true, force: true });
    throw error;
  }

  return {
    server,
    caPem,
    caFile: certs.caCert,
    serverCertFile: certs.serverCert,
    serverKeyFile: certs.serverKey,
    adminToken,
    restrictedToken,
    kubeconfigPath,
    tempDir,
    startupMs: Date.now() - started,
    kubeConfig: () => kubeConfigForToken(adminToken),
    kubeConfigForToken,
    writeKubeconfig,
    async restartApiServer() {
      await apiServer?.stop("SIGTERM", 5000);
      await startApiServer();
    },
    async [Symbol.asyncDispose]() {
      await apiServer?.stop("SIGTERM", 3000);
      for (const proc of [...processes].reverse()) await proc.stop("SIGTERM", 3000);
      await dispatcher.close();
      await rm(tempDir, { recursive: true, force: true });
    },
  };
}
