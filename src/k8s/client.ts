import { KubeConfig } from "@kubernetes/client-node";

export type KubeConnectionSettings = {
  kubeconfigPath?: string | undefined;
  context?: string | undefined;
};

/** A kubeconfig file when given, else the default chain: KUBECONFIG, ~/.kube/config, in-cluster. */
export function loadKubeConfig(settings: KubeConnectionSettings = {}): KubeConfig {
  const kc = new KubeConfig();
  if (settings.kubeconfigPath) kc.loadFromFile(settings.kubeconfigPath);
  else kc.loadFromDefault();
  if (settings.context) kc.setCurrentContext(settings.context);
  return kc;
}
