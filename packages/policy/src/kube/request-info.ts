/**
 * Kubernetes request attributes: the reading of a request that the API server's own
 * authorizer makes (its RequestInfoFactory), so a rule sees the verb, resource, namespace
 * and name that RBAC will see. Paths the server could read another way (encoded slashes,
 * dot segments, empty segments, case tricks) are refused instead of guessed at.
 */

export interface KubeRequestInfo {
  /** False for discovery, `/version`, `/healthz`, `/openapi/…` and other non-resource paths. */
  isResourceRequest: boolean;
  /** get, list, watch, create, update, patch, delete, deletecollection, proxy; a non-resource request's lower-cased method. */
  verb: string;
  /** `api` or `apis`; `""` for non-resource requests. */
  apiPrefix: string;
  /** `""` for the core group. */
  apiGroup: string;
  apiVersion: string;
  /** `""` for cluster-scoped requests and for lists across all namespaces. */
  namespace: string;
  resource: string;
  subresource: string;
  /** `""` when the request names no object (list, watch, create, deletecollection). */
  name: string;
  /** The decoded path, as the API server reads it; the agent forwards this path. */
  path: string;
  /** The path parts after the namespace: resource, name, subresource, then anything a proxy passes on. */
  parts: string[];
  /** The first `labelSelector` and `fieldSelector` of a list, watch or deletecollection. */
  labelSelector?: string;
  fieldSelector?: string;
}

export type KubeRefusal =
  | "bad_method"
  | "path_too_long"
  | "query_too_long"
  | "not_a_path"
  | "bad_escape"
  | "encoded_separator"
  | "control_character"
  | "bad_character"
  | "empty_segment"
  | "dot_segment"
  | "upper_case"
  | "unclassifiable"
  | "too_many_params"
  | "bad_query"
  | "repeated_param";

export interface KubeRefused {
  ok: false;
  reason: KubeRefusal;
  message: string;
}

export type KubeRequestResult = ({ ok: true } & KubeRequestInfo) | KubeRefused;

export const MAX_KUBE_PATH_LENGTH = 4 * 1024;
export const MAX_KUBE_QUERY_LENGTH = 64 * 1024;
export const MAX_KUBE_QUERY_PARAMS = 500;

const METHOD_VERBS: Record<string, string> = {
  GET: "get",
  HEAD: "get",
  POST: "create",
  PUT: "update",
  PATCH: "patch",
  DELETE: "delete",
};
/** Subresources that open a stream into a container: a GET (WebSocket upgrade) runs them too. */
const CONNECT_SUBRESOURCES = new Set(["exec", "attach", "portforward"]);
const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);
/** Characters a decoded segment may hold: unreserved, sub-delims, `:` and `@` (RFC 3986 pchar). */
const SEGMENT = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]+$/;
/** Query parameters whose repetition the server reads as "the first one" and a rule might read otherwise. */
const SINGLE_PARAMS = ["watch", "fieldSelector", "labelSelector"];

function refuse(reason: KubeRefusal, message: string): KubeRefused {
  return { ok: false, reason, message };
}

export interface KubeRequestInput {
  method: string;
  /** The raw path of the request target, without the query. */
  path: string;
  /** The raw query, without the `?` (`""` or left out when there is none). */
  query?: string;
}

