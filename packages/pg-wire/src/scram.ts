import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { ProtocolError } from "./errors";

export const SCRAM_SHA_256 = "SCRAM-SHA-256";
const GS2_HEADER = "n,,";
/** Iteration counts above this are refused: an upstream could otherwise make us spin. */
const MAX_ITERATIONS = 10_000_000;

export interface ScramClientOptions {
  password: string;
  /** Sent in client-first; PostgreSQL ignores it and uses the startup user. */
  username?: string;
  /** Fixed nonce for tests; random 18 bytes (base64) otherwise. */
  nonce?: string;
}

export interface ScramClient {
  /** client-first-message to send in SASLInitialResponse. */
  clientFirst(): string;
  /** Consumes server-first-message, returns client-final-message. */
  clientFinal(serverFirst: string): Promise<string>;
  /** Verifies the server signature in server-final-message; throws ProtocolError on mismatch. */
  verifyServerFinal(serverFinal: string): void;
}

function fail(message: string): never {
  throw new ProtocolError("auth_failed", `SCRAM authentication failed: ${message}`);
}

function saslName(s: string): string {
  return s.replaceAll("=", "=3D").replaceAll(",", "=2C");
}

/** Parses "k=v,k=v" attributes; keys are single letters. */
export function parseScramAttributes(msg: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of msg.split(",")) {
    if (part.length < 2 || part[1] !== "=") fail("malformed server message");
    out.set(part[0]!, part.slice(2));
  }
  return out;
}

function hmac(key: Buffer, data: string | Buffer): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

function derive(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, iterations, 32, "sha256", (err, key) =>
      err ? reject(new ProtocolError("auth_failed", "SCRAM key derivation failed")) : resolve(key),
    );
  });
}

/** Salted passwords derived lately, so a burst of connections as one role runs PBKDF2 once. */
const MAX_CACHED_KEYS = 256;
const derived = new Map<string, Promise<Buffer>>();

/**
 * PBKDF2 of the password for this salt and iteration count (thousands of HMAC rounds).
 * The result is kept in memory, keyed by a digest of all three, like PgBouncer keeps the
 * SCRAM keys of the passwords it knows; a changed password or salt is a new key.
 */
function saltedPassword(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  const normalized = password.normalize("NFKC");
  const id = createHash("sha256")
    .update(salt)
    .update(`\0${iterations}\0`)
    .update(normalized)
    .digest("base64");
  let key = derived.get(id);
  if (!key) {
    key = derive(normalized, salt, iterations);
    key.catch(() => derived.delete(id));
    derived.set(id, key);
    if (derived.size > MAX_CACHED_KEYS) derived.delete(derived.keys().next().value as string);
  }
  return key;
}

interface ServerFirst {
  nonce: string;
  salt: Buffer;
  iterations: number;
}

function parseServerFirst(serverFirst: string, clientNonce: string): ServerFirst {
  const attrs = parseScramAttributes(serverFirst);
  const nonce = attrs.get("r");
  const salt = attrs.get("s");
  const iterations = Number(attrs.get("i"));
  if (!nonce?.startsWith(clientNonce) || nonce.length === clientNonce.length) {
    fail("server nonce does not extend the client nonce");
  }
  if (!salt) fail("server sent no salt");
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    fail("invalid iteration count");
  }
  return { nonce, salt: Buffer.from(salt, "base64"), iterations };
}

/** SCRAM-SHA-256 client (RFC 5802 / RFC 7677) without channel binding. */
export function createScramClient(options: ScramClientOptions): ScramClient {
  const clientNonce = options.nonce ?? randomBytes(18).toString("base64");
  const clientFirstBare = `n=${saslName(options.username ?? "")},r=${clientNonce}`;
  let expectedServerSignature: Buffer | undefined;

  return {
    clientFirst: () => GS2_HEADER + clientFirstBare,
    async clientFinal(serverFirst) {
      const sf = parseServerFirst(serverFirst, clientNonce);
      const salted = await saltedPassword(options.password, sf.salt, sf.iterations);
      const clientKey = hmac(salted, "Client Key");
      const storedKey = createHash("sha256").update(clientKey).digest();
      const withoutProof = `c=${Buffer.from(GS2_HEADER).toString("base64")},r=${sf.nonce}`;
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
      const proof = xor(clientKey, hmac(storedKey, authMessage));
      expectedServerSignature = hmac(hmac(salted, "Server Key"), authMessage);
      return `${withoutProof},p=${proof.toString("base64")}`;
    },
    verifyServerFinal(serverFinal) {
      if (!expectedServerSignature) fail("server-final before server-first");
      const attrs = parseScramAttributes(serverFinal.trim());
      const error = attrs.get("e");
      if (error !== undefined) fail(`server reported ${error.slice(0, 64)}`);
      const v = Buffer.from(attrs.get("v") ?? "", "base64");
      if (v.length !== expectedServerSignature.length || !timingSafeEqual(v, expectedServerSignature)) {
        fail("server signature mismatch");
      }
    },
  };
}
