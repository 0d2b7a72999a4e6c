import { constants, createHash, publicEncrypt } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";

const sha1 = (...parts: Buffer[]) => createHash("sha1").update(Buffer.concat(parts)).digest();
const sha256 = (...parts: Buffer[]) => createHash("sha256").update(Buffer.concat(parts)).digest();
const sha512 = (...parts: Buffer[]) => createHash("sha512").update(Buffer.concat(parts)).digest();

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i % b.length]!;
  return out;
}

/** The 20-byte nonce part of auth data (servers send it with a trailing NUL). */
export function scrambleOf(authData: Buffer): Buffer {
  return authData.length > 20 ? authData.subarray(0, 20) : authData;
}

/** mysql_native_password: SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw))); empty for an empty password. */
export function nativePasswordScramble(password: string, nonce: Buffer): Buffer {
  if (password.length === 0) return Buffer.alloc(0);
  const stage1 = sha1(Buffer.from(password, "utf8"));
  const stage2 = sha1(stage1);
  return xor(stage1, sha1(scrambleOf(nonce), stage2));
}

/** caching_sha2_password fast auth: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce). */
export function cachingSha2Scramble(password: string, nonce: Buffer): Buffer {
  if (password.length === 0) return Buffer.alloc(0);
  const stage1 = sha256(Buffer.from(password, "utf8"));
  const stage2 = sha256(stage1);
  return xor(stage1, sha256(stage2, scrambleOf(nonce)));
}

/**
 * caching_sha2_password / sha256_password full auth without TLS: (password + NUL) XOR the
 * nonce, encrypted with the server's RSA public key (OAEP padding).
 */
export function rsaEncryptPassword(password: string, nonce: Buffer, publicKeyPem: string | Buffer): Buffer {
  const plain = xor(Buffer.from(`${password}\0`, "utf8"), scrambleOf(nonce));
  return publicEncrypt({ key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING }, plain);
}

const L = ed25519.Point.Fn.ORDER;

function leToBigInt(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

function bigIntToLe(v: bigint, size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = v;
  for (let i = 0; i < size; i++) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

function ed25519Secret(password: string): { scalar: bigint; prefix: Buffer; publicKey: Buffer } {
  const az = sha512(Buffer.from(password, "utf8"));
  az[0]! &= 248;
  az[31]! &= 63;
  az[31]! |= 64;
  const scalar = leToBigInt(az.subarray(0, 32)) % L;
  const publicKey = Buffer.from(ed25519.Point.BASE.multiply(scalar).toBytes());
  return { scalar, prefix: az.subarray(32, 64), publicKey };
}

/**
 * MariaDB client_ed25519: an Ed25519 signature of the server's nonce whose secret scalar
 * and nonce prefix come from SHA-512 of the password itself (not of a 32-byte seed).
 */
export function ed25519Sign(password: string, message: Buffer): Buffer {
  const { scalar, prefix, publicKey } = ed25519Secret(password);
  const r = leToBigInt(sha512(prefix, message)) % L;
  const R = Buffer.from(ed25519.Point.BASE.multiply(r).toBytes());
  const k = leToBigInt(sha512(R, publicKey, message)) % L;
  const S = (r + k * scalar) % L;
  return Buffer.concat([R, bigIntToLe(S, 32)]);
}

/** The public key MariaDB stores for an ed25519 account, base64 without padding (as PASSWORD() shows it). */
export function ed25519PublicKey(password: string): string {
  return ed25519Secret(password).publicKey.toString("base64").replace(/=+$/, "");
}

/** Verifies a client_ed25519 signature (for tests and fake servers). */
export function ed25519Verify(signature: Buffer, message: Buffer, publicKey: Buffer): boolean {
  return ed25519.verify(signature, message, publicKey, { zip215: false });
}
