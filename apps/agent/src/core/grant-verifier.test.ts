import { generateKeyPairSync } from "node:crypto";
import { importPKCS8, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { createGrantVerifier, looksLikeGrant } from "./grant-verifier";

const { publicKey, privateKey } = generateKeyPairSync("ed25519");
const keys = [
  {
    kid: "k1",
    algorithm: "EdDSA",
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    notAfterUnixMs: 0,
  },
];

async function grant(
  claims: Record<string, unknown>,
  opts: { typ?: string; exp?: number; aud?: string } = {},
) {
  const key = await importPKCS8(privateKey.export({ type: "pkcs8", format: "pem" }).toString(), "EdDSA");
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "EdDSA", kid: "k1", typ: opts.typ ?? "sluice-grant+jwt" })
    .setIssuer("sluice-control-plane")
    .setAudience(opts.aud ?? "sluice-agent")
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? Math.floor(Date.now() / 1000) + 300)
    .sign(key);
}

const claims = {
  sid: "s1",
  sub: "u1",
  name: "dev",
  kind: "human",
  conn: "c1",
  cname: "pg",
  agent: "a1",
  proto: "postgres",
};
const verifier = createGrantVerifier(() => keys);

describe("grant verification on the agent", () => {
  it("accepts a grant for this agent and connection", async () => {
    const g = await grant(claims);
    expect(looksLikeGrant(g)).toBe(true);
    expect((await verifier.verify(g, { agentId: "a1", connectionName: "pg" })).sid).toBe("s1");
  });

  it("treats other JWTs (e.g. access tokens) as credentials, not grants", async () => {
    expect(looksLikeGrant(await grant(claims, { typ: "sluice-at+jwt" }))).toBe(false);
    expect(looksLikeGrant("slk_abc.def")).toBe(false);
  });

  it("refuses another agent's, another connection's, expired and foreign-audience grants", async () => {
    const g = await grant(claims);
    await expect(verifier.verify(g, { agentId: "a2", connectionName: "pg" })).rejects.toThrow(
      /another agent/,
    );
    await expect(verifier.verify(g, { agentId: "a1", connectionName: "other" })).rejects.toThrow(
      /issued for connection pg/,
    );
    const expired = await grant(claims, { exp: Math.floor(Date.now() / 1000) - 60 });
    await expect(verifier.verify(expired, { agentId: "a1", connectionName: "pg" })).rejects.toThrow(
      /expired/,
    );
    const aud = await grant(claims, { aud: "sluice-api" });
    await expect(verifier.verify(aud, { agentId: "a1", connectionName: "pg" })).rejects.toThrow(/not valid/);
  });

  it("refuses a grant signed by an unknown key", async () => {
    const other = createGrantVerifier(() => []);
    await expect(other.verify(await grant(claims), { agentId: "a1", connectionName: "pg" })).rejects.toThrow(
      /unknown or retired key/,
    );
  });
});
