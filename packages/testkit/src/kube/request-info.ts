/**
 * What a URL asks for, decoded the way the API server's RequestInfoFactory does:
 * `/api/v1/namespaces/prod/pods/web/exec` → verb, group "", resource pods, subresource exec, …
 */

export interface RequestInfo {
  isResource: boolean;
  verb: string;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
}

/** Namespace subresources stay on the namespace instead of naming a resource inside it. */
const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

const METHOD_VERBS: Record<string, string> = {
  POST: "create",
  PUT: "update",
  PATCH: "patch",
  GET: "get",
  HEAD: "get",
  DELETE: "delete",
};

export function requestInfo(method: string, path: string, query: URLSearchParams): RequestInfo {
  const nonResource: RequestInfo = {
    isResource: false,
    verb: method.toLowerCase(),
    apiGroup: "",
    apiVersion: "",
    resource: "",
    subresource: "",
    namespace: "",
    name: "",
  };
  let parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  let apiGroup = "";
  if (parts[0] === "api") parts = parts.slice(1);
  else if (parts[0] === "apis" && parts.length >= 3) {
    apiGroup = parts[1] ?? "";
    parts = parts.slice(2);
  } else return nonResource;
  const apiVersion = parts.shift();
  if (!apiVersion || parts.length === 0) return nonResource;

  let verb = METHOD_VERBS[method] ?? method.toLowerCase();
  // Legacy `/watch/` paths are long deprecated and kubectl never sends them; they are not served.
  let namespace = "";
  if (parts[0] === "namespaces" && parts.length > 1) {
    namespace = parts[1] ?? "";
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? "")) parts = parts.slice(2);
  }
  // `namespaces/prod` names the namespace object; like the API server, its namespace is "prod" too.
  const [resource = "", name = "", subresource = ""] = parts;

  if (!name && verb === "get") verb = "list";
  if (!name && verb === "delete") verb = "deletecollection";
  if ((verb === "list" || verb === "get") && ["true", "1"].includes(query.get("watch") ?? "")) verb = "watch";
  return {
    isResource: true,
    verb,
    apiGroup,
    apiVersion,
    resource,
    subresource,
    namespace,
    name,
  };
}
