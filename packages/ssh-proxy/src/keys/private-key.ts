import { generateKeyPairSync, type KeyObject, randomBytes } from "node:crypto";
import { ed25519Blob } from "./certificate";
import { formatAuthorizedKey } from "./public-key";
import { SshWriter } from "./wire";

export interface GeneratedKeyPair {
  /** Unencrypted OpenSSH private key text (`-----BEGIN OPENSSH PRIVATE KEY-----`). */
  privateKey: string;
  /** `ssh-ed25519 AAAA… comment` */
  publicKey: string;
}

/** Writes an Ed25519 key in OpenSSH's `openssh-key-v1` format, unencrypted (cipher and kdf `none`). */
export function openSshPrivateKey(key: KeyObject, comment: string): string {
  const jwk = key.export({ format: "jwk" });
  if (jwk.crv !== "Ed25519" || typeof jwk.d !== "string" || typeof jwk.x !== "string")
    throw new Error("not an Ed25519 private key");
  const seed = Buffer.from(jwk.d, "base64url");
  const pub = Buffer.from(jwk.x, "base64url");
  const check = randomBytes(4).readUInt32BE();
  const body = new SshWriter()
    .u32(check)
    .u32(check)
    .string("ssh-ed25519")
    .string(pub)
    .string(Buffer.concat([seed, pub]))
    .string(comment)
    .bytes();
  const padLength = (8 - (body.length % 8)) % 8;
  const padding = Buffer.from(Array.from({ length: padLength }, (_, i) => i + 1));
  const blob = Buffer.concat([
    Buffer.from("openssh-key-v1\0", "latin1"),
    new SshWriter()
      .string("none")
      .string("none")
      .string("")
      .u32(1)
      .string(ed25519Blob(key))
      .string(Buffer.concat([body, padding]))
      .bytes(),
  ]);
  const lines = blob.toString("base64").match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** A new Ed25519 key pair in OpenSSH formats. */
export function generateEd25519KeyPair(comment: string): GeneratedKeyPair {
  const { privateKey } = generateKeyPairSync("ed25519");
  return {
    privateKey: openSshPrivateKey(privateKey, comment),
    publicKey: formatAuthorizedKey({ type: "ssh-ed25519", blob: ed25519Blob(privateKey), comment }),
  };
}
