import { createHash, createPublicKey, type KeyObject, verify } from "node:crypto";
import { SshFormatError, SshReader, SshWriter } from "./wire";

export type PublicKeyType =
  | "ssh-ed25519"
  | "ecdsa-sha2-nistp256"
  | "ecdsa-sha2-nistp384"
  | "ecdsa-sha2-nistp521"
  | "ssh-rsa";

export const PUBLIC_KEY_TYPES: readonly PublicKeyType[] = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
];

export const MIN_RSA_BITS = 2048;
/** The longest authorized_keys line accepted (an RSA 16384-bit key is about 2.8 KB). */
export const MAX_KEY_LINE = 8192;

const CURVES = {
  "ecdsa-sha2-nistp256": { curve: "nistp256", jwk: "P-256", size: 32, hash: "sha256" },
  "ecdsa-sha2-nistp384": { curve: "nistp384", jwk: "P-384", size: 48, hash: "sha384" },
  "ecdsa-sha2-nistp521": { curve: "nistp521", jwk: "P-521", size: 66, hash: "sha512" },
} as const;

type EcdsaType = keyof typeof CURVES;

/** A public key in SSH wire form. */
export interface SshPublicKey {
  type: PublicKeyType;
  /** The RFC 4253 public key blob (`string type` followed by the key's fields). */
  blob: Buffer;
  comment: string;
}

export function isPublicKeyType(t: string): t is PublicKeyType {
  return (PUBLIC_KEY_TYPES as readonly string[]).includes(t);
}

/** OpenSSH's `SHA256:<base64 without padding>` fingerprint of a public key blob. */
export function keyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The key's fields after its type name, as strings (mpints stay in wire form). */
export function readKeyFields(type: PublicKeyType, r: SshReader): Buffer[] {
  if (type === "ssh-ed25519") {
    const pk = r.string("ed25519 key", 64);
    if (pk.length !== 32) throw new SshFormatError("an ed25519 key has 32 bytes");
    return [pk];
  }
  if (type === "ssh-rsa") return [r.string("rsa exponent", 16), r.string("rsa modulus", 2100)];
  const curve = r.text("ecdsa curve", 16);
  if (curve !== CURVES[type].curve) throw new SshFormatError(`curve ${curve} does not match ${type}`);
  const q = r.string("ecdsa point", 160);
  if (q.length !== 1 + 2 * CURVES[type].size || q[0] !== 4)
    throw new SshFormatError("an ecdsa key must be an uncompressed point");
  return [Buffer.from(curve), q];
}

/** The public key blob of `type` with `fields`. */
export function keyBlob(type: PublicKeyType, fields: Buffer[]): Buffer {
  const w = new SshWriter().string(type);
  for (const f of fields) w.string(f);
  return w.bytes();
}

/** Parses and checks a public key blob: known type, exact length, RSA at least 2048 bits. */
export function parseKeyBlob(blob: Buffer): { type: PublicKeyType; fields: Buffer[] } {
  const r = new SshReader(blob);
  const type = r.text("key type", 64);
  if (!isPublicKeyType(type)) throw new SshFormatError(`unsupported key type ${type.slice(0, 64)}`);
  const fields = readKeyFields(type, r);
  r.end("the key");
  if (type === "ssh-rsa" && rsaBits(fields[1] as Buffer) < MIN_RSA_BITS)
    throw new SshFormatError(`RSA keys need at least ${MIN_RSA_BITS} bits`);
  return { type, fields };
}

function stripZeros(mpint: Buffer): Buffer {
  let i = 0;
  while (i < mpint.length - 1 && mpint[i] === 0) i += 1;
  return mpint.subarray(i);
}

function rsaBits(modulus: Buffer): number {
  const n = stripZeros(modulus);
  const top = n[0] ?? 0;
  return top === 0 ? 0 : (n.length - 1) * 8 + (32 - Math.clz32(top));
}

/**
 * Parses one authorized_keys line without options: `<type> <base64> [comment]`.
 * Throws SshFormatError with a message fit to show the user.
 */
