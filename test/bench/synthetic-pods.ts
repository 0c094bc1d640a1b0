/** Pod JSON shaped like an API server's answer: managedFields, env, probes, the lot (~6 KB). */
export function rawPod(
  i: number,
  options: { restartCount?: number; crashed?: boolean; namespace?: string } = {},
) {
  const name = `checkout-7d9f8b6c5-${i.toString(36).padStart(5, "0")}`;
  const restartCount = options.restartCount ?? 0;
  return {
    kind: "Pod",
    apiVersion: "v1",
    metadata: {
      name,
      namespace: options.namespace ?? `team-${i % 50}`,
      uid: `0b5e6f1e-${i.toString(16).padStart(8, "0")}-4a5b-9c8d-${(i * 7).toString(16).padStart(12, "0")}`,
      resourceVersion: String(100000 + i + restartCount),
      creationTimestamp: "2026-11-22T10:00:00Z",
      labels: {
        app: "checkout",
        "pod-template-hash": "7d9f8b6c5",
        "project-id": "shop",
        "workload-id": "checkout",
        tier: "backend",
        version: "1.2.3",
      },
      annotations: {
        "kubectl.kubernetes.io/restartedAt": "2026-11-20T10:00:00Z",
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9090",
      },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: "checkout-7d9f8b6c5",
          uid: "rs-uid-1",
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: "kube-controller-manager",
          operation: "Update",
          apiVersion: "v1",
          time: "2026-11-22T10:00:00Z",
          fieldsType: "FieldsV1",
          fieldsV1: {
            "f:metadata": {
              "f:generateName": {},
              "f:labels": { ".": {}, "f:app": {}, "f:pod-template-hash": {} },
              "f:ownerReferences": { ".": {}, 'k:{"uid":"rs-uid-1"}': {} },
            },
            "f:spec": {
              "f:containers": {
                'k:{"name":"app"}': {
                  ".": {},
                  "f:env": {},
                  "f:image": {},
                  "f:imagePullPolicy": {},
                  "f:livenessProbe": {},
                  "f:name": {},
                  "f:ports": {},
                  "f:readinessProbe": {},
                  "f:resources": {},
                },
              },
              "f:dnsPolicy": {},
              "f:enableServiceLinks": {},
              "f:restartPolicy": {},
              "f:schedulerName": {},
              "f:securityContext": {},
              "f:terminationGracePeriodSeconds": {},
            },
          },
        },
        {
          manager: "kubelet",
          operation: "Update",
          apiVersion: "v1",
          time: "2026-11-22T10:00:05Z",
          fieldsType: "FieldsV1",
          subresource: "status",
          fieldsV1: {
            "f:status": {
              "f:conditions": {
                'k:{"type":"ContainersReady"}': {},
                'k:{"type":"Initialized"}': {},
                'k:{"type":"Ready"}': {},
              },
              "f:containerStatuses": {},
              "f:hostIP": {},
              "f:phase": {},
              "f:podIP": {},
              "f:podIPs": {},
              "f:startTime": {},
            },
          },
        },
      ],
    },
    spec: {
      volumes: [
        {
          name: "kube-api-access-abcde",
          projected: {
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: "token" } },
              {
                configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] },
              },
            ],
            defaultMode: 420,
          },
        },
      ],
      containers: [
        {
          name: "app",
          image: "registry.example/shop/checkout:1.2.3",
          ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
          env: Array.from({ length: 12 }, (_, k) => ({
            name: `SETTING_${k}`,
            value: `value-${k}-${"x".repeat(20)}`,
          })),
          resources: {
            limits: { cpu: "1", memory: "512Mi" },
            requests: { cpu: "250m", memory: "256Mi" },
          },
          livenessProbe: {
            httpGet: { path: "/healthz", port: 8080, scheme: "HTTP" },
            periodSeconds: 10,
            timeoutSeconds: 1,
            successThreshold: 1,
            failureThreshold: 3,
          },
          readinessProbe: {
            httpGet: { path: "/readyz", port: 8080, scheme: "HTTP" },
            periodSeconds: 5,
            timeoutSeconds: 1,
            successThreshold: 1,
            failureThreshold: 3,
          },
          volumeMounts: [
            {
              name: "kube-api-access-abcde",
              readOnly: true,
              mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
            },
          ],
          terminationMessagePath: "/dev/termination-log",
          terminationMessagePolicy: "File",
          imagePullPolicy: "IfNotPresent",
        },
      ],
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 30,
      dnsPolicy: "ClusterFirst",
      serviceAccountName: "default",
      serviceAccount: "default",
      nodeName: `node-${i % 100}`,
      securityContext: {},
      schedulerName: "default-scheduler",
      tolerations: [
        {
          key: "node.kubernetes.io/not-ready",
          operator: "Exists",
          effect: "NoExecute",
          tolerationSeconds: 300,
        },
        {
          key: "node.kubernetes.io/unreachable",
          operator: "Exists",
          effect: "NoExecute",
          tolerationSeconds: 300,
        },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: "PreemptLowerPriority",
    },
    status: {
      phase: "Running",
      conditions: [
        {
          type: "Initialized",
          status: "True",
          lastProbeTime: null,
          lastTransitionTime: "2026-11-22T10:00:00Z",
        },
        {
          type: "Ready",
          status: options.crashed ? "False" : "True",
          lastProbeTime: null,
          lastTransitionTime: "2026-11-22T10:00:05Z",
        },
        {
          type: "ContainersReady",
          status: options.crashed ? "False" : "True",
          lastProbeTime: null,
          lastTransitionTime: "2026-11-22T10:00:05Z",
        },
        {
          type: "PodScheduled",
          status: "True",
          lastProbeTime: null,
          lastTransitionTime: "2026-11-22T10:00:00Z",
        },
      ],
      hostIP: "10.0.0.1",
      podIP: `10.1.${(i >> 8) & 255}.${i & 255}`,
      podIPs: [{ ip: `10.1.${(i >> 8) & 255}.${i & 255}` }],
      startTime: "2026-11-22T10:00:00Z",
      containerStatuses: [
        {
          name: "app",
          state: options.crashed
            ? {
                waiting: {
                  reason: "CrashLoopBackOff",
                  message: "back-off 10s restarting failed container=app",
                },
              }
            : { running: { startedAt: "2026-11-22T10:00:04Z" } },
          lastState: options.crashed
            ? {
                terminated: {
                  exitCode: 1,
                  reason: "Error",
                  startedAt: "2026-11-22T10:00:04Z",
                  finishedAt: new Date(
                    Date.parse("2026-11-22T10:00:10Z") + restartCount * 1000,
                  ).toISOString(),
                  containerID: "containerd://abc",
                },
              }
            : {},
          ready: !options.crashed,
          restartCount,
          image: "registry.example/shop/checkout:1.2.3",
          imageID:
            "registry.example/shop/checkout@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
          containerID: "containerd://0123456789abcdef",
          started: !options.crashed,
        },
      ],
      qosClass: "Burstable",
    },
  };
}
