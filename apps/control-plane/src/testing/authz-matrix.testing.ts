import type { Role } from "@sluice/db";
import {
  type Caller,
  type Kind,
  ownedKinds,
  roleOf,
  sshKeyLine,
  type Target,
  uniq,
  type World,
} from "./authz-world.testing";

/**
 * Who may call each route of the control plane's REST API, and what they get: the expected
 * status for every caller on their own resource, on another member's, and on a random id.
 * Every operation in the OpenAPI document must be listed here.
 */

/** A status, or one per caller. */
type Outcome = number | ((c: Caller) => number);

export interface Rule {
  /** The roles past the route's role check; `public` routes skip authentication. */
  roles: "public" | Role[];
  /** What fills the path parameters. */
  kind?: Kind;
  /** A minimal valid body; `live` is false for callers the route refuses (no fixtures are made for them). */
  body?: (w: World, c: Caller, live: boolean) => unknown;
  /** For an allowed caller on its own resource (or an existing one, for resources nobody owns). */
  own: Outcome;
  /** For an allowed caller on another member's resource (owned kinds only). */
  foreign?: Outcome;
  /** The call changes or removes its resource: allowed callers get a fresh one each. */
  fresh?: true;
  /** Why an allowed caller's expected status is an error. */
  why?: string;
}

const anyRole: Role[] = ["admin", "auditor", "user"];
const readers: Role[] = ["admin", "auditor"];
const admins: Role[] = ["admin"];

/** Admins and auditors read everyone's; to anyone else another member's resource does not exist. */
const readable = (ok: number) => (c: Caller) => (c === "admin" || c === "auditor" ? ok : 404);
/** Only admins manage other people's credentials; to anyone else they do not exist. */
const adminManaged = (ok: number) => (c: Caller) => (c === "admin" ? ok : 404);
/** Approve and deny: a member's review is visible to its reviewer group, and deciding it is for that group alone. */
const decide: Rule = {
  roles: anyRole,
  kind: "review",
  fresh: true,
  body: () => ({}),
  own: 403,
  foreign: (c) => ({ admin: 403, auditor: 403, reviewer: 200 })[c as string] ?? 404,
  why: "nobody decides their own request; admins and auditors see every review but do not review",
};
/** This control plane has no OIDC provider configured; the public login routes say so to everyone. */
const noOidc: Rule = { roles: "public", own: 503, why: "a public route, and no OIDC provider is configured" };

/** /mcp authenticates itself: 401 with WWW-Authenticate without a valid bearer, else 400 before `initialize`. */
const mcpRule: Rule = {
  roles: "public",
  own: (c) => (c === "anonymous" || c === "revoked" ? 401 : 400),
  why: "the MCP endpoint checks the bearer itself; a request that is not `initialize` starts no session",
};
const mcpEndpoint = { "POST /mcp": mcpRule, "GET /mcp": mcpRule, "DELETE /mcp": mcpRule };

const conn = () => ({
  name: uniq("new-db"),
  type: "postgres",
  host: "127.0.0.1",
  port: 5432,
  database: "app",
  username: "app",
  credentialRef: "env:APP_PW",
});
const review = async (w: World, _c: Caller, live: boolean) => ({
  connection: live ? await w.fresh.gatedConnection() : "gated-db",
  durationSeconds: 3600,
  reason: "incident 42",
});
/**
 * An admin-managed collection: list and read for `read` (readers unless said), create,
 * change and remove for admins; removing (and a `freshPatch` change) gets a fresh resource.
 */
function managed(
  path: string,
  kind: Kind,
  o: { read?: Role[]; create: () => unknown; patch: () => unknown; freshPatch?: true },
): Record<string, Rule> {
  const read = o.read ?? readers;
  const base = `/api/v1/${path}`;
  return {
    [`GET ${base}`]: { roles: read, own: 200 },
    [`POST ${base}`]: { roles: admins, own: 201, body: o.create },
    [`GET ${base}/{id}`]: { roles: read, kind, own: 200 },
    [`PATCH ${base}/{id}`]: {
      roles: admins,
      kind,
      body: o.patch,
      own: 200,
      ...(o.freshPatch && { fresh: true }),
    },
    [`DELETE ${base}/{id}`]: { roles: admins, kind, fresh: true, own: 204 },
  };
}

