import type { LeaseFile } from "./lease-file";
import type { ResolvedCredential } from "./resolver";
import type { VaultClient, VaultLogger } from "./vault-client";
import { toVaultFailure, VaultFailure } from "./vault-errors";

export interface DynamicCredentialsDeps {
  client: Pick<VaultClient, "read" | "renewLease" | "revokeLease">;
  leases: LeaseFile;
  logger: VaultLogger;
  now?: () => number;
}

interface Active {
  leaseId: string;
  sessionId: string | undefined;
  timer: NodeJS.Timeout | undefined;
  expiresAt: number;
}

/**
 * Per-session dynamic database credentials (`vault-db:database/creds/<role>`): one
 * lease per session, recorded in the lease file before it is used, renewed while the
 * session lives, revoked by `release()`. Leases a crashed process left in the file are
 * revoked by `revokeLeftovers()` (retried in the background until Vault takes them).
 */
export function createDynamicCredentials(deps: DynamicCredentialsDeps) {
  const now = deps.now ?? Date.now;
  const log = deps.logger;
  const active = new Map<string, Active>();
  const leftovers = new Set(deps.leases.leftovers.map((r) => r.leaseId));
  let sweeping: Promise<{ revoked: number; pending: number }> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryDelay = 2000;
  let closed = false;

  function scheduleRenewal(a: Active, durationSeconds: number, increment: number): void {
    const remainingMs = a.expiresAt - now();
    const delay = Math.max(1000, Math.floor((durationSeconds * 1000 * 2) / 3));
    if (closed || remainingMs <= 0) return;
    a.timer = setTimeout(() => void renew(a, increment), Math.min(delay, Math.max(1000, remainingMs - 500)));
    a.timer.unref();
  }

  async function renew(a: Active, increment: number): Promise<void> {
    if (!active.has(a.leaseId)) return;
    try {
      const res = await deps.client.renewLease(a.leaseId, increment);
      const ttl = res.lease_duration ?? 0;
      a.expiresAt = now() + ttl * 1000;
      if (ttl <= 0 || res.renewable === false || ttl < increment / 3) {
        log.warn(
          { sessionId: a.sessionId, leaseId: a.leaseId, ttlSeconds: ttl },
          "Vault lease reached its max TTL; the database user expires while the session may still run",
        );
        return;
      }
      scheduleRenewal(a, ttl, increment);
    } catch (err) {
      const failure = toVaultFailure(err, "sys/leases/renew");
      log.warn(
        { sessionId: a.sessionId, leaseId: a.leaseId, vault: failure.message },
        "Vault lease renewal failed",
      );
      const remaining = a.expiresAt - now();
      if (remaining > 1500 && active.has(a.leaseId)) {
        a.timer = setTimeout(() => void renew(a, increment), Math.min(5000, remaining / 2));
        a.timer.unref();
      }
    }
  }

  async function revoke(leaseId: string): Promise<boolean> {
    try {
      await deps.client.revokeLease(leaseId);
    } catch (err) {
      const failure = toVaultFailure(err, "sys/leases/revoke");
      // 400: Vault does not know the lease (malformed or long gone): nothing left to revoke.
      if (!(failure.kind === "rejected" && failure.status === 400)) {
        log.warn({ leaseId, vault: failure.message }, "Vault lease revocation failed; will retry");
        return false;
      }
    }
    await deps.leases.remove(leaseId).catch((err: unknown) => {
      log.warn({ leaseId, err: (err as NodeJS.ErrnoException).code }, "could not update the lease file");
    });
    return true;
  }

  async function release(a: Active): Promise<void> {
    if (!active.delete(a.leaseId)) return;
    if (a.timer) clearTimeout(a.timer);
    if (!(await revoke(a.leaseId))) {
      leftovers.add(a.leaseId);
      scheduleSweep();
    }
  }

  function scheduleSweep(): void {
    if (closed || retryTimer || leftovers.size === 0) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void revokeLeftovers();
    }, retryDelay);
    retryTimer.unref();
    retryDelay = Math.min(60_000, retryDelay * 2);
  }

  function revokeLeftovers(): Promise<{ revoked: number; pending: number }> {
    sweeping ??= (async () => {
      let revoked = 0;
      for (const id of [...leftovers]) {
        if (active.has(id)) {
          leftovers.delete(id);
          continue;
        }
        if (await revoke(id)) {
          leftovers.delete(id);
          revoked++;
        }
      }
      if (revoked > 0) log.info({ revoked }, "revoked Vault leases left by an earlier agent process");
      if (leftovers.size === 0) retryDelay = 2000;
      else scheduleSweep();
      return { revoked, pending: leftovers.size };
    })().finally(() => {
      sweeping = undefined;
    });
    return sweeping;
  }

  async function issue(path: string, sessionId: string | undefined, connection: string) {
    const res = await deps.client.read(path);
    const leaseId = res.lease_id ?? "";
    const username = res.data?.username;
    const password = res.data?.password;
    if (typeof username !== "string" || typeof password !== "string" || !username || !password) {
      if (leaseId) await revoke(leaseId);
      throw new VaultFailure("invalid_response", path, "Vault returned no username/password at that path");
    }
    if (!leaseId) return { secret: password, username } satisfies ResolvedCredential;
    try {
      await deps.leases.add({
        leaseId,
        connection,
        issuedAt: new Date(now()).toISOString(),
        ...(sessionId ? { sessionId } : {}),
      });
    } catch (err) {
      await revoke(leaseId);
      throw new VaultFailure(
        "unavailable",
        path,
        `cannot record the lease in the agent's state dir (${(err as NodeJS.ErrnoException).code ?? "error"})`,
      );
    }
    const duration = res.lease_duration ?? 0;
    const a: Active = { leaseId, sessionId, timer: undefined, expiresAt: now() + duration * 1000 };
    active.set(leaseId, a);
    if (res.renewable && duration > 0) scheduleRenewal(a, duration, duration);
    return { secret: password, username, release: () => release(a) } satisfies ResolvedCredential;
  }

  return {
    issue,
    revokeLeftovers,
    activeLeases: () => [...active.keys()],
    async close(): Promise<void> {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      const open = [...active.values()];
      for (const a of open) if (a.timer) clearTimeout(a.timer);
      const done = Promise.all(open.map((a) => release(a)));
      await Promise.race([done, new Promise((r) => setTimeout(r, 3000).unref())]);
      await deps.leases.flush().catch(() => undefined);
    },
  };
}
