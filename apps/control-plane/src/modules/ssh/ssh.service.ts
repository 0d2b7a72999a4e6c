import { randomBytes } from "node:crypto";
import { AppError } from "@sluice/errors";
import {
  formatAuthorizedKey,
  formatCertificate,
  keyFingerprint,
  parseAuthorizedKey,
  parseCertificate,
  SshFormatError,
  signCertificate,
} from "@sluice/ssh-proxy/keys";
import type { Db } from "../../lib/db";
import { isUuid } from "../../lib/ids";
import type { Actor, Mutate } from "../../lib/mutate";
import type { Principal } from "../../server/principal";
import type { SessionRevoker } from "../sessions/session-revoker";
import type { AddSshKeyInput, CertificateDto, SignCertificateInput, SshKeyDto } from "./ssh.schemas";
import type { SshCa } from "./ssh-ca";

/** Extensions of issued certificates. Agent forwarding and X11 stay off; the agent applies the connection's policy. */
export const CERT_EXTENSIONS = ["permit-pty", "permit-port-forwarding"];
/** Accepted clock skew at the start of a certificate's validity. */
const BACKDATE_SECONDS = 60;

/** A certificate's key id: who it was issued to and which credential asked for it. */
export function certificateKeyId(p: Pick<Principal, "userId" | "via" | "credentialId">): string {
  return `sluice user=${p.userId} via=${p.via} cred=${p.credentialId}`;
}

type KeyRow = NonNullable<Awaited<ReturnType<Db["sshPublicKey"]["findFirst"]>>>;

function toDto(k: KeyRow): SshKeyDto {
  return {
    id: k.id,
    userId: k.userId,
    name: k.name,
    type: k.publicKey.split(" ")[0] ?? "",
    fingerprint: k.fingerprint,
    publicKey: k.publicKey,
    createdAt: k.createdAt.toISOString(),
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
  };
}

function parseKey(line: string) {
  try {
    return parseAuthorizedKey(line);
  } catch (err) {
    if (err instanceof SshFormatError)
      throw new AppError("ssh_key.invalid", `invalid SSH public key: ${err.message}`);
    throw err;
  }
}

export type SshService = ReturnType<typeof createSshService>;

