/**
 * A test fake of HashiCorp Vault's HTTP API: the subset the agent uses, served by a
 * real node:http server on 127.0.0.1, with response shapes taken from Vault's API
 * documentation.
 *
 *   POST /v1/auth/approle/login            {role_id, secret_id} -> {auth: {client_token, lease_duration, renewable, ...}}
 *   POST /v1/auth/token/renew-self         {increment?} -> {auth: {...}} (capped by the token's max TTL)
 *   GET  /v1/auth/token/lookup-self        -> {data: {id, ttl, renewable, policies, expire_time, ...}}
 *   GET  /v1/<kv1 mount>/<path>            -> {data: {...fields}, lease_duration: 2764800}
 *   GET  /v1/<kv2 mount>/data/<path>       -> {data: {data: {...fields}, metadata: {version, created_time, ...}}}
 *   GET  /v1/<db mount>/creds/<role>       -> {lease_id, lease_duration, renewable, data: {username, password}}
 *                                             (CREATE ROLE in a real PostgreSQL server from the role's statements)
 *   PUT  /v1/sys/leases/renew              {lease_id, increment?} -> {lease_id, renewable, lease_duration}
 *   PUT  /v1/sys/leases/revoke             {lease_id} -> 204 (runs the revocation: the role is dropped)
 *   GET  /v1/sys/health, /v1/sys/seal-status
 *
 * Like Vault: a missing, unknown or expired X-Vault-Token is 403 {"errors":["permission
 * denied"]}; every token gets the built-in "default" policy (lookup-self, renew-self,
 * sys/leases/renew) plus its own, path globs with `*` and `+`; an unknown path is 404
 * {"errors":[]}; a sealed Vault answers 503 {"errors":["Vault is sealed"]}; a lease
 * cannot outlive the token that created it, expires (and is revoked) at its TTL, and
 * is revoked with that token. Not modelled: namespaces, response wrapping, entities,
 * CIDR bindings, secret_id TTLs, KV v2 deletes and check-and-set.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type net from "node:net";
import { createFakeVaultDatabase, type FakeVaultDatabaseRole } from "./fake-vault-db";

export { type FakeVaultDatabaseRole, prepareClusterForFakeVault } from "./fake-vault-db";
export type FakeVaultCapability = "read" | "create" | "update" | "delete" | "list" | "sudo" | "deny";
export type FakeVaultPolicy = Record<string, FakeVaultCapability[]>;

export interface FakeVaultOptions {
  port?: number;
  rootToken?: string;
  appRole?: {
    roleId?: string;
    secretId?: string;
    tokenTtlSeconds?: number;
    tokenMaxTtlSeconds?: number;
    tokenPolicies?: string[];
  };
  /** Named policies, path glob -> capabilities. "sluice-agent" exists by default. */
  policies?: Record<string, FakeVaultPolicy>;
  kvV1Mounts?: string[];
  kvV2Mounts?: string[];
  database?: { mount?: string; connectionUrl: string; roles: Record<string, FakeVaultDatabaseRole> };
}

export interface FakeVaultToken {
  id: string;
  accessor: string;
  policies: string[];
  path: string;
  ttlSeconds: number;
  expiresAt?: number;
  maxExpiresAt?: number;
  renewable: boolean;
  issuedAt: number;
}

export interface FakeVaultLease {
  leaseId: string;
  role: string;
  username: string;
  token: string;
  issuedAt: number;
  expiresAt: number;
  renewals: number;
}

export interface FakeVaultRequest {
  method: string;
  path: string;
  status: number;
}

/** The agent's policy as documented in apps/agent/README.md, for the default mounts. */
export const FAKE_VAULT_AGENT_POLICY: FakeVaultPolicy = {
  "kv/data/*": ["read"],
  "secret/*": ["read"],
  "database/creds/*": ["read"],
  "sys/leases/renew": ["update"],
  "sys/leases/revoke": ["update"],
  "auth/token/renew-self": ["update"],
  "auth/token/lookup-self": ["read"],
};

