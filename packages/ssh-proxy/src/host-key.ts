import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import ssh2 from "ssh2";

export interface HostKey {
  /** OpenSSH private key text. */
  privateKey: string;
  /** `ssh-ed25519 AAAA…` */
  publicKey: string;
  fingerprint: string;
}

/** OpenSSH's `SHA256:<base64 without padding>` fingerprint of a public key blob or `type base64` line. */
export function fingerprint(key: Buffer | string): string {
  const blob = typeof key === "string" ? Buffer.from(key.trim().split(/\s+/)[1] ?? "", "base64") : key;
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

function describe(privateKey: string): HostKey {
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`host key is not readable: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  const blob = key.getPublicSSH();
  return {
    privateKey,
    publicKey: `${key.type} ${blob.toString("base64")}`,
    fingerprint: fingerprint(blob),
  };
}

/** Reads the host key at `file`, generating an ed25519 key there on first use. */
export function loadOrCreateHostKey(file: string): HostKey {
  if (existsSync(file)) return describe(readFileSync(file, "utf8"));
  const key = generateReadableKey();
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, key.privateKey, { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return key;
}

/**
 * A new ed25519 key that ssh2 can read back. Now and then ssh2's generator writes a key
 * its own parser refuses ("Malformed OpenSSH private key"); such a key is never stored,
 * since an agent would then fail to start on every restart.
 */
function generateReadableKey(): HostKey {
  let last: unknown;
  for (let attempt = 0; attempt < 8; attempt++) {
    try {
      return describe(ssh2.utils.generateKeyPairSync("ed25519").private);
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/** True when a resolved secret is a private key rather than a password. */
export function looksLikePrivateKey(secret: string): boolean {
  return /^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(secret.trimStart());
}