/** Classifies a request to the Kubernetes API, or says why it cannot be classified safely. */
export function kubeRequestInfo(input: KubeRequestInput): KubeRequestResult {
  const { method } = input;
  if (!/^[A-Z]{1,20}$/.test(method)) return refuse("bad_method", "the request method is not a valid method");
  if (input.path.length > MAX_KUBE_PATH_LENGTH) {
    return refuse("path_too_long", `Kubernetes paths longer than ${MAX_KUBE_PATH_LENGTH} bytes are refused`);
  }
  const rawQuery = input.query ?? "";
  if (rawQuery.length > MAX_KUBE_QUERY_LENGTH) {
    return refuse("query_too_long", `queries longer than ${MAX_KUBE_QUERY_LENGTH} bytes are refused`);
  }
  const segments = decodeSegments(input.path);
  if (!Array.isArray(segments)) return segments;
  const query = parseKubeQuery(rawQuery);
  if (!(query instanceof Map)) return query;
  const path = `/${segments.join("/")}`;
  const nonResource: KubeRequestInfo = {
    isResourceRequest: false,
    verb: method.toLowerCase(),
    apiPrefix: "",
    apiGroup: "",
    apiVersion: "",
    namespace: "",
    resource: "",
    subresource: "",
    name: "",
    path,
    parts: [],
  };
  const prefix = segments[0]?.toLowerCase();
  if (prefix !== "api" && prefix !== "apis") return { ok: true, ...nonResource };
  if (segments[0] !== prefix) {
    return refuse("upper_case", "the API prefix must be lower-case (/api or /apis)");
  }
  const grouped = prefix === "apis";
  if (segments.length < (grouped ? 4 : 3)) return { ok: true, ...nonResource };
  return classifyResource(method, segments, query, path);
}

function classifyResource(
  method: string,
  segments: string[],
  query: Map<string, string[]>,
  path: string,
): KubeRequestResult {
  const grouped = segments[0] === "apis";
  let parts = segments.slice(grouped ? 3 : 2);
  const apiGroup = grouped ? (segments[1] as string) : "";
  const apiVersion = segments[grouped ? 2 : 1] as string;
  let verb = METHOD_VERBS[method];
  if (verb === undefined) {
    return refuse("bad_method", `the Kubernetes API has no ${method} on resources`);
  }
  let viaPrefix = false;
  if (parts[0] === "watch" || parts[0] === "proxy") {
    if (parts.length < 2) return refuse("unclassifiable", `the path ends at /${parts[0]}: nothing to act on`);
    verb = parts[0];
    parts = parts.slice(1);
    viaPrefix = true;
  }
  let namespace = "";
  if (parts[0] === "namespaces" && parts.length > 1) {
    namespace = parts[1] as string;
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] as string)) parts = parts.slice(2);
  }
  const resource = parts[0] ?? "";
  const name = parts[1] ?? "";
  const subresource = parts.length >= 3 && verb !== "proxy" ? (parts[2] as string) : "";
  const structural = [apiGroup, apiVersion, namespace, resource, subresource];
  if (structural.some((s) => s !== s.toLowerCase())) {
    return refuse("upper_case", "API groups, versions, namespaces and resources are lower-case");
  }
  const info: KubeRequestInfo = {
    isResourceRequest: true,
    verb,
    apiPrefix: segments[0] as string,
    apiGroup,
    apiVersion,
    namespace,
    resource,
    subresource,
    name,
    path,
    parts,
  };
  if (!viaPrefix && name === "" && verb === "get") {
    info.verb = isTrue(query.get("watch")) ? "watch" : "list";
    const named = exactName(query.get("fieldSelector")?.[0]);
    if (named !== undefined) info.name = named;
  }
  if (info.name === "" && info.verb === "delete") info.verb = "deletecollection";
  // A WebSocket exec, attach or port-forward is a GET that runs the command all the same.
  if (CONNECT_SUBRESOURCES.has(subresource) && (verb === "get" || verb === "create")) info.verb = "create";
  if (!viaPrefix && ["list", "watch", "deletecollection"].includes(info.verb)) {
    const label = query.get("labelSelector")?.[0];
    const field = query.get("fieldSelector")?.[0];
    if (label !== undefined) info.labelSelector = label;
    if (field !== undefined) info.fieldSelector = field;
  }
  return { ok: true, ...info };
}

/** Query booleans as the API server converts them: present and not `0` or `false` (any case). */
export function isTrue(values: readonly string[] | undefined): boolean {
  const first = values?.[0];
  return first !== undefined && first !== "0" && first.toLowerCase() !== "false";
}

