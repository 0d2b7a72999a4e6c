import { type KeyObject, randomBytes, sign } from "node:crypto";
import {
  isPublicKeyType,
  keyBlob,
  type PublicKeyType,
  parseKeyBlob,
  readKeyFields,
  verifySshSignature,
} from "./public-key";
import { packStrings, SshFormatError, SshReader, SshWriter } from "./wire";

/** PROTOCOL.certkeys: an OpenSSH certificate's `<type>-cert-v01@openssh.com` name. */
export const CERT_SUFFIX = "-cert-v01@openssh.com";
export const MAX_CERT_BYTES = 16_384;
const CERT_TYPES = { user: 1, host: 2 } as const;
/** valid_before meaning "forever". */
export const FOREVER = 0xffff_ffff_ffff_ffffn;

export interface CertificateSpec {
  /** The subject's public key blob. */
  key: Buffer;
  serial: bigint;
  type: "user" | "host";
  keyId: string;
  principals: string[];
  /** Seconds since the epoch. */
  validAfter: bigint;
  validBefore: bigint;
  /** Name → value (e.g. `force-command`); sorted when written. */
  criticalOptions?: Record<string, string>;
  /** Extension names with empty data (e.g. `permit-pty`); sorted when written. */
  extensions?: string[];
}

export interface Certificate extends Required<CertificateSpec> {
  certType: string;
  keyType: PublicKeyType;
  nonce: Buffer;
  /** The CA's public key blob. */
  signatureKey: Buffer;
  /** The CA's signature blob. */
  signature: Buffer;
  /** The bytes the signature covers. */
  signed: Buffer;
  /** The whole certificate blob. */
  blob: Buffer;
}

export function isCertificateType(t: string): boolean {
  return t.endsWith(CERT_SUFFIX) && isPublicKeyType(t.slice(0, -CERT_SUFFIX.length));
}

