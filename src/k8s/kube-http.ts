import {
  ApiException,
  createConfiguration,
  ServerConfiguration,
  KubeConfig,
  type Configuration,
  type RequestContext,
} from "@kubernetes/client-node";
import type { ConnectionOptions } from "node:tls";
import {
  Agent,
  fetch as undiciFetch,
  ProxyAgent,
  request as undiciRequest,
  type Dispatcher,
  type Response,
} from "undici";

import { PODMORTEM_VERSION } from "../version.ts";

export type KubeRequestOptions = {
  method?: Dispatcher.HttpMethod;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  body?: string;
  /** The whole request, headers and body, ends within this; 0 leaves it unbounded. */
  timeoutMs?: number;
  /**
   * Longest silence between two body chunks before undici gives up; 0 for a watch, whose own
   * watchdog knows how long the server may stay silent.
   */
  bodyTimeoutMs?: number;
  signal?: AbortSignal;
};

export type KubeResponse = Dispatcher.ResponseData;

/**
 * Every Kubernetes call of a process goes through this: one dispatcher per endpoint, built once
 * from the kubeconfig (TLS settings read once, so keep-alive connections and HTTP/2 streams are
 * shared), and credentials taken per request (rotating service-account tokens, exec plugins).
 * client-node 2.0.1 builds a new undici Agent, so a new TLS session, for every call otherwise.
 */
export type KubeHttp = {
  /** The API server's base URL, e.g. `https://10.0.0.1:443`. */
  readonly server: string;
  /** Headers for one request: authorization as of now, impersonation, user agent. */
  headers(): Promise<Record<string, string>>;
  /** A request to the API server; `path` is absolute (`/api/v1/pods`). */
  request(path: string, options?: KubeRequestOptions): Promise<KubeResponse>;
  /** The same through fetch, for streaming a body as a web stream; `url` is on the API server. */
  fetch(url: URL, init: { signal: AbortSignal }): Promise<Response>;
  /** A GET of raw JSON (no class instances, no Date parsing); undefined on 404. */
  getJson(path: string, options?: KubeRequestOptions): Promise<unknown>;
  /** A request to a kubelet (`https://<node>:10250/...`) with the kubeconfig's credentials. */
  requestKubelet(
    url: string,
    options?: KubeRequestOptions & { insecureSkipTlsVerify?: boolean },
  ): Promise<KubeResponse>;
  /** client-node's generated API class on this helper's dispatcher and credentials. */
  apiClient<T>(api: new (configuration: Configuration) => T): T;
  close(): Promise<void>;
};

const DEFAULT_TIMEOUT_MS = 60_000;
/**
 * HTTP/2 flow-control windows: at undici's 256 KiB a watch of 5 KB pods waits on a window
 * update every ~50 events (its bytes arrived at ~52k events/s over local TLS); at 1 MiB at
 * ~64k/s. This is also the most an API server can push ahead of what the watch has read, so
 * it bounds what a burst costs here.
 */
const H2_WINDOWS = { initialWindowSize: 1024 * 1024, connectionWindowSize: 2 * 1024 * 1024 };
const USER_AGENT = `podmortem/${PODMORTEM_VERSION}`;

type TlsSettings = Pick<
  ConnectionOptions,
  "ca" | "cert" | "key" | "pfx" | "passphrase" | "rejectUnauthorized" | "servername"
>;

type HttpsOptions = TlsSettings & { headers?: Record<string, unknown>; auth?: string };

async function httpsOptionsOf(kc: KubeConfig): Promise<HttpsOptions> {
  const options: HttpsOptions = {};
  // The one public entry that applies both the TLS files and the authenticators (token file,
  // exec plugin, OIDC); its https.Agent is cached inside the KubeConfig and never used here.
  await kc.applyToHTTPSOptions(options as Parameters<KubeConfig["applyToHTTPSOptions"]>[0]);
  return options;
}

function tlsOf(options: HttpsOptions): TlsSettings {
  const tls: TlsSettings = {};
  for (const key of [
    "ca",
    "cert",
    "key",
    "pfx",
    "passphrase",
    "rejectUnauthorized",
    "servername",
  ] as const) {
    if (options[key] !== undefined) Object.assign(tls, { [key]: options[key] });
  }
  return tls;
}

function headersOf(options: HttpsOptions): Record<string, string> {
  const headers: Record<string, string> = { "user-agent": USER_AGENT };
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (typeof value === "string" || typeof value === "number")
      headers[name.toLowerCase()] = String(value);
  }
  if (options.auth && headers.authorization === undefined)
    headers.authorization = `Basic ${Buffer.from(options.auth).toString("base64")}`;
  return headers;
}

function createDispatcher(kc: KubeConfig, tls: TlsSettings): Dispatcher {
  const cluster = kc.getCurrentCluster();
  const keepAlive = { keepAlive: true, keepAliveInitialDelay: 30_000 };
  if (cluster?.proxyUrl) {
    if (cluster.proxyUrl.startsWith("socks"))
      throw new Error(`the kubeconfig's proxy-url ${cluster.proxyUrl}: socks is not supported`);
    return new ProxyAgent({ uri: cluster.proxyUrl, requestTls: tls, connect: keepAlive });
  }
  if (cluster?.server.startsWith("http:") && !cluster.skipTLSVerify)
    throw new Error("the kubeconfig's server is plain http: without insecure-skip-tls-verify");
  return new Agent({ connect: { ...tls, ...keepAlive }, h2Options: H2_WINDOWS });
}