export function parseAuthorizedKey(line: string): SshPublicKey {
  if (line.length > MAX_KEY_LINE) throw new SshFormatError("the public key line is too long");
  const parts = line.trim().split(/\s+/);
  const [type = "", data = "", ...rest] = parts;
  if (type.startsWith("sk-")) throw new SshFormatError("security-key (sk-) SSH keys are not supported");
  if (!isPublicKeyType(type)) {
    throw new SshFormatError(
      type.includes("=") || type.includes(",")
        ? "remove the authorized_keys options before the key type"
        : `unsupported key type ${JSON.stringify(type.slice(0, 64))}: use ${PUBLIC_KEY_TYPES.join(", ")}`,
    );
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw new SshFormatError("the key data is not base64");
  const blob = Buffer.from(data, "base64");
  const parsed = parseKeyBlob(blob);
  if (parsed.type !== type) throw new SshFormatError(`the key data is a ${parsed.type} key, not ${type}`);
  const comment = rest.join(" ");
  if (comment.length > 200 || /[\p{Cc}]/u.test(comment))
    throw new SshFormatError("the key comment is too long or has control characters");
  return { type, blob, comment };
}

export function formatAuthorizedKey(k: { type: string; blob: Buffer; comment?: string }): string {
  return `${k.type} ${k.blob.toString("base64")}${k.comment ? ` ${k.comment}` : ""}`;
}

/** A node crypto public key for an SSH public key blob. */
export function toKeyObject(blob: Buffer): KeyObject {
  const { type, fields } = parseKeyBlob(blob);
  const b64 = (b: Buffer) => b.toString("base64url");
  if (type === "ssh-ed25519") {
    return createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: b64(fields[0] as Buffer) },
      format: "jwk",
    });
  }
  if (type === "ssh-rsa") {
    const [e, n] = fields as [Buffer, Buffer];
    return createPublicKey({
      key: { kty: "RSA", n: b64(stripZeros(n)), e: b64(stripZeros(e)) },
      format: "jwk",
    });
  }
  const c = CURVES[type];
  const q = fields[1] as Buffer;
  return createPublicKey({
    key: { kty: "EC", crv: c.jwk, x: b64(q.subarray(1, 1 + c.size)), y: b64(q.subarray(1 + c.size)) },
    format: "jwk",
  });
}

function fixed(mpint: Buffer, size: number): Buffer {
  const v = stripZeros(mpint);
  if (v.length > size) throw new SshFormatError("ecdsa signature value too large");
  return Buffer.concat([Buffer.alloc(size - v.length), v]);
}

/**
 * Verifies an SSH signature blob (`string algorithm, string signature`) over `data`
 * with the public key `keyBlob`. RSA needs rsa-sha2-256 or -512 (SHA-1 is refused).
 */
export function verifySshSignature(keyBlob: Buffer, data: Buffer, signature: Buffer): boolean {
  try {
    const { type } = parseKeyBlob(keyBlob);
    const r = new SshReader(signature);
    const algo = r.text("signature algorithm", 64);
    const raw = r.string("signature", 1100);
    r.end("the signature");
    const key = toKeyObject(keyBlob);
    if (type === "ssh-ed25519") return algo === type && raw.length === 64 && verify(null, data, key, raw);
    if (type === "ssh-rsa") {
      const hash = algo === "rsa-sha2-256" ? "sha256" : algo === "rsa-sha2-512" ? "sha512" : undefined;
      return hash !== undefined && verify(hash, data, key, raw);
    }
    if (algo !== type) return false;
    const c = CURVES[type as EcdsaType];
    const rs = new SshReader(raw);
    const sigR = rs.string("ecdsa r", 80);
    const sigS = rs.string("ecdsa s", 80);
    rs.end("the ecdsa signature");
    const p1363 = Buffer.concat([fixed(sigR, c.size), fixed(sigS, c.size)]);
    return verify(c.hash, data, { key, dsaEncoding: "ieee-p1363" }, p1363);
  } catch {
    return false;
  }
}
