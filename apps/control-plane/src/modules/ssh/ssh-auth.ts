import { AppError } from "@sluice/errors";
import {
  keyFingerprint,
  parseAuthorizedKey,
  parseCertificateLine,
  userCertificateProblem,
} from "@sluice/ssh-proxy/keys";
import type { Db } from "../../lib/db";
import type { Principal } from "../../server/principal";
import { principalFor } from "../auth/auth.service";
import type { SshCa } from "./ssh-ca";

const withGroups = { memberships: { include: { group: { select: { name: true } } } } } as const;
const KEY_ID = /^sluice user=([0-9a-f-]{36}) via=(api_key|access_token) cred=([0-9a-f-]{36})$/;

/** The same answer as a wrong password, whatever the reason; `cause` is for the logs only. */
const refused = (cause: string) =>
  new AppError("auth.invalid_credentials", "invalid credentials", { cause: new Error(cause) });

export type SshAuth = ReturnType<typeof createSshAuth>;

/**
 * Identities proven on an agent's SSH listener: a registered public key, or a
 * certificate from the control plane's SSH CA. The agent has already checked that the
 * client holds the private key; this maps the key or certificate to its user.
 */
export function createSshAuth(deps: { prisma: Db; ca: Pick<SshCa, "trusted">; now?: () => Date }) {
  const { prisma } = deps;
  const now = deps.now ?? (() => new Date());

  /** Whether the API key or login that asked for a certificate is still good. */
  async function credentialLive(via: string, id: string, userId: string): Promise<boolean> {
    const t = now();
    if (via === "api_key") {
      const key = await prisma.apiKey.findFirst({ where: { id, userId } });
      return !!key && !key.revokedAt && (!key.expiresAt || key.expiresAt > t);
    }
    const family = await prisma.tokenFamily.findFirst({ where: { id, userId } });
    return !!family && !family.revokedAt && family.expiresAt > t;
  }

  return {
    async publicKey(line: string): Promise<Principal> {
      let blob: Buffer;
      try {
        blob = parseAuthorizedKey(line).blob;
      } catch {
        throw refused("unreadable public key");
      }
      const key = await prisma.sshPublicKey.findUnique({
        where: { fingerprint: keyFingerprint(blob) },
        include: { user: { include: withGroups } },
      });
      if (!key || !parseAuthorizedKey(key.publicKey).blob.equals(blob))
        throw refused("unregistered public key");
      if (key.user.disabled) throw refused("user is disabled");
      if (!key.lastUsedAt || now().getTime() - key.lastUsedAt.getTime() > 60_000) {
        await prisma.sshPublicKey.update({ where: { id: key.id }, data: { lastUsedAt: now() } });
      }
      return principalFor(key.user, "ssh_key", key.id);
    },

    async certificate(line: string): Promise<Principal> {
      let cert: ReturnType<typeof parseCertificateLine>;
      try {
        cert = parseCertificateLine(line);
      } catch {
        throw refused("unreadable certificate");
      }
      const m = KEY_ID.exec(cert.keyId);
      if (!m) throw refused("certificate key id is not Sluice's");
      const [, userId = "", via = "", credentialId = ""] = m;
      const user = await prisma.user.findUnique({ where: { id: userId }, include: withGroups });
      if (!user || user.disabled) throw refused("certificate user unknown or disabled");
      const problem = userCertificateProblem(cert, {
        trustedCas: await deps.ca.trusted(),
        principal: user.name,
        now: BigInt(Math.floor(now().getTime() / 1000)),
      });
      if (problem) throw refused(`certificate ${problem}`);
      if (!(await credentialLive(via, credentialId, user.id)))
        throw refused("the credential that asked for the certificate was revoked or expired");
      return principalFor(user, "ssh_certificate", credentialId);
    },
  };
}
