import { compileGlob } from "../http/http-match";
import type { KubeImpersonate, KubeMatch } from "../rules";
import type { ExecCommand } from "./exec-command";
import type { KubeRequestInfo } from "./request-info";

/**
 * One Kubernetes rule's conditions, compiled. Some facts are not in the request: a list or
 * watch across namespaces, or without a name, covers items the response will show; a
 * create or deletecollection names no object. Such facts are judged by the rule's action:
 *  - allow: a list or watch matches (each item is then checked as a get, see `allowsItem`);
 *    any other request does not;
 *  - deny: a list or watch does not match (its items that the rule covers are hidden
 *    instead); any other request matches;
 *  - review: matches (a reviewer cannot approve items one by one).
 */

export type KubeMode = "allow" | "deny" | "review";

export interface KubeView {
  info: KubeRequestInfo;
  command?: ExecCommand;
}

export interface CompiledKubeMatch {
  readonly impersonate?: KubeImpersonate;
  readonly hasCommands: boolean;
  matches(view: KubeView, mode: KubeMode): boolean;
}

const READ_VERBS = new Set(["get", "list", "watch"]);
const SAFE_NON_RESOURCE = new Set(["get", "head", "options"]);

/** Discovery and OpenAPI reads kubectl makes before anything else; catch-all rules leave them be. */
export function isDiscoveryRead(info: KubeRequestInfo): boolean {
  if (info.isResourceRequest || (info.verb !== "get" && info.verb !== "head")) return false;
  const p = info.path;
  return (
    p === "/api" ||
    p === "/apis" ||
    p === "/version" ||
    /^\/api\/[^/]+$/.test(p) ||
    /^\/apis\/[^/]+(\/[^/]+)?$/.test(p) ||
    /^\/openapi\/v[23](\/.*)?$/.test(p)
  );
}

/** A request that only reads: get, list or watch, and not through a proxy (which passes any method on). */
export function isReadOnly(info: KubeRequestInfo): boolean {
  if (!info.isResourceRequest) return SAFE_NON_RESOURCE.has(info.verb);
  return READ_VERBS.has(info.verb) && info.subresource !== "proxy";
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `*` matches any run of characters; case-insensitive. */
export function compileNameGlob(glob: string): RegExp {
  return new RegExp(`^${glob.split("*").map(escapeRegex).join(".*")}$`, "i");
}

interface ResourcePattern {
  resource: string;
  /** `undefined`: the resource itself, no subresource. */
  sub?: string;
}

function parseResource(r: string): ResourcePattern {
  const slash = r.indexOf("/");
  return slash < 0 ? { resource: r } : { resource: r.slice(0, slash), sub: r.slice(slash + 1) };
}

function resourceMatches(p: ResourcePattern, info: KubeRequestInfo): boolean {
  if (p.resource === "*" && p.sub === undefined) return true;
  if (p.resource !== "*" && p.resource !== info.resource) return false;
  if (p.sub === undefined) return info.subresource === "";
  return p.sub === "*" ? info.subresource !== "" : p.sub === info.subresource;
}

function isCollection(info: KubeRequestInfo): boolean {
  return info.verb === "list" || info.verb === "watch";
}

/** Judges a fact the request does not carry, by the rule's action (see the top of this file). */
function unknown(info: KubeRequestInfo, mode: KubeMode): boolean {
  if (mode === "review") return true;
  return isCollection(info) === (mode === "allow");
}

function namespaceUnknown(info: KubeRequestInfo): boolean {
  if (info.namespace !== "") return false;
  return (
    isCollection(info) || (info.resource === "namespaces" && info.subresource === "" && info.name === "")
  );
}

function some(globs: RegExp[], value: string): boolean {
  return value !== "" && globs.some((g) => g.test(value));
}

/** Compiles a rule's `kube` match; `readOnly` adds "any request that is not a read". */
export function compileKubeMatch(m: KubeMatch, readOnly: boolean): CompiledKubeMatch {
  const verbs = m.verbs?.length && !m.verbs.includes("*") ? new Set<string>(m.verbs) : undefined;
  const groups = m.groups?.length && !m.groups.includes("*") ? new Set(m.groups) : undefined;
  const resources = m.resources?.length ? m.resources.map(parseResource) : undefined;
  const namespaces = m.namespaces?.length ? m.namespaces.map(compileNameGlob) : undefined;
  const names = m.names?.length ? m.names.map(compileNameGlob) : undefined;
  const commands = m.commands?.length ? m.commands.map((c) => new RegExp(c, "i")) : undefined;
  const paths = m.paths?.length ? m.paths.map(compileGlob) : undefined;
  const resourceOnly = Boolean(m.groups?.length || resources || namespaces || names || commands);

  function nonResource(info: KubeRequestInfo): boolean {
    if (resourceOnly) return false;
    if (paths ? !paths.some((g) => g.test(info.path)) : isDiscoveryRead(info)) return false;
    if (verbs && !verbs.has(info.verb)) return false;
    return !(readOnly && isReadOnly(info));
  }

  function command(view: KubeView, mode: KubeMode): boolean {
    if (!commands) return true;
    const { info, command: c } = view;
    if (info.subresource !== "exec") return false; // attach has no command: only its typed input
    if (c === undefined) return mode !== "allow"; // an exec whose command the caller did not read
    if (c.argv.length === 0) return false;
    // With stdin or a tty, what runs is decided by typed input: no allow pattern can vouch for it.
    if (mode === "allow" && c.interactive) return false;
    return commands.some((re) => re.test(c.line));
  }

  return {
    ...(m.impersonate !== undefined ? { impersonate: m.impersonate } : {}),
    hasCommands: commands !== undefined,
    matches(view, mode) {
      const { info } = view;
      if (!info.isResourceRequest) return nonResource(info);
      if (paths) return false;
      if (verbs && !verbs.has(info.verb)) return false;
      if (readOnly && isReadOnly(info)) return false;
      if (groups && !groups.has(info.apiGroup)) return false;
      if (resources && !resources.some((p) => resourceMatches(p, info))) return false;
      if (namespaces) {
        const ok = namespaceUnknown(info) ? unknown(info, mode) : some(namespaces, info.namespace);
        if (!ok) return false;
      }
      if (names) {
        const ok = info.name === "" ? unknown(info, mode) : some(names, info.name);
        if (!ok) return false;
      }
      return command(view, mode);
    },
  };
}
