import nodeVault from "node-vault";
import { toVaultFailure, VaultFailure } from "./vault-errors";

export type VaultAuth =
  | { method: "token"; token: string }
  | { method: "approle"; roleId: string; secretId: string; mount?: string };

/** What the Vault code logs through; never given a token, secret_id or secret. */
export interface VaultLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface VaultClientOptions {
  /** e.g. https://vault.internal:8200 */
  address: string;
  auth: VaultAuth;
  namespace?: string;
  /** PEM bundle that signs Vault's TLS certificate (otherwise the system roots). */
  caPem?: string;
  requestTimeoutMs?: number;
  logger?: VaultLogger;
  now?: () => number;
}

/** The raw Vault response envelope (`data`, `lease_id`, `auth`, ...). */
export interface VaultResponse {
  lease_id?: string;
  lease_duration?: number;
  renewable?: boolean;
  data?: Record<string, unknown> | null;
  auth?: { client_token?: string; lease_duration?: number; renewable?: boolean } | null;
}

export interface VaultClient {
  read(path: string): Promise<VaultResponse>;
  renewLease(leaseId: string, incrementSeconds: number): Promise<VaultResponse>;
  revokeLease(leaseId: string): Promise<void>;
  close(): void;
}

const silent = () => undefined;
const quietLogger: VaultLogger = { info: silent, warn: silent };

/**
 * A node-vault client with the agent's authentication: a static token (renewed while
 * it is renewable) or AppRole (logs in, renews with renew-self before expiry, logs in
 * again when the token is gone or Vault answers 403). Every error is a VaultFailure.
 */
export function createVaultClient(opts: VaultClientOptions): VaultClient {
  const now = opts.now ?? Date.now;
  const log = opts.logger ?? quietLogger;
  const auth = opts.auth;
  const vault = nodeVault({
    endpoint: opts.address,
    apiVersion: "v1",
    token: auth.method === "token" ? auth.token : "",
    debug: silent,
    requestOptions: {
      timeout: opts.requestTimeoutMs ?? 5000,
      strictSSL: true,
      ...(opts.caPem ? { ca: opts.caPem } : {}),
    },
  });
  // node-vault falls back to VAULT_* environment variables; the agent's config is the only source.
  const settable = vault as unknown as { token: string; namespace: string; pathPrefix: string };
  settable.token = auth.method === "token" ? auth.token : "";
  settable.namespace = opts.namespace ?? "";
  settable.pathPrefix = "";

  let expiresAt: number | undefined; // undefined: not known yet or never expires
  let looked = false;
  let loggingIn: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  function schedule(ttlSeconds: number, renewable: boolean): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    expiresAt = ttlSeconds > 0 ? now() + ttlSeconds * 1000 : undefined;
    if (closed || ttlSeconds <= 0) return;
    const delay = Math.max(1000, Math.floor((ttlSeconds * 1000 * 2) / 3));
    timer = setTimeout(() => void refresh(ttlSeconds, renewable), delay);
    timer.unref();
  }

  async function refresh(previousTtl: number, renewable: boolean): Promise<void> {
    if (closed) return;
    if (!renewable) {
      if (auth.method === "approle") await login().catch(silent);
      return;
    }
    try {
      const res = (await vault.tokenRenewSelf()) as VaultResponse;
      const ttl = res.auth?.lease_duration ?? 0;
      // Near the token's max TTL renewals stop extending it: log in again in time.
      if (auth.method === "approle" && ttl < previousTtl / 3) {
        await login();
        return;
      }
      schedule(ttl, res.auth?.renewable !== false);
    } catch (err) {
      const failure = toVaultFailure(err, "auth/token/renew-self");
      log.warn({ vault: failure.message }, "Vault token renewal failed");
      if (auth.method === "approle") {
        await login().catch(silent);
      } else if (expiresAt !== undefined && expiresAt > now()) {
        schedule(Math.max(1, Math.floor((expiresAt - now()) / 1000)), renewable);
      }
    }
  }

  function login(): Promise<void> {
    if (auth.method !== "approle") return Promise.resolve();
    loggingIn ??= (async () => {
      const path = `auth/${auth.mount ?? "approle"}/login`;
      settable.token = "";
      try {
        const res = (await vault.approleLogin({
          role_id: auth.roleId,
          secret_id: auth.secretId,
          ...(auth.mount ? { mount_point: auth.mount } : {}),
        })) as VaultResponse;
        const token = res.auth?.client_token;
        if (!token)
          throw new VaultFailure("invalid_response", path, "Vault's AppRole login returned no token");
        settable.token = token;
        schedule(res.auth?.lease_duration ?? 0, res.auth?.renewable !== false);
        log.info({ ttlSeconds: res.auth?.lease_duration ?? 0 }, "logged in to Vault with AppRole");
      } catch (err) {
        const failure = toVaultFailure(err, path);
        if (failure.kind === "denied" || failure.kind === "rejected") {
          throw new VaultFailure(
            failure.kind,
            path,
            "Vault refused the agent's AppRole login",
            failure.status,
          );
        }
        throw failure;
      } finally {
        loggingIn = undefined;
      }
    })();
    return loggingIn;
  }

  async function ensureToken(): Promise<void> {
    if (auth.method === "approle") {
      if (!settable.token || (expiresAt !== undefined && now() >= expiresAt - 1000)) await login();
      return;
    }
    if (looked) return;
    try {
      const res = (await vault.tokenLookupSelf()) as { data?: { ttl?: number; renewable?: boolean } };
      looked = true;
      schedule(res.data?.ttl ?? 0, res.data?.renewable === true);
    } catch (err) {
      const failure = toVaultFailure(err, "auth/token/lookup-self");
      if (failure.kind === "denied") {
        throw new VaultFailure("denied", failure.path, "Vault does not accept the agent's token", 403);
      }
      throw failure;
    }
  }

  /** Runs a request; an idempotent one is retried once on a reset connection (a stale keep-alive socket). */
  async function attempt<T>(op: () => Promise<T>, idempotent: boolean): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (!idempotent || (err as { code?: unknown })?.code !== "ECONNRESET") throw err;
      return await op();
    }
  }

  async function call<T>(path: string, op: () => Promise<T>, idempotent = true): Promise<T> {
    if (closed) throw new VaultFailure("unavailable", path, "the Vault client is closed");
    await ensureToken();
    const used = settable.token;
    try {
      return await attempt(op, idempotent);
    } catch (err) {
      const failure = toVaultFailure(err, path);
      if (failure.kind !== "denied" || auth.method !== "approle") throw failure;
      // The token may have expired or been revoked: log in again once and retry.
      if (settable.token === used) await login();
      try {
        return await op();
      } catch (retryErr) {
        throw toVaultFailure(retryErr, path);
      }
    }
  }

  return {
    // Reading database creds creates a user: never sent twice for one resolution.
    read: (path) => call(path, () => vault.read(path) as Promise<VaultResponse>, !path.includes("/creds/")),
    renewLease: (leaseId, increment) =>
      call("sys/leases/renew", () => vault.renew({ lease_id: leaseId, increment }) as Promise<VaultResponse>),
    revokeLease: async (leaseId) => {
      await call("sys/leases/revoke", () => vault.revoke({ lease_id: leaseId }));
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
