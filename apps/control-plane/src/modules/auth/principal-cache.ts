import { createHash } from "node:crypto";
import type { Principal } from "../../server/principal";

export interface PrincipalCacheOptions {
  /** How long a verified credential's principal is reused; revocation takes effect within it. */
  ttlMs: number;
  /** Entries kept at most (oldest dropped first). */
  max: number;
}

/**
 * Verified credentials → principal, briefly. A burst of connects presenting the same API
 * key or access token costs one lookup: concurrent identical requests share the pending
 * lookup, and later ones reuse its answer for `ttlMs`. Failures are never cached (a
 * fixed typo must work at once), and keys are SHA-256 of the credential, never the secret.
 */
export function createPrincipalCache(opts: PrincipalCacheOptions) {
  const entries = new Map<string, { until: number; principal: Promise<Principal> }>();

  return {
    get(credential: string, load: () => Promise<Principal>): Promise<Principal> {
      const key = createHash("sha256").update(credential).digest("base64url");
      const now = Date.now();
      const hit = entries.get(key);
      if (hit && hit.until > now) return hit.principal;
      if (hit) entries.delete(key);
      const principal = load();
      entries.set(key, { until: now + opts.ttlMs, principal });
      principal.catch(() => {
        if (entries.get(key)?.principal === principal) entries.delete(key);
      });
      while (entries.size > opts.max) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
      return principal;
    },
    clear: () => entries.clear(),
  };
}
