import { Transform, type TransformCallback } from "node:stream";
import {
  compileKubeGuard,
  type ExecCommand,
  emptyKubeTally,
  execCommand,
  type KubeGuard,
  type KubeRedactOptions,
  type KubeRedactTally,
  type KubeRequestInfo,
  KubeWatchRedactor,
  kubeRequestInfo,
  kubeStatement,
  MAX_KUBE_DOCUMENT,
  type NormalizedTarget,
  redactKubeJson,
} from "@sluice/policy";
import type { CompiledPolicy } from "../../core/policy-compiler";
import type { KubeSession } from "./kube-session";

export type KubeAttributes = KubeRequestInfo;
export type KubeGuardView = KubeGuard;

/** What a request is, for policy, recording and the reviewer. */
export interface KubeCall {
  attrs: KubeAttributes;
  /** The command of an exec or attach request. */
  command: ExecCommand | undefined;
  /** The one-line description a reviewer approves (`delete namespaces prod`). */
  statement: string;
}

/** Reads a request as the API server's authorizer will, or says why it cannot be read safely. */
export function callOf(method: string, target: NormalizedTarget): KubeCall | { refused: string } {
  const info = kubeRequestInfo({ method, path: target.path, query: target.query });
  if (!info.ok) return { refused: info.message };
  let command: ExecCommand | undefined;
  if (info.subresource === "exec" || info.subresource === "attach") {
    try {
      command = execCommand(target.query);
    } catch (err) {
      return { refused: (err as Error).message };
    }
  }
  return { attrs: info, command, statement: kubeStatement(info, command) };
}

const guards = new WeakMap<CompiledPolicy, KubeGuard>();
const NO_RULES = compileKubeGuard([]);

/**
 * The Kubernetes guard of a connection's policy, compiled once per policy version. A
 * connection without policies still gets one: client impersonation is refused by default.
 */
export function kubeGuardOf(policy: CompiledPolicy | undefined): KubeGuard {
  if (!policy) return NO_RULES;
  let g = guards.get(policy);
  if (!g) {
    g = compileKubeGuard(policy.documents);
    guards.set(policy, g);
  }
  return g;
}

/** Resources whose values pass the connection's content detectors (ConfigMap data, container env). */
const MASKED_RESOURCES = new Set([
  "configmaps",
  "pods",
  "deployments",
  "replicasets",
  "statefulsets",
  "daemonsets",
  "jobs",
  "cronjobs",
  "podtemplates",
  "replicationcontrollers",
]);

/** A response body the agent reads, redacts and counts before the client sees its end. */
export interface BodyReader {
  transform: Transform;
  tally(): KubeRedactTally;
  bytes(): number;
}

/**
 * Whether a response must be read (and how): Secret values are always redacted; objects
 * carrying ConfigMap data or container env go through the content detectors when the
 * connection masks; lists and watches are filtered when rules could hide items. Everything
 * else streams through untouched.
 */
export function redactionFor(
  s: KubeSession,
  guard: KubeGuard,
  attrs: KubeAttributes,
): { document(beforeEnd: (r: BodyReader) => void): BodyReader; watch(): BodyReader } | undefined {
  if (!attrs.isResourceRequest || attrs.subresource === "log") return undefined;
  const plan = s.ctx.policy?.masking;
  const masker = plan && !plan.empty && MASKED_RESOURCES.has(attrs.resource) ? plan.textMasker() : undefined;
  const filters = guard.active && (attrs.verb === "list" || attrs.verb === "watch");
  if (attrs.resource !== "secrets" && !masker?.detects && !filters) return undefined;
  const options: KubeRedactOptions = {
    resource: attrs.resource,
    ...(masker?.detects ? { mask: (v: string) => masker.mask(v) ?? v } : {}),
    ...(filters ? { keepItem: (item) => guard.allowsItem(attrs, item) } : {}),
  };
  return {
    document: (beforeEnd) => documentReader(options, beforeEnd),
    watch: () => {
      let bytes = 0;
      const redactor = new KubeWatchRedactor(options);
      // Counts what reaches the client (after redaction), as every other response does.
      redactor.on("data", (c: Buffer) => {
        bytes += c.length;
      });
      return { transform: redactor, tally: () => redactor.tally, bytes: () => bytes };
    },
  };
}

/** A whole response read (bounded), redacted, then written: recorded just before its bytes leave. */
function documentReader(options: KubeRedactOptions, beforeEnd: (r: BodyReader) => void): BodyReader {
  const parts: Buffer[] = [];
  let size = 0;
  let tally = emptyKubeTally();
  let out = 0;
  const reader: BodyReader = {
    transform: new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        size += chunk.length;
        if (size > MAX_KUBE_DOCUMENT)
          return cb(new Error(`responses larger than ${MAX_KUBE_DOCUMENT} bytes cannot be redacted`));
        parts.push(chunk);
        cb();
      },
      flush(cb: TransformCallback) {
        try {
          const redacted = redactKubeJson(Buffer.concat(parts, size), options);
          tally = redacted.tally;
          out = redacted.body.length;
          beforeEnd(reader);
          cb(null, redacted.body);
        } catch (err) {
          cb(err as Error);
        }
      },
    }),
    tally: () => tally,
    bytes: () => out,
  };
  return reader;
}