function sortedEntries(record: Record<string, string>): [string, string][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The public key blob of an Ed25519 node KeyObject (public or private). */
export function ed25519Blob(key: KeyObject): Buffer {
  const jwk = key.export({ format: "jwk" });
  if (jwk.crv !== "Ed25519" || typeof jwk.x !== "string") throw new Error("not an Ed25519 key");
  return keyBlob("ssh-ed25519", [Buffer.from(jwk.x, "base64url")]);
}

/** Signs a certificate with an Ed25519 CA key and returns the certificate blob. */
export function signCertificate(
  spec: CertificateSpec,
  caPrivateKey: KeyObject,
  nonce = randomBytes(32),
): Buffer {
  const { type, fields } = parseKeyBlob(spec.key);
  const w = new SshWriter().string(`${type}${CERT_SUFFIX}`).string(nonce);
  for (const f of fields) w.string(f);
  const options = new SshWriter();
  for (const [name, value] of sortedEntries(spec.criticalOptions ?? {}))
    options.string(name).string(new SshWriter().string(value).bytes());
  const extensions = new SshWriter();
  for (const name of [...new Set(spec.extensions ?? [])].sort()) extensions.string(name).string("");
  w.u64(spec.serial)
    .u32(CERT_TYPES[spec.type])
    .string(spec.keyId)
    .string(packStrings(spec.principals))
    .u64(spec.validAfter)
    .u64(spec.validBefore)
    .string(options.bytes())
    .string(extensions.bytes())
    .string("")
    .string(ed25519Blob(caPrivateKey));
  const signed = w.bytes();
  const signature = new SshWriter()
    .string("ssh-ed25519")
    .string(sign(null, signed, caPrivateKey))
    .bytes();
  return Buffer.concat([signed, new SshWriter().string(signature).bytes()]);
}

function readPairs(buf: Buffer, field: string, withValues: boolean): Record<string, string> {
  const r = new SshReader(buf);
  const out: Record<string, string> = {};
  let count = 0;
  while (!r.atEnd()) {
    if (++count > 64) throw new SshFormatError(`too many ${field}`);
    const name = r.text(`${field} name`, 256);
    const data = r.string(`${field} data`, 4096);
    if (name in out) throw new SshFormatError(`duplicate ${field} ${name}`);
    if (withValues && data.length > 0) {
      const inner = new SshReader(data);
      out[name] = inner.text(`${field} value`, 4096);
      inner.end(`${field} value`);
    } else out[name] = "";
  }
  return out;
}

/** Parses an OpenSSH certificate blob; every length is bounded. Does not check the signature. */
export function parseCertificate(blob: Buffer): Certificate {
  if (blob.length > MAX_CERT_BYTES) throw new SshFormatError("the certificate is too large");
  const r = new SshReader(blob);
  const certType = r.text("certificate type", 64);
  if (!isCertificateType(certType)) throw new SshFormatError(`unsupported certificate type ${certType}`);
  const keyType = certType.slice(0, -CERT_SUFFIX.length) as PublicKeyType;
  const nonce = r.string("nonce", 256);
  const key = keyBlob(keyType, readKeyFields(keyType, r));
  parseKeyBlob(key);
  const serial = r.u64("serial");
  const typeCode = r.u32("certificate role");
  const type = typeCode === 1 ? "user" : typeCode === 2 ? "host" : undefined;
  if (!type) throw new SshFormatError("unknown certificate role");
  const keyId = r.text("key id", 1024);
  const principalsReader = new SshReader(r.string("principals", 8192));
  const principals: string[] = [];
  while (!principalsReader.atEnd()) {
    if (principals.length >= 256) throw new SshFormatError("too many principals");
    principals.push(principalsReader.text("principal", 256));
  }
  const validAfter = r.u64("valid after");
  const validBefore = r.u64("valid before");
  const criticalOptions = readPairs(r.string("critical options", 8192), "critical option", true);
  const extensions = Object.keys(readPairs(r.string("extensions", 8192), "extension", false));
  r.string("reserved", 1024);
  const signatureKey = r.string("signature key", 2100);
  const signed = blob.subarray(0, r.offset);
  const signature = r.string("signature", 1100);
  r.end("the certificate");
  return {
    certType,
    keyType,
    nonce,
    key,
    serial,
    type,
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions,
    extensions,
    signatureKey,
    signature,
    signed,
    blob,
  };
}

/** Parses `<cert-type> <base64> [comment]` (a `-cert.pub` file's line). */
export function parseCertificateLine(line: string): Certificate {
  if (line.length > MAX_CERT_BYTES * 2) throw new SshFormatError("the certificate line is too long");
  const [type = "", data = ""] = line.trim().split(/\s+/);
  if (!isCertificateType(type)) throw new SshFormatError("not an OpenSSH certificate");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw new SshFormatError("the certificate data is not base64");
  const cert = parseCertificate(Buffer.from(data, "base64"));
  if (cert.certType !== type) throw new SshFormatError("the certificate type does not match its data");
  return cert;
}

export function formatCertificate(cert: Pick<Certificate, "certType" | "blob">, comment?: string): string {
  return `${cert.certType} ${cert.blob.toString("base64")}${comment ? ` ${comment}` : ""}`;
}

export interface UserCertificateCheck {
  /** Public key blobs of the CAs trusted to sign user certificates. */
  trustedCas: Buffer[];
  /** The principal the certificate must name. */
  principal: string;
  /** Seconds since the epoch. */
  now: bigint;
}

/**
 * Why a user certificate must be refused, or undefined when it is acceptable: signed by
 * a trusted CA, a user certificate, inside its validity window, naming the principal and
 * carrying no critical option (none is honoured, so any is refused).
 */
export function userCertificateProblem(cert: Certificate, check: UserCertificateCheck): string | undefined {
  if (!check.trustedCas.some((ca) => ca.equals(cert.signatureKey))) return "not signed by a trusted CA";
  if (!verifySshSignature(cert.signatureKey, cert.signed, cert.signature)) return "bad CA signature";
  if (cert.type !== "user") return "not a user certificate";
  if (check.now < cert.validAfter) return "not yet valid";
  if (check.now >= cert.validBefore) return "expired";
  if (!cert.principals.includes(check.principal)) return "principal not listed";
  if (Object.keys(cert.criticalOptions).length > 0) return "unsupported critical option";
  return undefined;
}