export const matrix: Record<string, Rule> = {
  "GET /healthz": { roles: "public", own: 200 },
  "GET /readyz": { roles: "public", own: 200 },
  "GET /metrics": { roles: readers, own: 200 },
  "GET /api/v1/me": { roles: anyRole, own: 200 },

  "GET /api/v1/users": { roles: readers, own: 200 },
  "POST /api/v1/users": { roles: admins, own: 201, body: () => ({ name: uniq("new-user") }) },
  "GET /api/v1/users/{id}": { roles: readers, kind: "user", own: 200, foreign: 200 },
  "PATCH /api/v1/users/{id}": {
    roles: admins,
    kind: "user",
    body: () => ({ disabled: false }),
    own: 200,
    foreign: 200,
  },
  "DELETE /api/v1/users/{id}": {
    roles: admins,
    kind: "user",
    fresh: true,
    own: 403,
    foreign: 204,
    why: "an admin cannot delete their own account",
  },
  "POST /api/v1/users/{id}/revoke-tokens": {
    roles: admins,
    kind: "user",
    fresh: true,
    own: 200,
    foreign: 200,
  },
  "POST /api/v1/users/{id}/api-keys": {
    roles: anyRole,
    kind: "user",
    body: () => ({ name: "matrix" }),
    own: 201,
    foreign: adminManaged(201),
  },
  "GET /api/v1/users/{id}/api-keys": { roles: anyRole, kind: "user", own: 200, foreign: adminManaged(200) },
  "DELETE /api/v1/users/{id}/api-keys/{keyId}": {
    roles: anyRole,
    kind: "apiKey",
    fresh: true,
    own: 204,
    foreign: adminManaged(204),
  },

  ...managed("groups", "group", {
    create: () => ({ name: uniq("new-group") }),
    patch: () => ({ description: "matrix" }),
  }),
  "PUT /api/v1/groups/{id}/members/{userId}": { roles: admins, kind: "member", fresh: true, own: 204 },
  "DELETE /api/v1/groups/{id}/members/{userId}": { roles: admins, kind: "member", fresh: true, own: 204 },

  ...managed("agents", "agent", {
    create: () => ({ name: uniq("new-agent") }),
    patch: () => ({ labels: { tier: "matrix" } }),
    freshPatch: true,
  }),
  "POST /api/v1/agents/{id}/revoke": { roles: admins, kind: "agent", fresh: true, own: 200 },
  "POST /api/v1/agents/{id}/rotate-token": { roles: admins, kind: "agent", fresh: true, own: 200 },

  "GET /api/v1/connections": { roles: anyRole, own: 200 },
  "POST /api/v1/connections": { roles: admins, own: 201, body: conn },
  "GET /api/v1/connections/{id}": { roles: anyRole, kind: "connection", own: 200, foreign: readable(200) },
  "PATCH /api/v1/connections/{id}": {
    roles: admins,
    kind: "connection",
    fresh: true,
    body: () => ({ port: 5433 }),
    own: 200,
    foreign: 200,
  },
  "DELETE /api/v1/connections/{id}": {
    roles: admins,
    kind: "connection",
    fresh: true,
    own: 204,
    foreign: 204,
  },

  ...managed("policies", "policy", {
    create: () => ({ name: uniq("new-policy") }),
    patch: () => ({ description: "matrix" }),
  }),
  "POST /api/v1/policies/{id}/evaluate": {
    roles: readers,
    kind: "policy",
    body: () => ({ sql: "SELECT 1" }),
    own: 200,
  },

  "POST /api/v1/ssh-keys": {
    roles: anyRole,
    own: 201,
    body: () => ({ name: uniq("laptop"), publicKey: sshKeyLine() }),
  },
  "GET /api/v1/ssh-keys": { roles: anyRole, own: 200 },
  "DELETE /api/v1/ssh-keys/{id}": {
    roles: anyRole,
    kind: "sshKey",
    fresh: true,
    own: 204,
    foreign: adminManaged(204),
  },
  "POST /api/v1/ssh-certificates": { roles: anyRole, own: 201, body: () => ({ publicKey: sshKeyLine() }) },
  "GET /api/v1/ssh-ca": { roles: anyRole, own: 200 },
  "POST /api/v1/ssh-ca/rotate": { roles: admins, own: 200 },

  "POST /api/v1/sessions": { roles: anyRole, own: 201, body: () => ({ connection: "app-db" }) },
  "GET /api/v1/sessions": { roles: anyRole, own: 200 },
  "GET /api/v1/sessions/{id}": { roles: anyRole, kind: "session", own: 200, foreign: readable(200) },
  "GET /api/v1/sessions/{id}/events": { roles: anyRole, kind: "session", own: 200, foreign: readable(200) },
  "GET /api/v1/sessions/{id}/cast": { roles: anyRole, kind: "session", own: 200, foreign: readable(200) },

  "POST /api/v1/reviews": { roles: anyRole, own: 201, body: review },
  "GET /api/v1/reviews": { roles: anyRole, own: 200 },
  "GET /api/v1/reviews/{id}": {
    roles: anyRole,
    kind: "review",
    own: 200,
    foreign: (c) => (c === "admin" || c === "auditor" || c === "reviewer" ? 200 : 404),
  },
  "POST /api/v1/reviews/{id}/approve": decide,
  "POST /api/v1/reviews/{id}/deny": decide,
  "POST /api/v1/reviews/{id}/revoke": {
    roles: anyRole,
    kind: "review",
    fresh: true,
    body: () => ({}),
    own: 200,
    foreign: (c) => ({ admin: 200, auditor: 403, reviewer: 200 })[c as string] ?? 404,
    why: "an auditor sees every review but may not withdraw one",
  },

  "GET /api/v1/signing-keys": { roles: readers, own: 200 },
  "POST /api/v1/signing-keys/rotate": { roles: admins, own: 200 },
  "GET /api/v1/ca": { roles: anyRole, own: 200 },
  "GET /api/v1/audit": { roles: readers, own: 200 },
  "GET /api/v1/audit/verify": { roles: readers, own: 200 },

  ...managed("notification-channels", "channel", {
    read: admins,
    create: () => ({ name: uniq("new-hook"), kind: "webhook", url: "http://127.0.0.1:9/hook" }),
    patch: () => ({ enabled: true }),
  }),
  "POST /api/v1/notification-channels/{id}/rotate-secret": {
    roles: admins,
    kind: "channel",
    fresh: true,
    own: 200,
  },
  "POST /api/v1/notification-channels/{id}/test": { roles: admins, kind: "channel", own: 202 },
  "GET /api/v1/notification-deliveries": { roles: admins, own: 200 },
  "GET /api/v1/notification-deliveries/{id}": { roles: admins, kind: "delivery", own: 200 },
  "POST /api/v1/notification-deliveries/{id}/retry": {
    roles: admins,
    kind: "delivery",
    fresh: true,
    own: 202,
  },

  "POST /api/v1/auth/token": {
    roles: "public",
    body: () => ({ grant_type: "refresh_token", refresh_token: "srt_not-a-real-token" }),
    own: 400,
    why: "a public route: the bad grant is refused whatever credential comes with it",
  },
  "POST /api/v1/auth/logout": {
    roles: anyRole,
    own: 400,
    why: "logout ends a token login; a caller with an API key has none (its key is revoked through the api-keys API)",
  },
  "POST /api/v1/auth/oidc/start": { ...noOidc, body: () => ({ redirectUri: "http://127.0.0.1:8765/cb" }) },
  "POST /api/v1/auth/oidc/callback": { ...noOidc, body: () => ({ code: "not-a-code", state: "x" }) },
  "POST /api/v1/auth/device": noOidc,
  "POST /api/v1/auth/device/poll": { ...noOidc, body: () => ({ device_code: "not-a-code" }) },
  "GET /api/v1/auth/login": noOidc,
  "GET /api/v1/auth/callback": {
    roles: "public",
    own: 400,
    why: "a public route; code and state are missing",
  },

  "GET /.well-known/oauth-protected-resource": { roles: "public", own: 200 },
  "GET /.well-known/oauth-protected-resource/mcp": { roles: "public", own: 200 },
  "GET /.well-known/oauth-authorization-server": { roles: "public", own: 200 },
  "POST /oauth/register": {
    roles: "public",
    body: () => ({ redirect_uris: ["http://127.0.0.1:8765/cb"], client_name: "matrix" }),
    own: 201,
  },
  "GET /oauth/authorize": {
    roles: "public",
    own: 400,
    why: "a public route; the request names no registered client",
  },
  "POST /oauth/token": {
    roles: "public",
    body: () => ({ grant_type: "authorization_code", code: "not-a-code" }),
    own: 400,
    why: "a public route: the bad code is refused whatever credential comes with it",
  },
  "GET /oauth/consent": { roles: "public", own: 400, why: "a public route; no sign-in is pending" },
  "POST /oauth/consent": {
    roles: "public",
    body: () => ({ request: "not-a-request", decision: "deny" }),
    own: 400,
    why: "a public route; the request is unknown",
  },
  ...mcpEndpoint,

  ...managed("trusted-issuers", "issuer", {
    create: () => ({
      name: uniq("new-ci"),
      issuer: `https://${uniq("ci")}.example.test`,
      audience: "sluice",
    }),
    patch: () => ({ enabled: true }),
  }),
  "GET /api/v1/idp-group-mappings": { roles: readers, own: 200 },
  "POST /api/v1/idp-group-mappings": {
    roles: admins,
    own: 201,
    body: () => ({ idpGroup: uniq("idp-eng"), group: "devs" }),
  },
  "DELETE /api/v1/idp-group-mappings/{id}": { roles: admins, kind: "mapping", fresh: true, own: 204 },
};

/** The targets a route is called on: none without path parameters, foreign only for owned kinds. */
export function targetsOf(rule: Rule): Target[] {
  if (!rule.kind) return ["own"];
  return ownedKinds.includes(rule.kind) ? ["own", "foreign", "missing"] : ["own", "missing"];
}

/** The roles check passed and the resource is real: the handler runs (and may change it). */
export function reachesHandler(rule: Rule, c: Caller, target: Target): boolean {
  if (rule.roles === "public") return true;
  const role = roleOf(c);
  return role !== undefined && rule.roles.includes(role) && target !== "missing";
}

export function expectedStatus(rule: Rule, c: Caller, target: Target): number {
  const at = (o: Outcome | undefined) => (typeof o === "function" ? o(c) : (o ?? 0));
  if (rule.roles === "public") return at(rule.own);
  const role = roleOf(c);
  if (role === undefined) return 401;
  if (!rule.roles.includes(role)) return 403;
  if (target === "missing") return 404;
  return at(target === "own" ? rule.own : rule.foreign);
}
