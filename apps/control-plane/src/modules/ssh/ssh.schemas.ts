import { z } from "zod";
import { nullableTimestamp, ref, timestamp } from "../../lib/schemas";

/** Certificates live one hour unless asked otherwise, twelve hours at most. */
export const DEFAULT_CERT_SECONDS = 3600;
export const MAX_CERT_SECONDS = 12 * 3600;
export const MIN_CERT_SECONDS = 60;

const publicKeyLine = z
  .string()
  .trim()
  .min(1)
  .max(8192)
  .describe("one authorized_keys line without options: `<type> <base64> [comment]`");

export const sshKeyDto = z.object({
  id: z.string(),
  userId: z.string(),
  name: z.string(),
  type: z.string(),
  fingerprint: z.string().describe("SHA256:<base64>, as `ssh-keygen -l` prints it"),
  publicKey: z.string(),
  createdAt: timestamp,
  lastUsedAt: nullableTimestamp,
});
export type SshKeyDto = z.infer<typeof sshKeyDto>;

export const addSshKeyBody = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1)
    .max(100)
    .regex(/^[\p{L}\p{N} ._@+-]+$/u, "use letters, digits, spaces and . _ @ + -"),
  publicKey: publicKeyLine,
});
export type AddSshKeyInput = z.infer<typeof addSshKeyBody>;

export const listSshKeysQuery = z.object({
  user: ref.optional().describe("another user's id or email (admins and auditors only)"),
});

export const signCertificateBody = z.strictObject({
  publicKey: publicKeyLine,
  validitySeconds: z
    .number()
    .int()
    .min(MIN_CERT_SECONDS)
    .max(MAX_CERT_SECONDS)
    .default(DEFAULT_CERT_SECONDS)
    .describe(`how long the certificate is valid; at most ${MAX_CERT_SECONDS} seconds`),
});
export type SignCertificateInput = z.infer<typeof signCertificateBody>;

export const certificateDto = z.object({
  certificate: z.string().describe("the `-cert.pub` line: `ssh-ed25519-cert-v01@openssh.com AAAA…`"),
  serial: z.string(),
  keyId: z.string(),
  principals: z.array(z.string()),
  validAfter: timestamp,
  validBefore: timestamp,
  caFingerprint: z.string(),
});
export type CertificateDto = z.infer<typeof certificateDto>;

export const sshCaDto = z.object({
  publicKey: z.string().describe("the CA's public key, for sshd's TrustedUserCAKeys"),
  fingerprint: z.string(),
});
