import { AppError } from "@sluice/errors";
import type { VerificationKey } from "@sluice/proto";
import { type CryptoKey, decodeProtectedHeader, importSPKI, jwtVerify } from "jose";

export const GRANT_ISSUER = "sluice-control-plane";
export const GRANT_AUDIENCE = "sluice-agent";

export interface GrantClaims {
  sid: string;
  sub: string;
  name: string;
  kind: "human" | "service";
  conn: string;
  cname: string;
  agent: string;
  proto: string;
  /** The identity's Sluice groups (grants from older control planes have none). */
  grp?: string[];
  exp: number;
}

const jwtShape = /^[A-Za-z0-9_-]{10,2000}\.[A-Za-z0-9_-]{10,4000}\.[A-Za-z0-9_-]{20,200}$/;

/** A grant is a JWT whose header says `typ: sluice-grant+jwt`; anything else is a credential to exchange. */
export function looksLikeGrant(value: string): boolean {
  if (!jwtShape.test(value)) return false;
  try {
    return decodeProtectedHeader(value).typ === "sluice-grant+jwt";
  } catch {
    return false;
  }
}

/**
 * Verifies session grants offline with the public keys from the desired state.
 * A grant is bound to one agent and one connection.
 */
export function createGrantVerifier(keys: () => VerificationKey[]) {
  const imported = new Map<string, Promise<CryptoKey>>();

  function keyFor(kid: string): Promise<CryptoKey> {
    const entry = keys().find(
      (k) => k.kid === kid && (k.notAfterUnixMs === 0 || k.notAfterUnixMs > Date.now()),
    );
    if (!entry) throw new AppError("session.invalid_grant", "grant signed by an unknown or retired key");
    let key = imported.get(kid);
    if (!key) {
      key = importSPKI(entry.publicKeyPem, "EdDSA");
      imported.set(kid, key);
    }
    return key;
  }

  return {
    async verify(grant: string, expect: { agentId: string; connectionName: string }): Promise<GrantClaims> {
      if (!looksLikeGrant(grant)) throw new AppError("session.invalid_grant", "malformed grant");
      let kid: string | undefined;
      try {
        kid = decodeProtectedHeader(grant).kid;
      } catch {
        throw new AppError("session.invalid_grant", "malformed grant");
      }
      if (!kid) throw new AppError("session.invalid_grant", "grant has no key id");
      const key = await keyFor(kid);
      const { payload } = await jwtVerify(grant, key, {
        issuer: GRANT_ISSUER,
        audience: GRANT_AUDIENCE,
        algorithms: ["EdDSA"],
      }).catch((err: unknown) => {
        const code = (err as { code?: string }).code;
        throw new AppError(
          code === "ERR_JWT_EXPIRED" ? "auth.expired" : "session.invalid_grant",
          code === "ERR_JWT_EXPIRED" ? "grant has expired: start a new session" : "grant is not valid",
        );
      });
      const claims = payload as unknown as GrantClaims;
      if (claims.agent !== expect.agentId)
        throw new AppError("session.invalid_grant", "grant was issued for another agent");
      if (claims.cname !== expect.connectionName) {
        throw new AppError(
          "session.invalid_grant",
          `grant was issued for connection ${claims.cname}, not ${expect.connectionName}`,
        );
      }
      return claims;
    },
  };
}

export type GrantVerifier = ReturnType<typeof createGrantVerifier>;
