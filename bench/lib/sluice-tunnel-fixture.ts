/**
 * What the control plane would hand out for a `sluice connect` session, made locally so
 * the tunnel target runs without one:
 * - a throwaway CA (packages/pki `createCertificateAuthority`) and the agent's tunnel
 *   certificate issued by it for 127.0.0.1 (`issueCertificate`), both written to `dir`;
 * - an Ed25519 signing key (jose) whose public half goes into the agent's desired state;
 * - one session grant signed with it (same claims, header, issuer and audience as the
 *   control plane's `signGrant`), bound to the bench agent and connection.
 * Runs in the bench process. The CA key never leaves it; the grant signing key is handed
 * to the `sluice connect` stand-in only in --tunnel-grant-per-connection mode, where it
 * plays the control plane's part of starting one session per client connection.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot } from "./proc";

export const pkiModule = process.env.SLUICE_PKI_MODULE ?? join(repoRoot, "packages/pki/src/index.ts");

export interface TunnelFixture {
  caFile: string;
  certFile: string;
  keyFile: string;
  agent: { id: string; name: string; segment: string };
  connection: { id: string; name: string };
  key: { kid: string; publicKeyPem: string };
  grant: string;
  sessionId: string;
  expiresAt: Date;
  /** PKCS#8 PEM of the grant signing key. */
  signingKeyPem: string;
}

export interface MintedGrant {
  grant: string;
  sessionId: string;
  expiresAt: Date;
}

export interface GrantMinterOptions {
  signingKeyPem: string;
  kid: string;
  agentId: string;
  connection: { id: string; name: string };
}

interface JoseSubset {
  generateKeyPair(
    alg: "EdDSA",
    opts: { extractable: boolean },
  ): Promise<{ privateKey: unknown; publicKey: unknown }>;
  exportSPKI(key: unknown): Promise<string>;
  exportPKCS8(key: unknown): Promise<string>;
  importPKCS8(pem: string, alg: "EdDSA"): Promise<unknown>;
  SignJWT: new (
    payload: Record<string, unknown>,
  ) => {
    setProtectedHeader(h: Record<string, unknown>): SignJwt;
  };
}
interface SignJwt {
  setIssuer(v: string): SignJwt;
  setAudience(v: string): SignJwt;
  setIssuedAt(): SignJwt;
  setExpirationTime(v: number): SignJwt;
  setJti(v: string): SignJwt;
  sign(key: unknown): Promise<string>;
}

interface PkiSubset {
  createCertificateAuthority(cn: string, validDays?: number): Promise<{ certPem: string; keyPem: string }>;
  issueCertificate(
    ca: { certPem: string; keyPem: string },
    o: { commonName: string; hosts: string[]; validDays?: number; usage?: "server" },
  ): Promise<{ certPem: string; keyPem: string }>;
}

/** jose as the control plane resolves it (the bench itself has no node_modules). */
export async function loadJose(): Promise<JoseSubset> {
  const errors: string[] = [];
  for (const pkg of ["apps/control-plane/package.json", "apps/agent/package.json"]) {
    try {
      const path = createRequire(join(repoRoot, pkg)).resolve("jose");
      const mod = (await import(pathToFileURL(path).href)) as Partial<JoseSubset>;
      if (mod.SignJWT && mod.generateKeyPair && mod.exportSPKI && mod.exportPKCS8 && mod.importPKCS8)
        return mod as JoseSubset;
      errors.push(`${pkg}: jose lacks SignJWT/generateKeyPair/exportSPKI/exportPKCS8/importPKCS8`);
    } catch (e) {
      errors.push(`${pkg}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
    }
  }
  throw new Error(`cannot load jose (${errors.join("; ")})`);
}

async function loadPki(): Promise<PkiSubset> {
  const mod = (await import(pathToFileURL(pkiModule).href)) as Partial<PkiSubset>;
  if (typeof mod.createCertificateAuthority !== "function" || typeof mod.issueCertificate !== "function")
    throw new Error(
      `${pkiModule.replace(`${repoRoot}/`, "")} lacks createCertificateAuthority/issueCertificate`,
    );
  return mod as PkiSubset;
}

/** Grant issuer and audience the agent's grant verifier expects. */
const GRANT_ISSUER = "sluice-control-plane";
const GRANT_AUDIENCE = "sluice-agent";

/** Signs session grants as the control plane's `signGrant` does (claims, header, issuer, audience). */
export async function createGrantMinter(
  o: GrantMinterOptions,
): Promise<(ttlSeconds: number) => Promise<MintedGrant>> {
  const jose = await loadJose();
  const key = await jose.importPKCS8(o.signingKeyPem, "EdDSA");
  const sub = randomUUID();
  return async (ttlSeconds) => {
    const sessionId = randomUUID();
    const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
    const grant = await new jose.SignJWT({
      sid: sessionId,
      sub,
      name: "bench",
      kind: "human",
      conn: o.connection.id,
      cname: o.connection.name,
      agent: o.agentId,
      proto: "postgres",
    })
      .setProtectedHeader({ alg: "EdDSA", kid: o.kid, typ: "sluice-grant+jwt" })
      .setIssuer(GRANT_ISSUER)
      .setAudience(GRANT_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .setJti(randomBytes(12).toString("base64url"))
      .sign(key);
    return { grant, sessionId, expiresAt };
  };
}

export async function createTunnelFixture(
  dir: string,
  opts: { grantTtlSeconds: number },
): Promise<TunnelFixture> {
  const [jose, pki] = await Promise.all([loadJose(), loadPki()]);
  const ca = await pki.createCertificateAuthority("sluice-bench throwaway CA", 2);
  const leaf = await pki.issueCertificate(ca, {
    commonName: "sluice-bench-agent",
    hosts: ["127.0.0.1", "localhost"],
    validDays: 2,
    usage: "server",
  });
  const caFile = join(dir, "ca.pem");
  const certFile = join(dir, "agent.crt");
  const keyFile = join(dir, "agent.key");
  writeFileSync(caFile, ca.certPem, { mode: 0o600 });
  writeFileSync(certFile, leaf.certPem, { mode: 0o600 });
  writeFileSync(keyFile, leaf.keyPem, { mode: 0o600 });

  const { privateKey, publicKey } = await jose.generateKeyPair("EdDSA", { extractable: true });
  const kid = randomUUID();
  const agent = { id: randomUUID(), name: "bench-agent", segment: "bench" };
  const connection = { id: randomUUID(), name: "bench-pg" };
  const signingKeyPem = await jose.exportPKCS8(privateKey);
  const mint = await createGrantMinter({ signingKeyPem, kid, agentId: agent.id, connection });
  const first = await mint(opts.grantTtlSeconds);
  return {
    caFile,
    certFile,
    keyFile,
    agent,
    connection,
    key: { kid, publicKeyPem: await jose.exportSPKI(publicKey) },
    ...first,
    signingKeyPem,
  };
}
