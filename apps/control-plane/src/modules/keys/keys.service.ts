import { createPrivateKey, generateKeyPairSync, randomBytes } from "node:crypto";
import type { VerificationKey } from "@sluice/proto";
import { importPKCS8, importSPKI, type CryptoKey as JoseKey, SignJWT } from "jose";
import type { Db } from "../../lib/db";
import type { Actor, Mutate } from "../../lib/mutate";
import { open, seal } from "./sealed-box";

export const GRANT_ISSUER = "sluice-control-plane";
export const GRANT_AUDIENCE = "sluice-agent";
export const ACCESS_TOKEN_AUDIENCE = "sluice-api";
export const ACCESS_TOKEN_TYPE = "sluice-at+jwt";

export interface AccessTokenClaims {
  sub: string; // user id
  fam: string; // token family id (the login the token belongs to)
}

export interface GrantClaims {
  sid: string; // session id
  sub: string; // user id
  name: string; // identity display name
  kind: "human" | "service";
  conn: string; // connection id
  cname: string; // connection name
  agent: string; // agent id
  proto: string;
  /** The identity's Sluice groups, for targets that act as the person (Kubernetes impersonation). */
  grp?: string[];
}

export type KeysService = ReturnType<typeof createKeysService>;

/**
 * Ed25519 signing keys for session grants. Private keys are sealed with the master key
 * at rest. Rotation keeps a retired key verifiable until every grant it signed expired.
 */
export function createKeysService(deps: {
  prisma: Db;
  mutate: Mutate;
  masterKey: Buffer;
  grantTtlSeconds: number;
}) {
  const { prisma } = deps;
  let cached: { kid: string; key: JoseKey } | undefined;
  /** Until when `cached` is known to be the active key without asking the database again. */
  let cachedUntil = 0;

  function newKeyRow() {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const kid = `k_${randomBytes(8).toString("hex")}`;
    const pkcs8 = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    return {
      id: kid,
      algorithm: "EdDSA",
      publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
      privateKeyEnc: seal(deps.masterKey, pkcs8, `signing-key:${kid}`),
      activatedAt: new Date(),
    };
  }

  async function ensureActiveKey(): Promise<void> {
    await prisma.$transaction(async (tx) => {
      await tx.$executeRawUnsafe("SELECT pg_advisory_xact_lock(7313003)");
      const active = await tx.signingKey.findFirst({ where: { retiredAt: null } });
      if (!active) await tx.signingKey.create({ data: newKeyRow() });
    });
  }

  /**
   * The active key. Looked up at most once a second: another replica's rotation is picked
   * up within that, and the retired key stays verifiable meanwhile.
   */
  async function signingKey(): Promise<{ kid: string; key: JoseKey }> {
    if (cached && Date.now() < cachedUntil) return cached;
    const row = await prisma.signingKey.findFirst({
      where: { retiredAt: null },
      orderBy: { createdAt: "desc" },
    });
    if (!row) {
      await ensureActiveKey();
      return signingKey();
    }
    if (cached?.kid !== row.id) {
      const pem = open(deps.masterKey, row.privateKeyEnc, `signing-key:${row.id}`);
      // Validate the PEM with node first so a corrupt row fails with a clear error.
      createPrivateKey(pem);
      cached = { kid: row.id, key: await importPKCS8(pem, "EdDSA") };
    }
    cachedUntil = Date.now() + 1000;
    return cached;
  }

  const publicKeys = new Map<string, Promise<JoseKey>>();

  /** A signing key's public half by kid, while it is still valid for verification. */
  async function publicKey(kid: string): Promise<JoseKey | undefined> {
    const row = await prisma.signingKey.findFirst({
      where: { id: kid, OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }] },
    });
    if (!row) return undefined;
    let key = publicKeys.get(kid);
    if (!key) {
      key = importSPKI(row.publicKeyPem, "EdDSA");
      publicKeys.set(kid, key);
    }
    return key;
  }

  return {
    ensureActiveKey,
    publicKey,
    /** Signs a short-lived Sluice access token with the active key (audience `sluice-api` unless told). */
    async signAccessToken(
      claims: AccessTokenClaims,
      ttlSeconds: number,
      audience: string = ACCESS_TOKEN_AUDIENCE,
    ): Promise<{ token: string; jti: string; expiresAt: Date }> {
      const { kid, key } = await signingKey();
      const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
      const jti = randomBytes(12).toString("base64url");
      const token = await new SignJWT({ fam: claims.fam })
        .setProtectedHeader({ alg: "EdDSA", kid, typ: ACCESS_TOKEN_TYPE })
        .setSubject(claims.sub)
        .setIssuer(GRANT_ISSUER)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .setJti(jti)
        .sign(key);
      return { token, jti, expiresAt };
    },
    async signGrant(claims: GrantClaims): Promise<{ grant: string; expiresAt: Date }> {
      const { kid, key } = await signingKey();
      const issuedAt = Math.floor(Date.now() / 1000);
      const expiresAt = new Date((issuedAt + deps.grantTtlSeconds) * 1000);
      const grant = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: "EdDSA", kid, typ: "sluice-grant+jwt" })
        .setIssuer(GRANT_ISSUER)
        .setAudience(GRANT_AUDIENCE)
        .setIssuedAt(issuedAt)
        .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .setJti(randomBytes(12).toString("base64url"))
        .sign(key);
      return { grant, expiresAt };
    },
    /** Public keys agents verify grants with: the active key and retired keys still in their grace period. */
    async verificationKeys(): Promise<VerificationKey[]> {
      const rows = await prisma.signingKey.findMany({
        where: { OR: [{ expiresAt: null }, { expiresAt: { gt: new Date() } }] },
        orderBy: { createdAt: "asc" },
      });
      return rows.map((r) => ({
        kid: r.id,
        algorithm: r.algorithm,
        publicKeyPem: r.publicKeyPem,
        notAfterUnixMs: r.expiresAt?.getTime() ?? 0,
      }));
    },
    async rotate(actor: Actor): Promise<{ kid: string }> {
      const row = newKeyRow();
      await deps.mutate(actor, async ({ tx, audit, change }) => {
        const now = new Date();
        await tx.signingKey.updateMany({
          where: { retiredAt: null },
          data: { retiredAt: now, expiresAt: new Date(now.getTime() + deps.grantTtlSeconds * 1000 + 60_000) },
        });
        await tx.signingKey.create({ data: row });
        await audit({ action: "signing_key.rotate", targetType: "signing_key", targetId: row.id });
        await change("keys.rotate", row.id);
      });
      cachedUntil = 0;
      return { kid: row.id };
    },
  };
}
