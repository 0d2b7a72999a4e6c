import type { VaultClient } from "./vault-client";
import { toVaultFailure, VaultFailure } from "./vault-errors";

/**
 * KV version by path: `<mount>/data/<path>` is a KV v2 read (the secret is under
 * `data.data`), anything else a KV v1 read (the secret is under `data`). This needs no
 * `sys/mounts` permission; a KV v1 mount whose secrets live under a top-level `data/`
 * folder is the one layout it cannot express.
 */
export function kvVersion(path: string): 1 | 2 {
  return path.split("/")[1] === "data" && path.split("/").length > 2 ? 2 : 1;
}

export interface KvReader {
  /** The fields of the secret at `path`, from cache while younger than the TTL. */
  read(path: string): Promise<Record<string, unknown>>;
}

interface Entry {
  fields: Record<string, unknown>;
  fetchedAt: number;
}

/**
 * Static KV secrets with a TTL cache. A fresh entry is served from memory; an expired
 * one is read again, and when that read fails the caller gets the failure, never the
 * expired value. Concurrent reads of one path share one request.
 */
export function createKvReader(client: Pick<VaultClient, "read">, ttlMs: number, now = Date.now): KvReader {
  const cache = new Map<string, Entry>();
  const inflight = new Map<string, Promise<Record<string, unknown>>>();

  async function fetch(path: string): Promise<Record<string, unknown>> {
    const res = await client.read(path);
    const data = kvVersion(path) === 2 ? (res.data?.data ?? null) : (res.data ?? null);
    if (!data || typeof data !== "object" || Array.isArray(data)) {
      throw new VaultFailure(
        "not_found",
        path,
        "Vault returned no secret data at that path (deleted version?)",
      );
    }
    const fields = data as Record<string, unknown>;
    cache.set(path, { fields, fetchedAt: now() });
    return fields;
  }

  return {
    read(path) {
      const hit = cache.get(path);
      if (hit && now() - hit.fetchedAt < ttlMs) return Promise.resolve(hit.fields);
      cache.delete(path);
      let pending = inflight.get(path);
      if (!pending) {
        pending = fetch(path)
          .catch((err: unknown) => {
            if (!hit) throw err;
            const f = toVaultFailure(err, path);
            throw new VaultFailure(
              f.kind,
              path,
              `the cached value expired and re-reading it failed: ${f.message}`,
              f.status,
            );
          })
          .finally(() => inflight.delete(path));
        inflight.set(path, pending);
      }
      return pending;
    },
  };
}
