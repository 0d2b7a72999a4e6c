/**
 * Discovery documents: the legacy per-group documents, plus aggregated discovery (apidiscovery.k8s.io
 * v2 and v2beta1) when the client asks for it, so kubectl of every supported age finds our resources.
 */
import { groupVersion, type ResourceDef, servedGroupVersions, verbsOf } from "./resources";

export const SERVER_VERSION = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.4",
  gitCommit: "59526cd4867447956156ae3a602fcbac10a2c335",
  gitTreeState: "clean",
  buildDate: "2025-04-22T16:03:10Z",
  goVersion: "go1.23.8",
  compiler: "gc",
  platform: "linux/amd64",
};

export interface JsonReply {
  body: unknown;
  contentType?: string;
}

function legacyResources(defs: ResourceDef[]) {
  const out: Record<string, unknown>[] = [];
  for (const d of defs) {
    const entry: Record<string, unknown> = {
      name: d.resource,
      singularName: d.singular,
      namespaced: d.namespaced,
      kind: d.kind,
      verbs: verbsOf(d),
    };
    if (d.shortNames.length) entry.shortNames = d.shortNames;
    if (d.categories.length) entry.categories = d.categories;
    out.push(entry);
    for (const s of d.subresources) {
      out.push({
        name: `${d.resource}/${s.name}`,
        singularName: "",
        namespaced: d.namespaced,
        kind: s.kind,
        verbs: s.verbs,
      });
    }
  }
  return out;
}

function aggregatedResources(defs: ResourceDef[]) {
  return defs.map((d) => {
    const entry: Record<string, unknown> = {
      resource: d.resource,
      responseKind: { group: d.group, version: d.version, kind: d.kind },
      scope: d.namespaced ? "Namespaced" : "Cluster",
      singularResource: d.singular,
      verbs: verbsOf(d),
    };
    if (d.shortNames.length) entry.shortNames = d.shortNames;
    if (d.categories.length) entry.categories = d.categories;
    if (d.subresources.length) {
      entry.subresources = d.subresources.map((s) => ({
        subresource: s.name,
        responseKind: { group: "", version: "v1", kind: s.kind },
        verbs: s.verbs,
      }));
    }
    return entry;
  });
}

/** Which aggregated discovery version the Accept header allows, if any (newest first, as the server). */
function aggregatedVersion(accept: string): "v2" | "v2beta1" | undefined {
  const kinds = accept.split(",").map((part) => part.replace(/\s+/g, ""));
  const wants = (v: string) =>
    kinds.some(
      (k) =>
        k.includes("g=apidiscovery.k8s.io") &&
        k.includes(`v=${v};`) &&
        k.includes("as=APIGroupDiscoveryList"),
    );
  if (wants("v2")) return "v2";
  if (wants("v2beta1")) return "v2beta1";
  return undefined;
}

function aggregatedList(version: "v2" | "v2beta1", core: boolean): JsonReply {
  const items = servedGroupVersions()
    .filter((gv) => (gv.group === "") === core)
    .map((gv) => ({
      metadata: core ? { creationTimestamp: null } : { name: gv.group, creationTimestamp: null },
      versions: [{ version: gv.version, resources: aggregatedResources(gv.defs), freshness: "Current" }],
    }));
  return {
    body: {
      kind: "APIGroupDiscoveryList",
      apiVersion: `apidiscovery.k8s.io/${version}`,
      metadata: {},
      items,
    },
    contentType: `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`,
  };
}

function apiGroup(group: string) {
  const versions = servedGroupVersions()
    .filter((gv) => gv.group === group)
    .map((gv) => ({ groupVersion: groupVersion(gv), version: gv.version }));
  return { name: group, versions, preferredVersion: versions[0] };
}

/** Answers a discovery path, or undefined when the path is not a discovery document. */
export function discoveryReply(path: string, accept: string, serverAddress: string): JsonReply | undefined {
  const aggregated = aggregatedVersion(accept);
  if (path === "/version") return { body: SERVER_VERSION };
  if (path === "/api") {
    if (aggregated) return aggregatedList(aggregated, true);
    return {
      body: {
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
      },
    };
  }
  if (path === "/apis") {
    if (aggregated) return aggregatedList(aggregated, false);
    const groups = [...new Set(servedGroupVersions().map((gv) => gv.group))].filter(Boolean).map(apiGroup);
    return { body: { kind: "APIGroupList", apiVersion: "v1", groups } };
  }
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "api" && parts.length === 2) {
    const gv = servedGroupVersions().find((g) => g.group === "" && g.version === parts[1]);
    if (!gv) return undefined;
    return {
      body: { kind: "APIResourceList", groupVersion: gv.version, resources: legacyResources(gv.defs) },
    };
  }
  if (parts[0] === "apis" && parts.length === 2) {
    const group = parts[1] ?? "";
    if (!servedGroupVersions().some((g) => g.group === group)) return undefined;
    return { body: { kind: "APIGroup", apiVersion: "v1", ...apiGroup(group) } };
  }
  if (parts[0] === "apis" && parts.length === 3) {
    const gv = servedGroupVersions().find((g) => g.group === parts[1] && g.version === parts[2]);
    if (!gv) return undefined;
    return {
      body: {
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion: groupVersion(gv),
        resources: legacyResources(gv.defs),
      },
    };
  }
  return undefined;
}
