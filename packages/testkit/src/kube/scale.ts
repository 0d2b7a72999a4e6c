/**
 * The deployments/scale subresource (autoscaling/v1 Scale), which `kubectl scale` reads and
 * patches; changing it changes the deployment's spec.replicas.
 */
import { applyDefaults } from "./defaults";
import { applyJsonPatch, applyMergePatch } from "./patch";
import type { Reply, ResourceRequest } from "./rest";
import { badRequest, conflict, methodNotAllowed } from "./status";
import type { KubeObject, Store } from "./store";

type Json = Record<string, unknown>;

function selectorText(deployment: KubeObject): string {
  const selector = ((deployment.spec as Json | undefined)?.selector ?? {}) as Json;
  const labels = (selector.matchLabels ?? {}) as Record<string, string>;
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

function toScale(d: KubeObject): Json {
  const { name, namespace, uid, resourceVersion, creationTimestamp } = d.metadata;
  return {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: { name, namespace, uid, resourceVersion, creationTimestamp },
    spec: { replicas: Number((d.spec as Json | undefined)?.replicas ?? 0) },
    status: { replicas: Number((d.status as Json | undefined)?.replicas ?? 0), selector: selectorText(d) },
  };
}

export function serveScale(store: Store, req: ResourceRequest): Reply {
  const current = store.get(req.def, req.namespace, req.name);
  if (req.verb === "get") return { code: 200, body: toScale(current) };
  if (req.verb !== "update" && req.verb !== "patch") throw methodNotAllowed();
  const body = JSON.parse(req.body.toString("utf8") || "{}") as unknown;
  let wanted: Json;
  if (req.verb === "update") wanted = body as Json;
  else {
    const type = String(req.headers["content-type"] ?? "")
      .split(";")[0]
      ?.trim();
    const scale = toScale(current);
    wanted = (
      type === "application/json-patch+json" ? applyJsonPatch(scale, body) : applyMergePatch(scale, body)
    ) as Json;
  }
  const replicas = (wanted.spec as Json | undefined)?.replicas;
  if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0) {
    throw badRequest("Scale.autoscaling is invalid: spec.replicas: must be a non-negative integer");
  }
  const rv = (wanted.metadata as Json | undefined)?.resourceVersion;
  if (req.verb === "update" && rv && rv !== current.metadata.resourceVersion) {
    throw conflict(req.def.resource, req.def.group, req.name);
  }
  const next = structuredClone(current);
  next.spec = { ...(next.spec as Json), replicas };
  applyDefaults(req.def, next, current);
  return { code: 200, body: toScale(store.update(req.def, next)) };
}
