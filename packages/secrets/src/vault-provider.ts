import { openLeaseFile } from "./lease-file";
import type { CredentialReference } from "./reference";
import type { ResolveContext, ResolvedCredential, SecretProvider } from "./resolver";
import { createVaultClient, type VaultClientOptions } from "./vault-client";
import { unresolvable, VaultFailure } from "./vault-errors";
import { createKvReader } from "./vault-kv";
import { createDynamicCredentials } from "./vault-leases";

export interface VaultProviderOptions extends VaultClientOptions {
  /** How long a static KV secret is served from memory before it is read again (default 60). */
  kvTtlSeconds?: number;
  /** File recording the dynamic leases this agent holds (in its state dir); omitted: not recorded. */
  leaseFile?: string;
  /** Revoke the leases a previous process left in `leaseFile` right away (default true). */
  revokeLeftoversOnStart?: boolean;
}

export interface VaultProvider extends SecretProvider {
  /** Revokes leases recorded by an earlier process; retried in the background while Vault refuses. */
  revokeLeftovers(): Promise<{ revoked: number; pending: number }>;
  /** Lease ids of the dynamic credentials currently held by sessions. */
  activeLeases(): string[];
  close(): Promise<void>;
}

/**
 * Resolves `vault:<kv path>#<field>` (KV v1 or v2, cached for the TTL) and
 * `vault-db:<mount>/creds/<role>` (a fresh database user leased per session, revoked on
 * release). Errors are `credential.unresolvable` naming the connection and the
 * reference; nothing Vault returns or is sent (tokens, secret_ids, values) reaches a
 * message or a log line.
 */
export function createVaultProvider(opts: VaultProviderOptions): VaultProvider {
  const now = opts.now ?? Date.now;
  const logger = opts.logger ?? { info: () => undefined, warn: () => undefined };
  const client = createVaultClient(opts);
  const kv = createKvReader(client, (opts.kvTtlSeconds ?? 60) * 1000, now);
  const leases = openLeaseFile(opts.leaseFile, (why) =>
    logger.warn({ why }, "ignoring unreadable lease file"),
  );
  const dynamic = createDynamicCredentials({ client, leases, logger, now });
  if (opts.revokeLeftoversOnStart !== false && leases.leftovers.length > 0) {
    logger.info(
      { leases: leases.leftovers.length },
      "revoking Vault leases left by an earlier agent process",
    );
    void dynamic.revokeLeftovers();
  }

  async function resolveKv(ref: CredentialReference): Promise<ResolvedCredential> {
    const fields = await kv.read(ref.path);
    const field = ref.field ?? "";
    const value = fields[field];
    if (value === undefined || value === null) {
      throw new VaultFailure("not_found", ref.path, `the secret has no field ${JSON.stringify(field)}`);
    }
    if (typeof value !== "string" || value === "") {
      throw new VaultFailure(
        "invalid_response",
        ref.path,
        `field ${JSON.stringify(field)} is not a non-empty string`,
      );
    }
    return { secret: value };
  }

  return {
    schemes: ["vault", "vault-db"],
    async resolve(ref: CredentialReference, ctx: ResolveContext): Promise<ResolvedCredential> {
      try {
        if (ref.scheme === "vault") return await resolveKv(ref);
        return await dynamic.issue(ref.path, ctx.sessionId, ctx.connection);
      } catch (err) {
        if (err instanceof VaultFailure) throw unresolvable(ctx.connection, ref.raw, err.message, err);
        throw unresolvable(ctx.connection, ref.raw, "unexpected error talking to Vault", err);
      }
    },
    revokeLeftovers: () => dynamic.revokeLeftovers(),
    activeLeases: () => dynamic.activeLeases(),
    async close() {
      await dynamic.close();
      client.close();
    },
  };
}