/** Users' SSH public keys and the certificates the control plane's SSH CA signs for them. */
export function createSshService(deps: {
  prisma: Db;
  mutate: Mutate;
  ca: SshCa;
  revoker: Pick<SessionRevoker, "endFor">;
  now?: () => Date;
}) {
  const { prisma, mutate } = deps;
  const now = deps.now ?? (() => new Date());

  /** The user whose keys the caller asks about: themselves, or anyone for admins (and auditors, to read). */
  async function ownerFor(principal: Principal, ref: string | undefined, write: boolean): Promise<string> {
    if (ref === undefined || ref === principal.userId) return principal.userId;
    const allowed = principal.role === "admin" || (!write && principal.role === "auditor");
    const user = allowed
      ? await prisma.user.findUnique({ where: isUuid(ref) ? { id: ref } : { email: ref } })
      : null;
    // Another user's keys are a 404 to anyone else: do not reveal who exists.
    if (!user) throw new AppError("user.not_found", `user ${ref} not found`);
    return user.id;
  }

  return {
    async addKey(actor: Actor & { principal: Principal }, input: AddSshKeyInput): Promise<SshKeyDto> {
      const key = parseKey(input.publicKey);
      const fingerprint = keyFingerprint(key.blob);
      const userId = actor.principal.userId;
      const taken = await prisma.sshPublicKey.findFirst({
        where: { OR: [{ fingerprint }, { userId, name: input.name }] },
      });
      if (taken?.fingerprint === fingerprint)
        throw new AppError("ssh_key.exists", "this public key is already registered");
      if (taken) throw new AppError("ssh_key.exists", `you already have an SSH key named ${input.name}`);
      const row = await mutate(actor, async ({ tx, audit }) => {
        const created = await tx.sshPublicKey.create({
          data: { userId, name: input.name, publicKey: formatAuthorizedKey(key), fingerprint },
        });
        await audit({
          action: "ssh_key.add",
          targetType: "ssh_key",
          targetId: created.id,
          details: { userId, fingerprint, type: key.type },
        });
        return created;
      });
      return toDto(row);
    },

    async listKeys(principal: Principal, userRef?: string): Promise<SshKeyDto[]> {
      const userId = await ownerFor(principal, userRef, false);
      const rows = await prisma.sshPublicKey.findMany({ where: { userId }, orderBy: { createdAt: "asc" } });
      return rows.map(toDto);
    },

    /** Removes a key (by id or fingerprint) and ends the live sessions it opened. */
    async removeKey(actor: Actor & { principal: Principal }, ref: string): Promise<void> {
      const p = actor.principal;
      const where = isUuid(ref) ? { id: ref } : ref.startsWith("SHA256:") ? { fingerprint: ref } : undefined;
      const key = where ? await prisma.sshPublicKey.findFirst({ where }) : null;
      if (!key || (p.role !== "admin" && key.userId !== p.userId))
        throw new AppError("ssh_key.not_found", `SSH key ${ref} not found`);
      await mutate(actor, async ({ tx, audit }) => {
        await tx.sshPublicKey.delete({ where: { id: key.id } });
        await audit({
          action: "ssh_key.remove",
          targetType: "ssh_key",
          targetId: key.id,
          details: { userId: key.userId, fingerprint: key.fingerprint },
        });
      });
      await deps.revoker.endFor({ credentialIds: [key.id] }, "SSH key removed");
    },

    /** Signs a user certificate for the caller's public key: principal = the caller's name. */
    async signCertificate(
      actor: Actor & { principal: Principal },
      input: SignCertificateInput,
    ): Promise<CertificateDto> {
      const p = actor.principal;
      const key = parseKey(input.publicKey);
      const ca = await deps.ca.active();
      const start = BigInt(Math.floor(now().getTime() / 1000));
      const spec = {
        key: key.blob,
        serial: randomBytes(8).readBigUInt64BE() >> 1n,
        type: "user" as const,
        keyId: certificateKeyId(p),
        principals: [p.name],
        validAfter: start - BigInt(BACKDATE_SECONDS),
        validBefore: start + BigInt(input.validitySeconds),
        extensions: CERT_EXTENSIONS,
      };
      const cert = parseCertificate(signCertificate(spec, ca.privateKey));
      const dto: CertificateDto = {
        certificate: formatCertificate(cert, `${p.name.replace(/\s+/g, "_")}@sluice`),
        serial: spec.serial.toString(),
        keyId: spec.keyId,
        principals: spec.principals,
        validAfter: new Date(Number(spec.validAfter) * 1000).toISOString(),
        validBefore: new Date(Number(spec.validBefore) * 1000).toISOString(),
        caFingerprint: ca.fingerprint,
      };
      await mutate(actor, ({ audit }) =>
        audit({
          action: "ssh_certificate.sign",
          targetType: "user",
          targetId: p.userId,
          details: {
            serial: dto.serial,
            fingerprint: keyFingerprint(key.blob),
            ca: ca.id,
            validBefore: dto.validBefore,
          },
        }),
      );
      return dto;
    },

    async caPublicKey(): Promise<{ publicKey: string; fingerprint: string }> {
      const ca = await deps.ca.active();
      return { publicKey: ca.publicKey, fingerprint: ca.fingerprint };
    },
    /** Admins: a new CA key signs from now on; certificates of the old one work until they expire. */
    async rotateCa(actor: Actor): Promise<{ publicKey: string; fingerprint: string }> {
      const rotated = await mutate(actor, async ({ tx, audit }) => {
        const r = await deps.ca.rotate(tx);
        await audit({
          action: "ssh_ca.rotate",
          targetType: "ssh_ca_key",
          targetId: r.id,
          details: { retired: r.retired },
        });
        return r;
      });
      const ca = await deps.ca.active();
      if (ca.id !== rotated.id) throw new Error("SSH CA rotation did not take effect");
      return { publicKey: ca.publicKey, fingerprint: ca.fingerprint };
    },
  };
}
