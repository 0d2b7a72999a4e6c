import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join } from "node:path";
import { type ApiClient, apiPath } from "@sluice/client";
import { generateEd25519KeyPair } from "@sluice/ssh-proxy/keys";
import { InvalidArgumentError } from "commander";
import { z } from "zod";
import { CliError, usageError } from "../cli-error";
import { configDir, type Env } from "../config-store";
import { expectShape } from "../print";

const MAX_KEY_FILE = 16 * 1024;

export interface SshIdentity {
  /** The private key file (what `ssh -i` takes). */
  privateKeyPath: string;
  publicKeyPath: string;
  /** The `.pub` line. */
  publicKey: string;
  /** True when this call generated the key. */
  created: boolean;
}

/** The key `sluice ssh-cert` uses when none is given: `<config dir>/ssh/id_ed25519`. */
export function defaultIdentity(env: Env): string {
  return join(configDir(env), "ssh", "id_ed25519");
}

/** `id_ed25519` → `id_ed25519-cert.pub`, where OpenSSH looks for the key's certificate. */
export function certificatePath(privateKeyPath: string): string {
  return `${privateKeyPath}-cert.pub`;
}

export async function readPublicKeyFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(`cannot read ${path}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  if (text.length > MAX_KEY_FILE) throw new CliError(`${path} is too large to be an SSH public key`);
  if (text.includes("PRIVATE KEY")) {
    throw usageError(`${path} is a private key: pass its public half (${path}.pub)`);
  }
  const line = text.split("\n").find((l) => l.trim() && !l.trim().startsWith("#"));
  if (!line) throw new CliError(`${path} holds no public key`);
  return line.trim();
}

/**
 * The identity to certify: `path` (a private key, or its `.pub`), or the default key,
 * generated as Ed25519 (mode 0600) when it does not exist yet.
 */
export async function loadOrCreateIdentity(env: Env, path?: string): Promise<SshIdentity> {
  const privateKeyPath = path?.endsWith(".pub") ? path.slice(0, -4) : (path ?? defaultIdentity(env));
  const publicKeyPath = `${privateKeyPath}.pub`;
  if (existsSync(publicKeyPath)) {
    return {
      privateKeyPath,
      publicKeyPath,
      publicKey: await readPublicKeyFile(publicKeyPath),
      created: false,
    };
  }
  if (path !== undefined) {
    throw new CliError(
      existsSync(privateKeyPath)
        ? `no public key next to ${privateKeyPath}: create it with ssh-keygen -y -f ${privateKeyPath} > ${publicKeyPath}`
        : `no such key: ${path}`,
    );
  }
  const pair = generateEd25519KeyPair(`sluice@${hostname()}`);
  await mkdir(dirname(privateKeyPath), { recursive: true, mode: 0o700 });
  await writeFile(privateKeyPath, pair.privateKey, { mode: 0o600, flag: "wx" });
  await chmod(privateKeyPath, 0o600);
  await writeFile(publicKeyPath, `${pair.publicKey}\n`, { mode: 0o644 });
  return { privateKeyPath, publicKeyPath, publicKey: pair.publicKey, created: true };
}

const certificateSchema = z.looseObject({
  certificate: z.string().min(1),
  serial: z.string(),
  principals: z.array(z.string()),
  validBefore: z.string(),
  caFingerprint: z.string(),
});
export type SignedCertificate = z.infer<typeof certificateSchema>;

/** Asks the control plane's SSH CA for a certificate and writes it next to the key. */
export async function certify(
  client: ApiClient,
  identity: SshIdentity,
  validitySeconds?: number,
): Promise<SignedCertificate & { path: string }> {
  const body = validitySeconds
    ? { publicKey: identity.publicKey, validitySeconds }
    : { publicKey: identity.publicKey };
  const cert = expectShape(
    certificateSchema,
    await client.post(apiPath("ssh-certificates"), body),
    "a signed SSH certificate",
  );
  const path = certificatePath(identity.privateKeyPath);
  await writeFile(path, `${cert.certificate}\n`, { mode: 0o644 });
  return { ...cert, path };
}

/** `90s`, `30m`, `1h`, `12h` or plain seconds. */
export function parseDuration(value: string): number {
  const m = /^(\d{1,6})([smh]?)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError("use a duration such as 30m, 1h or 3600");
  const n = Number(m[1]);
  return m[2] === "h" ? n * 3600 : m[2] === "m" ? n * 60 : n;
}
