import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * API keys look like `slk_<prefix>.<secret>`. The prefix is public and indexes the
 * row; only a SHA-256 hash of the secret is stored and compared in constant time.
 */
const keyPattern = /^slk_([a-z0-9]{12})\.([A-Za-z0-9_-]{43})$/;

export interface GeneratedApiKey {
  prefix: string;
  secretHash: string;
  plaintext: string;
}

export function generateApiKey(): GeneratedApiKey {
  const prefix = `slk_${randomBytes(9)
    .toString("base64url")
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "0")
    .slice(0, 12)}`;
  const secret = randomBytes(32).toString("base64url");
  return { prefix, secretHash: hashSecret(secret), plaintext: `${prefix}.${secret}` };
}

export function parseApiKey(value: string): { prefix: string; secret: string } | undefined {
  const m = keyPattern.exec(value);
  if (!m?.[1] || !m[2]) return undefined;
  return { prefix: `slk_${m[1]}`, secret: m[2] };
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), "hex");
  const b = Buffer.from(storedHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Agent enrollment tokens: random, shown once, stored as a SHA-256 hash. */
export function generateEnrollmentToken(): { plaintext: string; hash: string } {
  const plaintext = `sat_${randomBytes(32).toString("base64url")}`;
  return { plaintext, hash: hashSecret(plaintext) };
}
