import { KubeConfig } from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Agent, fetch } from "undici";

import { existingClusterCertificates, generateClusterCertificates } from "./kube-certs.ts";
import { freePorts } from "./ports.ts";
import { startProcess, waitFor, type ManagedProcess } from "./processes.ts";

export type KubeCluster = AsyncDisposable & {
  /** https://127.0.0.1:<port> */
  server: string;
  /** The etcd behind it, plain HTTP on loopback (its v3 gateway answers here too). */
  etcdUrl: string;
  caPem: string;
  caFile: string;
  /** A certificate for 127.0.0.1 signed by the cluster CA, for fake node servers. */
  serverCertFile: string;
  serverKeyFile: string;
  /** Group system:masters. */
  adminToken: string;
  /** User "restricted": authenticated, no other group, no role. */
  restrictedToken: string;
  /** Admin kubeconfig file, current context set. */
  kubeconfigPath: string;
  tempDir: string;
  startupMs: number;
  kubeConfig(): KubeConfig;
  kubeConfigForToken(token: string): KubeConfig;
  /** Writes a kubeconfig file for another identity, for processes started by a test. */
  writeKubeconfig(token: string, name: string): string;
  /** Stops the kube-apiserver (SIGTERM) and starts it again on the same port and etcd. */
  restartApiServer(): Promise<void>;
};

const REPO_ROOT = path.resolve(import.meta.dirname, "..");
const READY_TIMEOUT_MS = 90_000;
// A 1.20 API server that got SIGTERM stops listening at once but then waits for open watches,
// which it never ends itself, up to its 60 s shutdown timeout: past a short grace, SIGKILL.
const STOP_GRACE_MS = 1500;

// The API server builds one OpenAPI document of every served group version before it serves;
// on a busy 2-core machine that is seconds. These versions all have a v1 twin that podmortem uses,
// so turning them off halves that step. batch/v1beta1 stays: 1.20 serves CronJobs only there.
const UNUSED_API_VERSIONS = [
  "admissionregistration.k8s.io/v1beta1",
  "apiregistration.k8s.io/v1beta1",
  "authentication.k8s.io/v1beta1",
  "authorization.k8s.io/v1beta1",
  "autoscaling/v2beta1",
  "certificates.k8s.io/v1beta1",
  "coordination.k8s.io/v1beta1",
  "events.k8s.io/v1beta1",
  "extensions/v1beta1",
  "flowcontrol.apiserver.k8s.io/v1beta1",
  "networking.k8s.io/v1beta1",
  "rbac.authorization.k8s.io/v1beta1",
  "scheduling.k8s.io/v1beta1",
  "storage.k8s.io/v1beta1",
];

// What needs a cloud, a node CIDR or real kubelets, or only signs certificates: off, so the
// manager starts quickly and never taints the fake kubelet's nodes for a missed heartbeat.
const DISABLED_CONTROLLERS = [
  "nodelifecycle",
  "nodeipam",
  "cloud-node-lifecycle",
  "service",
  "route",
  "attachdetach",
  "persistentvolume-binder",
  "persistentvolume-expander",
  "ttl",
  "bootstrapsigner",
  "tokencleaner",
  "csrsigning",
  "csrapproving",
  "csrcleaner",
];

export function resolveKubebuilderAssets(binaries: string[] = ["etcd", "kube-apiserver"]): string {
  const fromEnv = process.env.KUBEBUILDER_ASSETS;
  const fallback = path.resolve(REPO_ROOT, "..", "shared", "kubebuilder-assets");
  const dir = fromEnv || fallback;
  const missing = binaries.filter((binary) => !existsSync(path.join(dir, binary)));
  if (missing.length === 0) return dir;
  throw new Error(
    `the simulated cluster needs ${binaries.join(", ")} (a Kubernetes control plane, tested with ` +
      "1.20.2 and etcd 3.4): " +
      (fromEnv
        ? `KUBEBUILDER_ASSETS=${fromEnv} lacks ${missing.join(", ")}; `
        : `KUBEBUILDER_ASSETS is unset and ${fallback} lacks ${missing.join(", ")}; `) +
      "get etcd and kube-apiserver with `go install sigs.k8s.io/controller-runtime/tools/setup-envtest@latest` " +
      "and `export KUBEBUILDER_ASSETS=$(setup-envtest use 1.20.2 -p path)` (see README, Quick start)",
  );
}