/** Vault's built-in "default" policy, the parts that matter here. */
const DEFAULT_POLICY: FakeVaultPolicy = {
  "auth/token/lookup-self": ["read"],
  "auth/token/renew-self": ["update"],
  "auth/token/revoke-self": ["update"],
  "sys/capabilities-self": ["update"],
  "sys/renew": ["update"],
  "sys/leases/renew": ["update"],
  "sys/leases/lookup": ["update"],
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
  ) {
    super(errors.join("; "));
  }
}

const KV1_LEASE_SECONDS = 2_764_800;

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.?^${}()|[\]\\]/g, "\\$&").replace(/\+/g, "[^/]+");
  return new RegExp(escaped.endsWith("*") ? `^${escaped.slice(0, -1)}.*$` : `^${escaped}$`);
}

function envelope(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    request_id: randomUUID(),
    lease_id: "",
    renewable: false,
    lease_duration: 0,
    data: null,
    wrap_info: null,
    warnings: null,
    auth: null,
    ...fields,
  };
}

function seconds(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return Math.floor(value);
  if (typeof value !== "string" || value === "") return undefined;
  const m = /^(\d+)(s|m|h)?$/.exec(value);
  if (!m) throw new HttpError(400, [`invalid duration ${JSON.stringify(value)}`]);
  return Number(m[1]) * ({ s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"] ?? 1);
}

export interface FakeVault {
  url: string;
  port: number;
  rootToken: string;
  roleId: string;
  secretId: string;
  /** Writes (or, on a KV v2 mount, adds a version of) a secret: `putKv("kv", "prod/pg", {password})`. */
  putKv(mount: string, path: string, data: Record<string, string>): void;
  createToken(opts?: {
    policies?: string[];
    ttlSeconds?: number;
    maxTtlSeconds?: number;
    renewable?: boolean;
  }): string;
  /** Revokes a token and every lease it created (as `vault token revoke`). */
  revokeToken(token: string): Promise<void>;
  tokens(): FakeVaultToken[];
  leases(): FakeVaultLease[];
  requests(): FakeVaultRequest[];
  setSealed(sealed: boolean): void;
  /** Closes the listener and drops open connections: Vault is down. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /** Stops the listener and timers; leases are left in the database as a dead Vault would. */
  close(): Promise<void>;
}

export async function startFakeVault(opts: FakeVaultOptions = {}): Promise<FakeVault> {
  const rootToken = opts.rootToken ?? `hvs.${randomUUID().replaceAll("-", "")}`;
  const roleId = opts.appRole?.roleId ?? randomUUID();
  const secretId = opts.appRole?.secretId ?? randomUUID();
  const policies: Record<string, FakeVaultPolicy> = {
    default: DEFAULT_POLICY,
    "sluice-agent": FAKE_VAULT_AGENT_POLICY,
    ...opts.policies,
  };
  const kv1 = new Set(opts.kvV1Mounts ?? ["secret"]);
  const kv2 = new Set(opts.kvV2Mounts ?? ["kv"]);
  const dbMount = opts.database?.mount ?? "database";
  const db = opts.database ? createFakeVaultDatabase(opts.database.connectionUrl) : undefined;
  const tokens = new Map<string, FakeVaultToken>();
  const leases = new Map<string, FakeVaultLease>();
  const kvStore = new Map<string, { versions: { data: Record<string, string>; createdAt: string }[] }>();
  const log: FakeVaultRequest[] = [];
  let sealed = false;

  tokens.set(rootToken, {
    id: rootToken,
    accessor: randomUUID(),
    policies: ["root"],
    path: "auth/token/root",
    ttlSeconds: 0,
    renewable: false,
    issuedAt: Date.now(),
  });

  function issueToken(p: {
    policies: string[];
    ttlSeconds: number;
    maxTtlSeconds?: number;
    renewable: boolean;
    path: string;
  }): FakeVaultToken {
    const now = Date.now();
    const t: FakeVaultToken = {
      id: `hvs.${randomUUID().replaceAll("-", "")}`,
      accessor: randomUUID(),
      policies: ["default", ...p.policies.filter((x) => x !== "default")],
      path: p.path,
      ttlSeconds: p.ttlSeconds,
      renewable: p.renewable,
      issuedAt: now,
      ...(p.ttlSeconds > 0 ? { expiresAt: now + p.ttlSeconds * 1000 } : {}),
      ...(p.maxTtlSeconds ? { maxExpiresAt: now + p.maxTtlSeconds * 1000 } : {}),
    };
    if (t.maxExpiresAt && t.expiresAt) t.expiresAt = Math.min(t.expiresAt, t.maxExpiresAt);
    tokens.set(t.id, t);
    return t;
  }

  function tokenAuth(t: FakeVaultToken) {
    const ttl = t.expiresAt ? Math.max(0, Math.round((t.expiresAt - Date.now()) / 1000)) : 0;
    return {
      client_token: t.id,
      accessor: t.accessor,
      policies: t.policies,
      token_policies: t.policies,
      metadata: t.path.startsWith("auth/approle") ? { role_name: "sluice-agent" } : null,
      lease_duration: ttl,
      renewable: t.renewable,
      entity_id: "",
      token_type: "service",
      orphan: true,
      mfa_requirement: null,
      num_uses: 0,
    };
  }

  async function revokeLease(id: string): Promise<void> {
    const lease = leases.get(id);
    if (!lease) return;
    leases.delete(id);
    try {
      await db?.revoke(lease.username, opts.database?.roles[lease.role]);
    } catch (err) {
      leases.set(id, lease); // Vault keeps a lease whose revocation failed, and retries
      throw new HttpError(500, [`failed to revoke entry: ${(err as Error).message}`]);
    }
  }

  async function revokeTokenAndLeases(id: string): Promise<void> {
    tokens.delete(id);
    for (const l of [...leases.values()])
      if (l.token === id) await revokeLease(l.leaseId).catch(() => undefined);
  }

  // Vault's expiration manager: expired tokens and leases are revoked.
  let reaping = false;
  const reaper = setInterval(() => {
    if (reaping || sealed || !server) return;
    reaping = true;
    void (async () => {
      const now = Date.now();
      for (const t of [...tokens.values()])
        if (t.expiresAt && t.expiresAt <= now) await revokeTokenAndLeases(t.id);
      for (const l of [...leases.values()])
        if (l.expiresAt <= now) await revokeLease(l.leaseId).catch(() => undefined);
    })().finally(() => {
      reaping = false;
    });
  }, 200);
  reaper.unref();

  function authenticate(req: http.IncomingMessage): FakeVaultToken {
    const header = req.headers["x-vault-token"];
    const t = typeof header === "string" ? tokens.get(header) : undefined;
    if (!t || (t.expiresAt && t.expiresAt <= Date.now())) throw new HttpError(403, ["permission denied"]);
    return t;
  }

  function authorize(t: FakeVaultToken, path: string, method: string): void {
    if (t.policies.includes("root")) return;
    const needed =
      method === "GET"
        ? ["read"]
        : method === "LIST"
          ? ["list"]
          : method === "DELETE"
            ? ["delete"]
            : ["create", "update"];
    let allowed = false;
    for (const name of t.policies) {
      for (const [glob, caps] of Object.entries(policies[name] ?? {})) {
        if (!globToRegExp(glob).test(path)) continue;
        if (caps.includes("deny")) throw new HttpError(403, ["permission denied"]);
        if (caps.some((c) => needed.includes(c))) allowed = true;
      }
    }
    if (!allowed) throw new HttpError(403, ["permission denied"]);
  }

  async function handle(
    method: string,
    path: string,
    body: Record<string, unknown>,
    req: http.IncomingMessage,
  ) {
    if (path === "sys/health" || path === "sys/seal-status") {
      const status = {
        initialized: true,
        sealed,
        standby: false,
        version: "1.17.0-fake",
        cluster_name: "fake",
      };
      return { status: path === "sys/health" && sealed ? 503 : 200, body: status };
    }
    if (sealed) throw new HttpError(503, ["Vault is sealed"]);
    if (path === "auth/approle/login" && (method === "POST" || method === "PUT")) {
      if (body.role_id !== roleId || body.secret_id !== secretId)
        throw new HttpError(400, ["invalid role or secret ID"]);
      const t = issueToken({
        policies: opts.appRole?.tokenPolicies ?? ["sluice-agent"],
        ttlSeconds: opts.appRole?.tokenTtlSeconds ?? 3600,
        maxTtlSeconds: opts.appRole?.tokenMaxTtlSeconds ?? 86_400,
        renewable: true,
        path: "auth/approle/login",
      });
      return { status: 200, body: envelope({ auth: tokenAuth(t) }) };
    }
    const token = authenticate(req);
    authorize(token, path, method);
    if (path === "auth/token/lookup-self" && method === "GET") {
      const ttl = token.expiresAt ? Math.max(0, Math.round((token.expiresAt - Date.now()) / 1000)) : 0;
      return {
        status: 200,
        body: envelope({
          data: {
            accessor: token.accessor,
            creation_time: Math.floor(token.issuedAt / 1000),
            creation_ttl: token.ttlSeconds,
            display_name: token.path.startsWith("auth/approle") ? "approle" : "token",
            expire_time: token.expiresAt ? new Date(token.expiresAt).toISOString() : null,
            explicit_max_ttl: 0,
            id: token.id,
            issue_time: new Date(token.issuedAt).toISOString(),
            meta: null,
            num_uses: 0,
            orphan: true,
            path: token.path,
            policies: token.policies,
            renewable: token.renewable,
            ttl,
            type: "service",
          },
        }),
      };
    }
    if (path === "auth/token/renew-self" && (method === "POST" || method === "PUT")) {
      if (!token.renewable || !token.expiresAt) throw new HttpError(400, ["lease is not renewable"]);
      const increment = seconds(body.increment) ?? token.ttlSeconds;
      const wanted = Date.now() + increment * 1000;
      token.expiresAt = token.maxExpiresAt ? Math.min(wanted, token.maxExpiresAt) : wanted;
      return { status: 200, body: envelope({ auth: tokenAuth(token) }) };
    }
    if ((path === "sys/leases/renew" || path.startsWith("sys/leases/renew/")) && method !== "GET") {
      const id = typeof body.lease_id === "string" ? body.lease_id : path.slice("sys/leases/renew/".length);
      const lease = leases.get(id);
      if (!lease || lease.expiresAt <= Date.now()) throw new HttpError(400, ["lease not found"]);
      const role = opts.database?.roles[lease.role];
      const increment = seconds(body.increment) ?? role?.defaultTtlSeconds ?? 3600;
      const maxAt = lease.issuedAt + (role?.maxTtlSeconds ?? 86_400) * 1000;
      const owner = tokens.get(lease.token);
      let expiresAt = Math.min(Date.now() + increment * 1000, maxAt);
      if (owner?.expiresAt) expiresAt = Math.min(expiresAt, owner.expiresAt);
      await db?.renew(lease.username, new Date(expiresAt));
      lease.expiresAt = expiresAt;
      lease.renewals++;
      const ttl = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
      return { status: 200, body: envelope({ lease_id: id, renewable: true, lease_duration: ttl }) };
    }
    if ((path === "sys/leases/revoke" || path.startsWith("sys/leases/revoke/")) && method !== "GET") {
      const id = typeof body.lease_id === "string" ? body.lease_id : path.slice("sys/leases/revoke/".length);
      await revokeLease(id);
      return { status: 204, body: undefined };
    }
    const [mount = "", ...rest] = path.split("/");
    if (method === "GET" && kv1.has(mount) && rest.length > 0) {
      const entry = kvStore.get(path);
      const latest = entry?.versions.at(-1);
      if (!latest) throw new HttpError(404, []);
      return { status: 200, body: envelope({ lease_duration: KV1_LEASE_SECONDS, data: latest.data }) };
    }
    if (method === "GET" && kv2.has(mount) && rest[0] === "data" && rest.length > 1) {
      const entry = kvStore.get(`${mount}/${rest.slice(1).join("/")}`);
      const version = entry?.versions.length ?? 0;
      const latest = entry?.versions.at(-1);
      if (!latest) throw new HttpError(404, []);
      const metadata = {
        created_time: latest.createdAt,
        custom_metadata: null,
        deletion_time: "",
        destroyed: false,
        version,
      };
      return { status: 200, body: envelope({ data: { data: latest.data, metadata } }) };
    }
    if (method === "GET" && db && mount === dbMount && rest[0] === "creds" && rest.length === 2) {
      const roleName = rest[1] ?? "";
      const role = opts.database?.roles[roleName];
      if (!role) throw new HttpError(400, [`unknown role: ${roleName}`]);
      const now = Date.now();
      let expiresAt = now + (role.defaultTtlSeconds ?? 3600) * 1000;
      if (token.expiresAt) expiresAt = Math.min(expiresAt, token.expiresAt);
      let created: { username: string; password: string };
      try {
        created = await db.create(roleName, role, new Date(expiresAt));
      } catch (err) {
        throw new HttpError(500, [`1 error occurred:\n\t* ${(err as Error).message}\n\n`]);
      }
      const leaseId = `${dbMount}/creds/${roleName}/${randomUUID()}`;
      leases.set(leaseId, {
        leaseId,
        role: roleName,
        username: created.username,
        token: token.id,
        issuedAt: now,
        expiresAt,
        renewals: 0,
      });
      const ttl = Math.round((expiresAt - now) / 1000);
      return {
        status: 200,
        body: envelope({ lease_id: leaseId, renewable: true, lease_duration: ttl, data: created }),
      };
    }
    throw new HttpError(404, []);
  }

  async function readBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 1024 * 1024) throw new HttpError(413, ["request too large"]);
      chunks.push(chunk as Buffer);
    }
    if (size === 0) return {};
    try {
      const parsed = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
      return parsed && typeof parsed === "object" ? (parsed as Record<string, unknown>) : {};
    } catch {
      throw new HttpError(400, ["failed to parse JSON input"]);
    }
  }

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const method = (req.method ?? "GET").toUpperCase();
    const path = url.pathname.startsWith("/v1/") ? decodeURIComponent(url.pathname.slice(4)) : "";
    const reply = (status: number, body: unknown) => {
      log.push({ method, path: path || url.pathname, status });
      if (body === undefined) {
        res.writeHead(status).end();
        return;
      }
      const text = JSON.stringify(body);
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" }).end(text);
    };
    void (async () => {
      try {
        if (!path) throw new HttpError(404, []);
        const body = await readBody(req);
        const out = await handle(method, path.replace(/\/+$/, ""), body, req);
        reply(out.status, out.body);
      } catch (err) {
        if (err instanceof HttpError) reply(err.status, { errors: err.errors });
        else reply(500, { errors: [(err as Error).message] });
      }
    })();
  };

  let server: http.Server | undefined;
  const sockets = new Set<net.Socket>();
  let port = opts.port ?? 0;
  async function listen(): Promise<void> {
    const s = http.createServer(onRequest);
    s.on("connection", (socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolve());
    });
    port = (s.address() as net.AddressInfo).port;
    server = s;
  }
  async function stopListening(): Promise<void> {
    const s = server;
    server = undefined;
    if (!s) return;
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  await listen();

  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    rootToken,
    roleId,
    secretId,
    putKv(mount, path, data) {
      const key = `${mount}/${path}`;
      const entry = kvStore.get(key) ?? { versions: [] };
      const version = { data: { ...data }, createdAt: new Date().toISOString() };
      entry.versions = kv2.has(mount) ? [...entry.versions, version] : [version];
      kvStore.set(key, entry);
    },
    createToken(o = {}) {
      return issueToken({
        policies: o.policies ?? ["sluice-agent"],
        ttlSeconds: o.ttlSeconds ?? 3600,
        ...(o.maxTtlSeconds ? { maxTtlSeconds: o.maxTtlSeconds } : {}),
        renewable: o.renewable ?? true,
        path: "auth/token/create",
      }).id;
    },
    revokeToken: (token) => revokeTokenAndLeases(token),
    tokens: () => [...tokens.values()].map((t) => ({ ...t })),
    leases: () => [...leases.values()].map((l) => ({ ...l })),
    requests: () => [...log],
    setSealed(value) {
      sealed = value;
    },
    stop: stopListening,
    start: listen,
    async close() {
      clearInterval(reaper);
      await stopListening();
      await db?.close();
    },
  };
}
