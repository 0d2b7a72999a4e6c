/** Self reviews: `kubectl auth can-i` (SelfSubjectAccessReview) and `kubectl auth whoami` (SelfSubjectReview). */
import type { Identity } from "./auth";
import { badRequest } from "./status";

export interface AuthorizationAttributes {
  user: string;
  groups: string[];
  verb: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** Set for non-resource URLs (`kubectl auth can-i get /healthz`); resource fields are then empty. */
  path?: string;
}

export type Authorizer = (attrs: AuthorizationAttributes) => boolean;

type Json = Record<string, unknown>;

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

export function selfSubjectAccessReview(body: unknown, who: Identity, authorize: Authorizer): Json {
  const review = (body ?? {}) as Json;
  const spec = (review.spec ?? {}) as Json;
  const ra = spec.resourceAttributes as Json | undefined;
  const na = spec.nonResourceAttributes as Json | undefined;
  if (!ra && !na) {
    throw badRequest(
      "SelfSubjectAccessReview.authorization.k8s.io is invalid: spec.resourceAttributes: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
    );
  }
  const attrs: AuthorizationAttributes = {
    user: who.user,
    groups: who.groups,
    verb: String(ra?.verb ?? na?.verb ?? ""),
    apiGroup: String(ra?.group ?? ""),
    resource: String(ra?.resource ?? ""),
    subresource: String(ra?.subresource ?? ""),
    namespace: String(ra?.namespace ?? ""),
    name: String(ra?.name ?? ""),
  };
  if (na) attrs.path = String(na.path ?? "");
  const allowed = authorize(attrs);
  return {
    kind: "SelfSubjectAccessReview",
    apiVersion: "authorization.k8s.io/v1",
    metadata: { creationTimestamp: null },
    spec,
    status: allowed ? { allowed: true } : { allowed: false },
  };
}

export function selfSubjectReview(who: Identity): Json {
  const userInfo: Json = { username: who.user, groups: who.groups };
  if (who.uid) userInfo.uid = who.uid;
  if (Object.keys(who.extra).length) userInfo.extra = who.extra;
  return {
    kind: "SelfSubjectReview",
    apiVersion: "authentication.k8s.io/v1",
    metadata: { creationTimestamp: now() },
    status: { userInfo },
  };
}