/** Whether KUBEBUILDER_ASSETS also holds kube-controller-manager (setup-envtest does not ship it). */
export function hasControllerManager(): boolean {
  try {
    resolveKubebuilderAssets(["etcd", "kube-apiserver", "kube-controller-manager"]);
    return true;
  } catch {
    return false;
  }
}

function kubeconfigYaml(server: string, caFile: string, token: string, user: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: test",
    `  cluster: { server: "${server}", certificate-authority: "${caFile}" }`,
    "users:",
    `- name: ${user}`,
    `  user: { token: "${token}" }`,
    "contexts:",
    "- name: test",
    `  context: { cluster: test, user: ${user} }`,
    "current-context: test",
    "",
  ].join("\n");
}

function tailOf(processes: ManagedProcess[]): string {
  return processes
    .map((proc) => `--- ${path.basename(proc.logFile)} (tail) ---\n${proc.tail(2000)}`)
    .join("\n");
}

/** A real etcd and kube-apiserver (and optionally kube-controller-manager) on loopback. */
export async function startKubeCluster(
  options: {
    controllerManager?: boolean;
    /**
     * Keeps etcd's data, the certificates, the logs and the admin kubeconfig in this folder, which
     * outlives the cluster: the next start with the same folder has the same objects (and the same
     * kube-system UID). A temporary folder, removed at the end, by default.
     */
    dataDir?: string;
    /** false: every watch reads etcd itself, so a resourceVersion etcd compacted is 410 Gone. */
    watchCache?: boolean;
  } = {},
): Promise<KubeCluster> {
  const started = Date.now();
  const assets = resolveKubebuilderAssets(
    options.controllerManager
      ? ["etcd", "kube-apiserver", "kube-controller-manager"]
      : ["etcd", "kube-apiserver"],
  );
  const keep = options.dataDir !== undefined;
  const tempDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), "podmortem-kube-")));
  if (keep) await mkdir(tempDir, { recursive: true });
  const removeTempDir = () =>
    keep ? Promise.resolve() : rm(tempDir, { recursive: true, force: true });
  const certDir = path.join(tempDir, "certs");
  const [etcdPort, etcdPeerPort, apiPort] = (await freePorts(3)) as [number, number, number];
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
  const server = `https://127.0.0.1:${apiPort}`;
  const adminToken = randomBytes(16).toString("hex");
  const restrictedToken = randomBytes(16).toString("hex");
  const tokensFile = path.join(tempDir, "tokens.csv");
  const kubeconfigPath = path.join(tempDir, "admin.kubeconfig");

  // etcd needs no certificate: it starts while openssl works.
  const etcd = startProcess(
    path.join(assets, "etcd"),
    [
      "--name=t",
      `--data-dir=${path.join(tempDir, "etcd")}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=t=${peerUrl}`,
      "--unsafe-no-fsync",
    ],
    { logFile: path.join(tempDir, "etcd.log") },
  );
  let apiServer: ManagedProcess | undefined;
  let controllerManager: ManagedProcess | undefined;
  let dispatcher: Agent | undefined;

  async function stopAll(signal: NodeJS.Signals): Promise<void> {
    await Promise.all([
      controllerManager?.stop(signal, STOP_GRACE_MS),
      apiServer?.stop(signal, STOP_GRACE_MS),
    ]);
    await etcd.stop(signal, STOP_GRACE_MS);
    await dispatcher?.close();
  }

  try {
    await mkdir(certDir, { recursive: true });
    const certs =
      existingClusterCertificates(certDir) ?? (await generateClusterCertificates(certDir));
    const caPem = await readFile(certs.caCert, "utf8");
    await writeFile(
      tokensFile,
      `${adminToken},admin,admin-uid,"system:masters"\n${restrictedToken},restricted,restricted-uid\n`,
      { mode: 0o600 },
    );
    await writeFile(kubeconfigPath, kubeconfigYaml(server, certs.caCert, adminToken, "admin"), {
      mode: 0o600,
    });
    const readyDispatcher = new Agent({ connect: { ca: caPem } });
    dispatcher = readyDispatcher;

    const startApiServer = async (): Promise<void> => {
      const proc = startProcess(
        path.join(assets, "kube-apiserver"),
        [
          `--etcd-servers=${etcdUrl}`,
          "--bind-address=127.0.0.1",
          "--advertise-address=127.0.0.1",
          `--secure-port=${apiPort}`,
          "--insecure-port=0",
          `--cert-dir=${certDir}`,
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
          "--enable-priority-and-fairness=false",
          ...(options.watchCache === false ? ["--watch-cache=false"] : []),
          `--runtime-config=${UNUSED_API_VERSIONS.map((version) => `${version}=false`).join(",")}`,
          // pods/log and node proxy go to the fake kubelet at the Node's InternalIP and port;
          // its certificate is not checked (no --kubelet-certificate-authority), ours is shown.
          "--kubelet-preferred-address-types=InternalIP",
          `--kubelet-client-certificate=${certs.serverCert}`,
          `--kubelet-client-key=${certs.serverKey}`,
        ],
        { logFile: path.join(tempDir, "kube-apiserver.log") },
      );
      apiServer = proc;
      try {
        await waitFor(
          "kube-apiserver",
          async () => {
            const response = await fetch(`${server}/readyz`, {
              headers: { authorization: `Bearer ${adminToken}` },
              dispatcher: readyDispatcher,
              signal: AbortSignal.timeout(2000),
            });
            await response.body?.cancel();
            return response.ok;
          },
          { timeoutMs: READY_TIMEOUT_MS, process: proc },
        );
      } catch (error) {
        throw new Error(
          `${(error as Error).message.split("\n")[0]}\n${tailOf([proc, etcd])}\nlogs in ${tempDir}`,
          { cause: error },
        );
      }
    };

    await startApiServer();
    if (options.controllerManager) {
      // Started once the API server is ready: it gives up when /healthz fails for 10 s.
      controllerManager = startProcess(
        path.join(assets, "kube-controller-manager"),
        [
          `--kubeconfig=${kubeconfigPath}`,
          "--leader-elect=false",
          "--port=0",
          "--secure-port=0",
          `--service-account-private-key-file=${certs.saPrivateKey}`,
          `--root-ca-file=${certs.caCert}`,
          "--use-service-account-credentials=false",
          `--controllers=*,${DISABLED_CONTROLLERS.map((name) => `-${name}`).join(",")}`,
          "--concurrent-deployment-syncs=10",
          "--concurrent-replicaset-syncs=10",
          "--concurrent-gc-syncs=10",
        ],
        { logFile: path.join(tempDir, "kube-controller-manager.log") },
      );
    }

    const kubeConfigForToken = (token: string) => {
      const kc = new KubeConfig();
      kc.loadFromString(kubeconfigYaml(server, certs.caCert, token, "user"));
      return kc;
    };
    let restarting: Promise<void> | undefined;
    return {
      server,
      etcdUrl,
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
      writeKubeconfig(token, name) {
        const file = path.join(tempDir, `${name}.kubeconfig`);
        writeFileSync(file, kubeconfigYaml(server, certs.caCert, token, name), { mode: 0o600 });
        return file;
      },
      restartApiServer() {
        restarting ??= (async () => {
          try {
            await apiServer?.stop("SIGTERM", STOP_GRACE_MS);
            await startApiServer();
          } finally {
            restarting = undefined;
          }
        })();
        return restarting;
      },
      async [Symbol.asyncDispose]() {
        await restarting?.catch(() => undefined);
        await stopAll("SIGTERM");
        await removeTempDir();
      },
    };
  } catch (error) {
    await stopAll("SIGKILL");
    await removeTempDir();
    throw error;
  }
}
