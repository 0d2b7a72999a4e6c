/** A kubeconfig for tests that point kubectl at a (fake or real) API server directly. */
import { writeFileSync } from "node:fs";
import { stringify } from "yaml";

export interface KubeconfigOptions {
  server: string;
  /** The CA that signed the server certificate, as PEM; or give its file in caFile. */
  caPem?: string;
  caFile?: string;
  token?: string;
  clientCertFile?: string;
  clientKeyFile?: string;
  /** Context, cluster and user name (default "fake"). */
  context?: string;
  namespace?: string;
}

export function writeKubeconfig(path: string, opts: KubeconfigOptions): void {
  const name = opts.context ?? "fake";
  const cluster: Record<string, string> = { server: opts.server };
  if (opts.caPem) cluster["certificate-authority-data"] = Buffer.from(opts.caPem).toString("base64");
  else if (opts.caFile) cluster["certificate-authority"] = opts.caFile;
  const user: Record<string, string> = {};
  if (opts.token) user.token = opts.token;
  if (opts.clientCertFile) user["client-certificate"] = opts.clientCertFile;
  if (opts.clientKeyFile) user["client-key"] = opts.clientKeyFile;
  const context: Record<string, string> = { cluster: name, user: name };
  if (opts.namespace) context.namespace = opts.namespace;
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster }],
    users: [{ name, user }],
    contexts: [{ name, context }],
    "current-context": name,
    preferences: {},
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
}
