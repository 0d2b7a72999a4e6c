import ssh2 from "ssh2";
import { CERT_SUFFIX, parseCertificate, parseKeyBlob, verifySshSignature } from "./keys";
import type { ClientCredential } from "./server";

/** A key a client offered in `publickey` authentication. */
export interface OfferedKey {
  /** What the caller's `authenticate` receives once the client has signed. */
  credential: ClientCredential;
  /** Checks the client's signature over the authentication request (`blob`). */
  verify(blob: Buffer, signature: Buffer, hashAlgo?: string): boolean;
}

/**
 * Reads the key or certificate a client offers. Plain keys are verified by ssh2; for a
 * certificate, the signature is made by the key inside it. Unsupported types (DSA,
 * security keys, short RSA) are refused.
 */
export function offeredKey(algo: string, data: Buffer): OfferedKey | undefined {
  try {
    if (algo.endsWith(CERT_SUFFIX)) {
      const cert = parseCertificate(data);
      return {
        credential: { kind: "certificate", certificate: `${cert.certType} ${data.toString("base64")}` },
        verify: (blob, signature) => verifySshSignature(cert.key, blob, signature),
      };
    }
    const { type } = parseKeyBlob(data);
    const line = `${type} ${data.toString("base64")}`;
    const parsed = ssh2.utils.parseKey(line);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || key instanceof Error) return undefined;
    return {
      credential: { kind: "publickey", publicKey: line },
      verify: (blob, signature, hashAlgo) => key.verify(blob, signature, hashAlgo) === true,
    };
  } catch {
    return undefined;
  }
}