function signalOf(options: KubeRequestOptions): AbortSignal | undefined {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signals = [
    ...(options.signal ? [options.signal] : []),
    ...(timeoutMs > 0 ? [AbortSignal.timeout(timeoutMs)] : []),
  ];
  return signals.length <= 1 ? signals[0] : AbortSignal.any(signals);
}

/**
 * The same identity without TLS material, for headers alone: client-node reads the CA, the
 * client certificate and its key from disk on every apply, which a request should not pay for.
 * Token files, exec plugins and auth providers stay, so rotated credentials are picked up.
 */
function credentialsOnly(kc: KubeConfig): KubeConfig {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  const copy = new KubeConfig();
  copy.loadFromOptions({
    clusters: cluster
      ? [{ ...cluster, caFile: undefined, caData: undefined, skipTLSVerify: true }]
      : [],
    users: user
      ? [
          {
            ...user,
            certFile: undefined,
            keyFile: undefined,
            certData: undefined,
            keyData: undefined,
          },
        ]
      : [],
    contexts: cluster && user ? [{ name: "current", cluster: cluster.name, user: user.name }] : [],
    currentContext: "current",
  });
  return copy;
}

export function createKubeHttp(kc: KubeConfig): KubeHttp {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the kubeconfig has no current cluster");
  const credentials = credentialsOnly(kc);
  const server = cluster.server.replace(/\/+$/, "");
  let dispatcher: Promise<Dispatcher> | undefined;
  let kubeletDispatcher: Promise<Dispatcher> | undefined;
  let insecureKubeletDispatcher: Dispatcher | undefined;

  const apiDispatcher = () =>
    (dispatcher ??= httpsOptionsOf(kc).then((options) => createDispatcher(kc, tlsOf(options))));

  async function headers(): Promise<Record<string, string>> {
    return headersOf(await httpsOptionsOf(credentials));
  }

  async function send(
    url: URL,
    target: Dispatcher,
    options: KubeRequestOptions,
  ): Promise<KubeResponse> {
    for (const [name, value] of Object.entries(options.query ?? {}))
      if (value !== undefined) url.searchParams.set(name, String(value));
    return undiciRequest(url, {
      dispatcher: target,
      method: options.method ?? "GET",
      headers: { ...(await headers()), ...options.headers },
      ...(options.body === undefined ? {} : { body: options.body }),
      signal: signalOf(options),
      ...(options.bodyTimeoutMs === undefined ? {} : { bodyTimeout: options.bodyTimeoutMs }),
    });
  }

  const http: KubeHttp = {
    server,
    headers,
    async request(path, options = {}) {
      return send(new URL(`${server}${path}`), await apiDispatcher(), options);
    },
    async fetch(url, init) {
      return undiciFetch(url, {
        headers: await headers(),
        dispatcher: await apiDispatcher(),
        signal: init.signal,
      });
    },
    async getJson(path, options = {}) {
      const response = await http.request(path, options);
      if (response.statusCode === 404) {
        await response.body.dump();
        return undefined;
      }
      if (response.statusCode >= 300) {
        const text = await response.body.text();
        throw new ApiException(response.statusCode, `GET ${path}`, text, {});
      }
      return response.body.json();
    },
    async requestKubelet(url, options = {}) {
      let target: Dispatcher;
      if (options.insecureSkipTlsVerify) {
        target = insecureKubeletDispatcher ??= new Agent({
          connect: { rejectUnauthorized: false, keepAlive: true },
        });
      } else {
        // The kubelet is another endpoint: the API server's name override does not apply.
        target = await (kubeletDispatcher ??= httpsOptionsOf(kc).then((o) => {
          const { servername: _apiServerName, ...tls } = tlsOf(o);
          return new Agent({ connect: { ...tls, keepAlive: true } });
        }));
      }
      return send(new URL(url), target, options);
    },
    apiClient(api) {
      const authentication = {
        getName: () => "podmortem kube-http",
        async applySecurityAuthentication(context: RequestContext) {
          for (const [name, value] of Object.entries(await headers()))
            context.setHeaderParam(name, value);
          context.setDispatcher(await apiDispatcher());
          if (!context.getSignal()) context.setSignal(AbortSignal.timeout(DEFAULT_TIMEOUT_MS));
        },
      };
      return new api(
        createConfiguration({
          baseServer: new ServerConfiguration(server, {}),
          authMethods: { default: authentication },
        }),
      );
    },
    async close() {
      const all = [dispatcher, kubeletDispatcher, Promise.resolve(insecureKubeletDispatcher)];
      await Promise.all(
        all.map(async (pending) => {
          const d = await pending?.catch(() => undefined);
          await d?.close();
        }),
      );
    },
  };
  return http;
}

const shared = new WeakMap<KubeConfig, KubeHttp>();

/** The one helper of this KubeConfig: every caller holding the same config shares connections. */
export function kubeHttpFor(kc: KubeConfig): KubeHttp {
  let http = shared.get(kc);
  if (!http) shared.set(kc, (http = createKubeHttp(kc)));
  return http;
}
