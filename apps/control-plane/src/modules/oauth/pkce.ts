import { createHash, timingSafeEqual } from "node:crypto";

/** RFC 7636: 43 to 128 characters of [A-Z a-z 0-9 - . _ ~]. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
/** A base64url SHA-256 digest, as `S256` challenges are. */
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

export function validChallenge(challenge: string): boolean {
  return CHALLENGE.test(challenge);
}

/** Whether `verifier` hashes to `challenge` under S256 (the only method Sluice accepts). */
export function verifierMatches(verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier)) return false;
  const digest = Buffer.from(createHash("sha256").update(verifier).digest("base64url"));
  const want = Buffer.from(challenge);
  return digest.length === want.length && timingSafeEqual(digest, want);
}
