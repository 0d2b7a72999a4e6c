import { type JsonPath, parseJsonPath, selectJson } from "../json/json-path";
import type { BodyCondition, HttpMatch } from "../rules";

/**
 * One HTTP rule's conditions, compiled. A request can often be read more than one way
 * (a method override header, an escaped path, a repeated parameter, a body that could not
 * be read), so each condition is judged under a mode: a blocking rule (deny, review)
 * matches when ANY reading satisfies it or the fact cannot be proven; an allow rule
 * matches only when EVERY reading satisfies it and every fact is proven.
 */

export type MatchMode = "block" | "allow";

/** A request's head as the HTTP rules read it; `path` and `params` come from `normalizeTarget`. */
export interface HttpRequestHead {
  method: string;
  path: string;
  params: readonly (readonly [string, string])[];
  /** Lowercase names, as node's `IncomingMessage.headers` gives them. */
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** A JSON body as parsed by the caller, or why it could not be (absent, too large, not JSON). */
export type HttpBody = { json: unknown } | { unreadable: string };

/** The readings of one request that every rule is judged on, built once per request. */
export interface RequestView {
  methods: string[];
  paths: string[];
  pathsLoose: string[];
  query: Map<string, string[]>;
  headers: Map<string, string[]>;
  headerParts: Map<string, string[]>;
}

export interface CompiledMatch {
  readonly hasBody: boolean;
  head(view: RequestView, mode: MatchMode): boolean;
  body(body: HttpBody | undefined, mode: MatchMode): boolean;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const METHOD_OVERRIDES = ["x-http-method-override", "x-http-method", "x-method-override"];

function holds<T>(mode: MatchMode, values: readonly T[], pred: (v: T) => boolean): boolean {
  return mode === "block" ? values.some(pred) : values.length > 0 && values.every(pred);
}

function distinct(values: string[]): string[] {
  return [...new Set(values)];
}

function decodeOr(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/** The readings of a request: its method and any override, its path escaped and decoded. */
export function viewOf(head: HttpRequestHead): RequestView {
  const headers = new Map<string, string[]>();
  const headerParts = new Map<string, string[]>();
  for (const [name, raw] of Object.entries(head.headers)) {
    if (raw === undefined) continue;
    const values = typeof raw === "string" ? [raw] : [...raw];
    const key = name.toLowerCase();
    headers.set(key, [...(headers.get(key) ?? []), ...values]);
    const parts = values.flatMap((v) => [v, ...v.split(",").map((p) => p.trim())]);
    headerParts.set(key, distinct([...(headerParts.get(key) ?? []), ...parts]));
  }
  const query = new Map<string, string[]>();
  for (const [name, value] of head.params) {
    const key = name.toLowerCase();
    query.set(key, [...(query.get(key) ?? []), value]);
  }
  const overrides = [
    ...METHOD_OVERRIDES.flatMap((h) => headers.get(h) ?? []),
    ...(query.get("_method") ?? []),
  ];
  const methods = distinct([head.method, ...overrides].map((m) => m.trim().toUpperCase()));
  const paths = distinct([head.path, decodeOr(head.path)]);
  const unslashed = paths.map((p) => (p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p));
  return { methods, paths, pathsLoose: distinct([...paths, ...unslashed]), query, headers, headerParts };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `*` is one segment (or part of one), `**` any number of segments; a trailing slash is ignored. */
export function compileGlob(glob: string): RegExp {
  const segments = glob.split("/").filter((s) => s !== "");
  let re = "";
  for (const s of segments) {
    if (s === "**") re += "(?:/[^/]+)*";
    else if (s === "*") re += "/[^/]+";
    else re += `/${s.split("*").map(escapeRegex).join("[^/]*")}`;
  }
  return new RegExp(`^${re}/?$`, "i");
}

type FieldCondition = NonNullable<HttpMatch["query"]>[number];

function compileField(c: FieldCondition, source: "query" | "header") {
  const name = c.name.toLowerCase();
  const present = c.present ?? (c.equals === undefined && c.pattern === undefined ? true : undefined);
  const pattern = c.pattern ? new RegExp(c.pattern, "i") : undefined;
  return (view: RequestView, mode: MatchMode): boolean => {
    const map = source === "query" ? view.query : mode === "block" ? view.headerParts : view.headers;
    const values = map.get(name) ?? [];
    if (present !== undefined && present !== values.length > 0) return false;
    if (c.equals !== undefined && !holds(mode, values, (v) => v === c.equals)) return false;
    if (pattern && !holds(mode, values, (v) => pattern.test(v))) return false;
    return true;
  };
}

type Tri = boolean | "unknown";
type Scalar = string | number | boolean | null;

function isScalar(v: unknown): v is Scalar {
  return v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean";
}

function compare(op: "lt" | "le" | "gt" | "ge", v: unknown, limit: unknown): Tri {
  if (typeof v !== "number" || typeof limit !== "number") return "unknown";
  if (op === "lt") return v < limit;
  if (op === "le") return v <= limit;
  if (op === "gt") return v > limit;
  return v >= limit;
}

function compileRegex(value: unknown): RegExp | undefined {
  if (typeof value !== "string") return undefined;
  try {
    return new RegExp(value, "i");
  } catch {
    return undefined;
  }
}

function compileBody(c: BodyCondition) {
  const path: JsonPath = parseJsonPath(c.path);
  const re = c.op === "matches" ? compileRegex(c.value) : undefined;
  const test = (v: unknown): Tri => {
    switch (c.op) {
      case "eq":
        return isScalar(v) ? v === c.value : "unknown";
      case "ne":
        return isScalar(v) ? v !== c.value : "unknown";
      case "in":
        if (!Array.isArray(c.value) || !isScalar(v)) return "unknown";
        return (c.value as Scalar[]).includes(v);
      case "matches":
        return re && typeof v === "string" ? re.test(v) : "unknown";
      default:
        return compare(c.op as "lt" | "le" | "gt" | "ge", v, c.value);
    }
  };
  return (doc: unknown, mode: MatchMode): boolean => {
    const values = selectJson(path, doc).filter((v) => v !== undefined);
    if (c.op === "exists") return values.length > 0;
    if (c.op === "absent") return values.length === 0;
    const verdicts = values.map(test);
    return mode === "block"
      ? verdicts.some((t) => t !== false)
      : verdicts.length > 0 && verdicts.every((t) => t === true);
  };
}

/** Compiles a rule's `http` match; `readOnly` adds "any method but GET, HEAD and OPTIONS". */
export function compileMatch(m: HttpMatch, readOnly: boolean): CompiledMatch {
  const methods = m.methods?.length ? new Set(m.methods) : undefined;
  const globs = m.paths?.length ? m.paths.map(compileGlob) : undefined;
  const pathPattern = m.pathPattern ? new RegExp(m.pathPattern, "i") : undefined;
  const fields = [
    ...(m.query ?? []).map((c) => compileField(c, "query")),
    ...(m.headers ?? []).map((c) => compileField(c, "header")),
  ];
  const bodies = (m.body ?? []).map(compileBody);
  return {
    hasBody: bodies.length > 0,
    head(view, mode) {
      if (methods && !holds(mode, view.methods, (x) => methods.has(x))) return false;
      if (readOnly && !holds(mode, view.methods, (x) => !SAFE_METHODS.has(x))) return false;
      if (globs && !holds(mode, view.paths, (p) => globs.some((g) => g.test(p)))) return false;
      if (pathPattern && !holds(mode, view.pathsLoose, (p) => pathPattern.test(p))) return false;
      return fields.every((f) => f(view, mode));
    },
    body(body, mode) {
      if (bodies.length === 0) return true;
      // Conditions on a body that is absent or unreadable cannot be proven either way.
      if (body === undefined || !("json" in body)) return mode === "block";
      return bodies.every((b) => b(body.json, mode));
    },
  };
}
