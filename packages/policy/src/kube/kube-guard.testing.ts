import { testPolicy } from "../policy.testing";
import { type ExecCommand, execCommand } from "./exec-command";
import type { KubeVerdict } from "./kube-guard";
import { type KubeRequestInfo, kubeRequestInfo } from "./request-info";

/**
 * Factories for kube policy tests: documents go through the same schemas the control plane
 * and the agent parse them with, and requests through `kubeRequestInfo`, as the proxy does.
 */

/** A policy document for Kubernetes rule tests. */
export const kubePolicy = testPolicy;

/** A request as kubectl sends it, e.g. `kube("DELETE", "/api/v1/namespaces/prod")`. */
export function kube(method: string, target: string): KubeRequestInfo {
  const q = target.indexOf("?");
  const r = kubeRequestInfo({
    method,
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? "" : target.slice(q + 1),
  });
  if (!r.ok) throw new Error(`test request ${method} ${target} is refused: ${r.message}`);
  return r;
}

/** An exec request and its command, e.g. `exec("prod", "web", ["sh", "-c", "ls"], { stdin: true })`. */
export function exec(
  namespace: string,
  pod: string,
  argv: string[],
  flags: { stdin?: boolean; tty?: boolean } = {},
): { info: KubeRequestInfo; command: ExecCommand } {
  const query = [
    ...argv.map((a) => `command=${encodeURIComponent(a)}`),
    ...(flags.stdin ? ["stdin=true"] : []),
    ...(flags.tty ? ["tty=true"] : []),
    "stdout=true",
  ].join("&");
  return {
    info: kube("POST", `/api/v1/namespaces/${namespace}/pods/${pod}/exec?${query}`),
    command: execCommand(query),
  };
}

/** What a client notices: allowed, or which rule denied or held it. */
export function outcome(v: KubeVerdict): string {
  return v.action === "allow" ? "allow" : `${v.action}:${v.rule}`;
}
