import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from "node:crypto";
import { ed25519Blob, formatAuthorizedKey, keyFingerprint, parseAuthorizedKey } from "@sluice/ssh-proxy/keys";
import type { Db } from "../../lib/db";

type Tx = Parameters<Parameters<Db["$transaction"]>[0]>[0];

import { open, seal } from "../keys/sealed-box";
import { MAX_CERT_SECONDS } from "./ssh.schemas";

export interface ActiveCa {
  id: string;
  privateKey: KeyObject;
  /** The CA's public key blob. */
  blob: Buffer;
  /** `ssh-ed25519 AAAA… sluice-ssh-ca` */
  publicKey: string;
  fingerprint: string;
}

const sealContext = (id: string) => `ssh-ca-key:${id}`;

/**
 * The control plane's SSH user CA: one Ed25519 key, created on first use, its private
 * half sealed with the master key; rotation retires it for a new one. A retired key
 * keeps verifying until every certificate it could have signed has expired.
 */
export function createSshCa(deps: { prisma: Db; masterKey: Buffer; now?: () => Date }) {
  const { prisma } = deps;
  const now = deps.now ?? (() => new Date());
  let cached: ActiveCa | undefined;

  /** Adds a new active key (the caller holds the CA lock and has retired the old one). */
  async function insertKey(tx: Tx): Promise<string> {
    const { privateKey } = generateKeyPairSync("ed25519");
    const id = `sshca_${randomBytes(8).toString("hex")}`;
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    await tx.sshCaKey.create({
      data: {
        id,
        publicKey: formatAuthorizedKey({
          type: "ssh-ed25519",
          blob: ed25519Blob(privateKey),
          comment: "sluice-ssh-ca",
        }),
        privateKeyEnc: seal(deps.masterKey, pem, sealContext(id)),
        activatedAt: now(),
      },
    });
    return id;
  }

  const lock = (tx: Tx) => tx.$executeRawUnsafe("SELECT pg_advisory_xact_lock(7313004)");

  async function create(): Promise<void> {
    await prisma.$transaction(async (tx) => {
      await lock(tx);
      if (await tx.sshCaKey.findFirst({ where: { retiredAt: null } })) return;
      await insertKey(tx);
    });
  }

  async function active(): Promise<ActiveCa> {
    const row = await prisma.sshCaKey.findFirst({
      where: { retiredAt: null },
      orderBy: { createdAt: "desc" },
    });
    if (!row) {
      await create();
      return active();
    }
    if (cached?.id !== row.id) {
      const privateKey = createPrivateKey(open(deps.masterKey, row.privateKeyEnc, sealContext(row.id)));
      const blob = ed25519Blob(privateKey);
      if (!blob.equals(parseAuthorizedKey(row.publicKey).blob))
        throw new Error(`SSH CA key ${row.id}: the sealed private key does not match its public key`);
      cached = { id: row.id, privateKey, blob, publicKey: row.publicKey, fingerprint: keyFingerprint(blob) };
    }
    return cached;
  }

  return {
    active,
    /**
     * Retires the active key and starts signing with a new one, inside the caller's
     * transaction. Certificates the old key signed stay valid until they expire.
     */
    async rotate(tx: Tx): Promise<{ retired: string[]; id: string }> {
      await lock(tx);
      const current = await tx.sshCaKey.findMany({ where: { retiredAt: null }, select: { id: true } });
      await tx.sshCaKey.updateMany({ where: { retiredAt: null }, data: { retiredAt: now() } });
      const id = await insertKey(tx);
      cached = undefined;
      return { retired: current.map((r) => r.id), id };
    },
    /** Public key blobs that may have signed a certificate that is still valid. */
    async trusted(): Promise<Buffer[]> {
      const since = new Date(now().getTime() - MAX_CERT_SECONDS * 1000);
      const rows = await prisma.sshCaKey.findMany({
        where: { OR: [{ retiredAt: null }, { retiredAt: { gt: since } }] },
      });
      return rows.map((r) => parseAuthorizedKey(r.publicKey).blob);
    },
  };
}

export type SshCa = ReturnType<typeof createSshCa>;
