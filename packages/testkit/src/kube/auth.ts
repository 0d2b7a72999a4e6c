/**
 * Authentication (bearer token or client certificate) and impersonation, following the API
 * server's rules: the caller must be allowed to impersonate, users are checked before groups,
 * uids and extras, and an impersonated user joins `system:authenticated`.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { TLSSocket } from "node:tls";
import { badRequest, forbidden, unauthorized } from "./status";

export interface TokenIdentity {
  user: string;
  groups?: string[];
  canImpersonate?: boolean;
}

export interface Identity {
  /** Who the credential belongs to. */
  authUser: string;
  /** Whom the request acts as (the impersonated user when impersonating). */
  user: string;
  groups: string[];
  uid?: string;
  extra: Record<string, string[]>;
  impersonated: boolean;
}

function withAuthenticated(groups: string[]): string[] {
  return groups.includes("system:authenticated") ? groups : [...groups, "system:authenticated"];
}

function credential(headers: IncomingHttpHeaders, socket: TLSSocket, tokens: Record<string, TokenIdentity>) {
  const header = headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const found = match?.[1] ? tokens[match[1]] : undefined;
    if (!found) throw unauthorized();
    return found;
  }
  // A client certificate signed by the fake's CA: CN is the user and O the groups, as in the real server.
  if (socket.authorized) {
    const cert = socket.getPeerCertificate();
    const cn = cert?.subject?.CN;
    if (typeof cn === "string" && cn) {
      const o = cert.subject.O;
      const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
      return { user: cn, groups, canImpersonate: groups.includes("system:masters") };
    }
  }
  throw unauthorized();
}

function impersonationForbidden(by: string, resource: string, group: string, name: string) {
  return forbidden({
    user: by,
    verb: "impersonate",
    apiGroup: group,
    resource,
    subresource: "",
    namespace: "",
    name,
  });
}

export interface Authenticated {
  identity: Identity;
  canImpersonate: boolean;
}

/** Who the credential is; a missing or unknown one is 401. */
export function authenticate(
  headers: IncomingHttpHeaders,
  socket: TLSSocket,
  tokens: Record<string, TokenIdentity>,
): Authenticated {
  const who = credential(headers, socket, tokens);
  const identity: Identity = {
    authUser: who.user,
    user: who.user,
    groups: withAuthenticated(who.groups ?? []),
    extra: {},
    impersonated: false,
  };
  return { identity, canImpersonate: who.canImpersonate === true };
}

/** Whom the request acts as, from the Impersonate-* headers (the caller itself without them). */
export function impersonate(
  { identity: base, canImpersonate }: Authenticated,
  headers: IncomingHttpHeaders,
  rawHeaders: string[],
): Identity {
  const user = headers["impersonate-user"];
  const groups: string[] = [];
  const extra: Record<string, string[]> = {};
  // Raw headers keep repeated Impersonate-Group lines apart even when a value holds a comma.
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? "").toLowerCase();
    const value = rawHeaders[i + 1] ?? "";
    if (name === "impersonate-group") groups.push(value);
    if (name.startsWith("impersonate-extra-")) {
      const key = decodeURIComponent(name.slice("impersonate-extra-".length));
      // One value per header line, commas included, as Go's http.Header keeps them.
      extra[key] = [...(extra[key] ?? []), value];
    }
  }
  const uid = headers["impersonate-uid"];
  const asksImpersonation =
    user !== undefined || groups.length > 0 || uid !== undefined || Object.keys(extra).length > 0;
  if (!asksImpersonation) return base;
  if (typeof user !== "string" || !user) {
    throw badRequest(
      `requested [${groups.map((g) => `{Group ${g}}`).join(" ")}] without impersonating a user`,
    );
  }
  // canImpersonate covers users, groups, uids and extras alike, so the user check, which the
  // API server makes first, is the one a refused caller sees.
  if (!canImpersonate) throw impersonationForbidden(base.authUser, "users", "", user);
  const identity: Identity = {
    authUser: base.authUser,
    user,
    groups: user === "system:anonymous" ? [...groups, "system:unauthenticated"] : withAuthenticated(groups),
    extra,
    impersonated: true,
  };
  if (typeof uid === "string") identity.uid = uid;
  return identity;
}