/**
 * The name a field selector pins, as the server's `RequiresExactMatch("metadata.name")`:
 * one `metadata.name=x` (or `==`) term among the comma-separated terms, `\` escapes read.
 */
function exactName(selector: string | undefined): string | undefined {
  if (selector === undefined) return undefined;
  const terms: string[] = [];
  let term = "";
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i] as string;
    if (c === "\\") {
      term += selector.slice(i, i + 2);
      i++;
    } else if (c === ",") {
      terms.push(term);
      term = "";
    } else term += c;
  }
  terms.push(term);
  for (const t of terms) {
    const m = /^metadata\.name==?(.*)$/.exec(t);
    if (!m || m[1]?.startsWith("=")) continue;
    const value = (m[1] as string).replace(/\\(.)/g, "$1");
    if (value === "" || value === "." || value === ".." || /[/%]/.test(value)) return undefined;
    return value;
  }
  return undefined;
}

/** Splits and decodes the path as Go's `URL.Path` does, refusing whatever could be read two ways. */
function decodeSegments(raw: string): string[] | KubeRefused {
  if (!raw.startsWith("/")) return refuse("not_a_path", "the request path must start with /");
  if (raw === "/") return [];
  const out: string[] = [];
  for (const part of raw.slice(1).split("/")) {
    if (part === "")
      return refuse("empty_segment", "the request path has an empty segment (// or a trailing /)");
    let seg = "";
    for (let i = 0; i < part.length; i++) {
      const ch = part[i] as string;
      if (ch !== "%") {
        seg += ch;
        continue;
      }
      const hex = part.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex))
        return refuse("bad_escape", "the request path has a malformed %-escape");
      const b = Number.parseInt(hex, 16);
      if (b === 0x2f || b === 0x5c) return refuse("encoded_separator", "the request path encodes a / or \\");
      if (b < 0x20 || b === 0x7f)
        return refuse("control_character", "the request path encodes a control character");
      if (b === 0x25) return refuse("bad_escape", "the request path is percent-encoded twice");
      seg += String.fromCharCode(b);
      i += 2;
    }
    if (hasControl(seg, true)) {
      return refuse("control_character", "the request path contains a space or control character");
    }
    if (!SEGMENT.test(seg))
      return refuse("bad_character", "the request path contains a character Sluice does not forward");
    if (seg === "." || seg === "..") return refuse("dot_segment", "the request path has a . or .. segment");
    out.push(seg);
  }
  return out;
}

/** Parses a query as Go's `url.ParseQuery`, refusing the pairs Go would silently drop. */
export function parseKubeQuery(raw: string): Map<string, string[]> | KubeRefused {
  const out = new Map<string, string[]>();
  if (raw === "") return out;
  let count = 0;
  for (const piece of raw.split("&")) {
    if (piece === "") continue;
    if (++count > MAX_KUBE_QUERY_PARAMS) {
      return refuse(
        "too_many_params",
        `queries with more than ${MAX_KUBE_QUERY_PARAMS} parameters are refused`,
      );
    }
    if (piece.includes(";"))
      return refuse("bad_query", "the query contains a ; (the API server drops such pairs)");
    const eq = piece.indexOf("=");
    const name = decodeComponent(eq < 0 ? piece : piece.slice(0, eq));
    const value = eq < 0 ? "" : decodeComponent(piece.slice(eq + 1));
    if (name === undefined || value === undefined)
      return refuse("bad_query", "the query has a malformed %-escape");
    if (name.includes("\0") || value.includes("\0"))
      return refuse("bad_query", "the query contains a NUL character");
    const values = out.get(name) ?? [];
    if (values.length > 0 && SINGLE_PARAMS.includes(name)) {
      return refuse("repeated_param", `the query repeats ${name}`);
    }
    values.push(value);
    out.set(name, values);
  }
  return out;
}

/** Whether `s` holds a control character (or, with `space`, a space). */
function hasControl(s: string, space: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || (space && c === 0x20)) return true;
  }
  return false;
}

function decodeComponent(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return undefined;
  }
}
