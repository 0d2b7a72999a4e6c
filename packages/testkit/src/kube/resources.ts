/** The resource types the fake cluster serves, described once for discovery, routing and OpenAPI. */

export interface SubresourceDef {
  name: string;
  kind: string;
  verbs: string[];
}

export interface ResourceDef {
  group: string;
  version: string;
  /** Plural, as in URLs: `pods`. */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  subresources: SubresourceDef[];
}

const OBJECT_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

export const RESOURCES: ResourceDef[] = [
  {
    group: "",
    version: "v1",
    resource: "namespaces",
    singular: "namespace",
    kind: "Namespace",
    namespaced: false,
    shortNames: ["ns"],
    categories: [],
    subresources: [],
  },
  {
    group: "",
    version: "v1",
    resource: "pods",
    singular: "pod",
    kind: "Pod",
    namespaced: true,
    shortNames: ["po"],
    categories: ["all"],
    subresources: [
      { name: "attach", kind: "PodAttachOptions", verbs: ["create", "get"] },
      { name: "exec", kind: "PodExecOptions", verbs: ["create", "get"] },
      { name: "log", kind: "Pod", verbs: ["get"] },
      { name: "portforward", kind: "PodPortForwardOptions", verbs: ["create", "get"] },
      { name: "status", kind: "Pod", verbs: ["get", "patch", "update"] },
    ],
  },
  {
    group: "",
    version: "v1",
    resource: "secrets",
    singular: "secret",
    kind: "Secret",
    namespaced: true,
    shortNames: [],
    categories: [],
    subresources: [],
  },
  {
    group: "",
    version: "v1",
    resource: "configmaps",
    singular: "configmap",
    kind: "ConfigMap",
    namespaced: true,
    shortNames: ["cm"],
    categories: [],
    subresources: [],
  },
  {
    group: "apps",
    version: "v1",
    resource: "deployments",
    singular: "deployment",
    kind: "Deployment",
    namespaced: true,
    shortNames: ["deploy"],
    categories: ["all"],
    subresources: [
      { name: "scale", kind: "Scale", verbs: ["get", "patch", "update"] },
      { name: "status", kind: "Deployment", verbs: ["get", "patch", "update"] },
    ],
  },
];

/** Review resources: create-only, never stored. */
export const REVIEW_RESOURCES: ResourceDef[] = [
  {
    group: "authorization.k8s.io",
    version: "v1",
    resource: "selfsubjectaccessreviews",
    singular: "selfsubjectaccessreview",
    kind: "SelfSubjectAccessReview",
    namespaced: false,
    shortNames: [],
    categories: [],
    subresources: [],
  },
  {
    group: "authentication.k8s.io",
    version: "v1",
    resource: "selfsubjectreviews",
    singular: "selfsubjectreview",
    kind: "SelfSubjectReview",
    namespaced: false,
    shortNames: [],
    categories: [],
    subresources: [],
  },
];

export function verbsOf(def: ResourceDef): string[] {
  return REVIEW_RESOURCES.includes(def) ? ["create"] : OBJECT_VERBS;
}

export function groupVersion(def: Pick<ResourceDef, "group" | "version">): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}

export function findResource(group: string, version: string, resource: string): ResourceDef | undefined {
  return [...RESOURCES, ...REVIEW_RESOURCES].find(
    (d) => d.group === group && d.version === version && d.resource === resource,
  );
}

/** Every served group/version, core first, in the order discovery lists them. */
export function servedGroupVersions(): { group: string; version: string; defs: ResourceDef[] }[] {
  const out: { group: string; version: string; defs: ResourceDef[] }[] = [];
  for (const def of [...RESOURCES, ...REVIEW_RESOURCES]) {
    let entry = out.find((e) => e.group === def.group && e.version === def.version);
    if (!entry) {
      entry = { group: def.group, version: def.version, defs: [] };
      out.push(entry);
    }
    entry.defs.push(def);
  }
  return out;
}
