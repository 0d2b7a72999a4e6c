import { createHash } from "node:crypto";
import tls from "node:tls";
import type { ConnectionSpec, HttpSettings } from "@sluice/proto";
import type { SecretResolver } from "@sluice/secrets";
import { Pool } from "undici";
import type { TargetCredential } from "../../core/broker";

/** An HTTP connection's settings with their defaults applied. */
export interface HttpTarget {
  origin: string;
  /** Upstream path prefix without a trailing slash ("" for the root). */
  basePath: string;
  /** The Host header sent upstream. */
  host: string;
  inject: { kind: "bearer" | "basic" | "header" | "query" | "none"; name: string };
  recordBodyBytes: number;
  passUnmaskable: boolean;
}

const INJECT_KINDS = new Set(["bearer", "basic", "header", "query", "none"]);

export function httpTarget(conn: ConnectionSpec): HttpTarget {
  const s: Partial<HttpSettings> = conn.settings?.$case === "http" ? conn.settings.value : {};
  const secure = (conn.tls?.mode ?? "disable") !== "disable";
  const defaultPort = secure ? 443 : 80;
  const hostname = conn.host.includes(":") ? `[${conn.host}]` : conn.host;
  const host = conn.port === defaultPort ? hostname : `${hostname}:${conn.port}`;
  const kind = s.inject && INJECT_KINDS.has(s.inject) ? s.inject : conn.credentialRef ? "bearer" : "none";
  return {
    origin: `${secure ? "https" : "http"}://${host}`,
    basePath: (s.basePath ?? "").replace(/\/+$/, ""),
    host,
    inject: { kind: kind as HttpTarget["inject"]["kind"], name: s.injectName ?? "" },
    recordBodyBytes: s.recordBodyBytes ?? 4096,
    passUnmaskable: s.passUnmaskableContent === true,
  };
}

/** Adds the credential the agent holds to the request headers or query (never the client's). */
export function injectCredential(
  target: HttpTarget,
  cred: TargetCredential,
  headers: Record<string, string | string[]>,
  query: URLSearchParams,
): void {
  const { kind, name } = target.inject;
  if (kind === "bearer") headers.authorization = `Bearer ${cred.secret}`;
  else if (kind === "basic") {
    headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.secret}`).toString("base64")}`;
  } else if (kind === "header") headers[name.toLowerCase()] = cred.secret;
  else if (kind === "query") query.set(name, cred.secret);
}

/** Splits one PEM bundle into its certificate chain and private key. */
export function splitPemBundle(pem: string): { cert: string; key: string } {
  const blocks = pem.match(/-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g) ?? [];
  const cert = blocks.filter((b) => b.includes("CERTIFICATE")).join("\n");
  const key = blocks.find((b) => b.includes("PRIVATE KEY")) ?? "";
  if (!cert || !key) {
    throw new Error("the client certificate reference must hold a PEM certificate and its private key");
  }
  return { cert, key };
}

/** How the agent connects to an upstream over TLS (pools and WebSocket connections alike). */
export interface UpstreamConnectOptions {
  ca?: string;
  servername?: string;
  rejectUnauthorized: boolean;
  checkServerIdentity?: typeof tls.checkServerIdentity;
  cert?: string;
  key?: string;
}

interface PoolEntry {
  key: string;
  pool: Promise<Pool>;
  connect: Promise<UpstreamConnectOptions>;
}

/** Where the client certificate the agent presents upstream is found ("" for none). */
function clientCertificateRef(conn: ConnectionSpec): string {
  const s = conn.settings;
  if (s?.$case === "http" || s?.$case === "kubernetes") return s.value.clientCertificateRef;
  return "";
}

/**
 * One keep-alive pool per HTTP connection, rebuilt when its upstream settings change
 * (a pool is keyed by everything that decides where and how it connects).
 */
export function createUpstreamPools(deps: { secrets: Pick<SecretResolver, "resolve">; maxPools?: number }) {
  const pools = new Map<string, PoolEntry>();
  const maxPools = deps.maxPools ?? 256;

  function poolKey(conn: ConnectionSpec): string {
    return createHash("sha256")
      .update(JSON.stringify([conn.host, conn.port, conn.tls, clientCertificateRef(conn)]))
      .digest("base64");
  }

  async function connectOptions(conn: ConnectionSpec): Promise<UpstreamConnectOptions> {
    const mode = conn.tls?.mode ?? "disable";
    const certRef = clientCertificateRef(conn);
    const client = certRef
      ? splitPemBundle((await deps.secrets.resolve(certRef, { connection: conn.name, sessionId: "" })).secret)
      : undefined;
    const verify = mode === "verify-ca" || mode === "verify-full";
    return {
      ...(conn.tls?.caPem ? { ca: conn.tls.caPem } : {}),
      ...(conn.tls?.serverName ? { servername: conn.tls.serverName } : {}),
      rejectUnauthorized: verify,
      ...(mode === "verify-ca" ? { checkServerIdentity: () => undefined } : {}),
      ...(mode === "verify-full" ? { checkServerIdentity: tls.checkServerIdentity } : {}),
      ...(client ?? {}),
    };
  }

  async function build(conn: ConnectionSpec, connect: Promise<UpstreamConnectOptions>): Promise<Pool> {
    return new Pool(httpTarget(conn).origin, {
      connections: 64,
      keepAliveTimeout: 30_000,
      headersTimeout: 60_000,
      bodyTimeout: 0,
      connect: await connect,
    });
  }

  function entryFor(conn: ConnectionSpec): PoolEntry {
    const key = poolKey(conn);
    const held = pools.get(conn.id);
    if (held?.key === key) return held;
    if (held) void held.pool.then((p) => p.close()).catch(() => undefined);
    if (!held && pools.size >= maxPools) {
      const [oldest, entry] = pools.entries().next().value as [string, PoolEntry];
      pools.delete(oldest);
      void entry.pool.then((p) => p.close()).catch(() => undefined);
    }
    const connect = connectOptions(conn);
    const pool = build(conn, connect);
    const entry = { key, pool, connect };
    // A pool that could not be built (an unresolvable certificate) is retried next time.
    pool.catch(() => {
      if (pools.get(conn.id) === entry) pools.delete(conn.id);
    });
    pools.set(conn.id, entry);
    return entry;
  }

  return {
    /** The pool serving `conn` now. */
    forConnection(conn: ConnectionSpec): Promise<Pool> {
      return entryFor(conn).pool;
    },
    /** The TLS options of `conn`'s upstream, for connections outside the pool (WebSockets). */
    connectOptions(conn: ConnectionSpec): Promise<UpstreamConnectOptions> {
      return entryFor(conn).connect;
    },
    async close(): Promise<void> {
      const all = [...pools.values()];
      pools.clear();
      await Promise.all(all.map((e) => e.pool.then((p) => p.close()).catch(() => undefined)));
    },
  };
}

export type UpstreamPools = ReturnType<typeof createUpstreamPools>;
