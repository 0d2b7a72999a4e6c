import https from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { createCertificateAuthority, issueCertificate, type PemPair } from "@sluice/pki";
import { ConnectionSpec } from "@sluice/proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUpstreamPools, httpTarget, splitPemBundle } from "./http-upstream";

let ca: PemPair;
let client: PemPair;
let server: https.Server;
let port: number;

beforeAll(async () => {
  ca = await createCertificateAuthority("upstream test CA");
  const leaf = await issueCertificate(ca, { commonName: "api", hosts: ["localhost", "127.0.0.1"] });
  client = await issueCertificate(ca, { commonName: "sluice-agent", hosts: [], usage: "client" });
  server = https.createServer(
    { cert: leaf.certPem, key: leaf.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.end(JSON.stringify({ client: peer.subject?.CN, auth: req.headers.authorization ?? null }));
    },
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

function conn(overrides: Partial<ConnectionSpec> = {}): ConnectionSpec {
  return ConnectionSpec.fromPartial({
    id: "c1",
    name: "mtls-api",
    type: "http",
    host: "127.0.0.1",
    port,
    tls: { mode: "verify-full", caPem: ca.certPem, serverName: "" },
    settings: {
      $case: "http",
      value: {
        basePath: "/api/",
        inject: "bearer",
        injectName: "",
        clientCertificateRef: "file:/cert.pem",
        recordBodyBytes: 0,
        passUnmaskableContent: false,
      },
    },
    ...overrides,
  });
}

const secrets = (bundle: string) => ({
  resolve: async (ref: string) => {
    expect(ref).toBe("file:/cert.pem");
    return { username: "", secret: bundle };
  },
});

describe("upstream pools", () => {
  it("present the client certificate from its reference and verify the upstream's", async () => {
    const pools = createUpstreamPools({ secrets: secrets(`${client.certPem}\n${client.keyPem}`) });
    try {
      const pool = await pools.forConnection(conn());
      const res = await pool.request({ method: "GET", path: "/" });
      expect(JSON.parse(await res.body.text())).toEqual({ client: "sluice-agent", auth: null });
      expect(await pools.forConnection(conn())).toBe(pool);
    } finally {
      await pools.close();
    }
  });

  it("fail the TLS handshake without a client certificate, or against an unknown CA", async () => {
    const other = await createCertificateAuthority("another CA");
    const noCert = conn({
      settings: {
        $case: "http",
        value: {
          basePath: "",
          inject: "none",
          injectName: "",
          clientCertificateRef: "",
          recordBodyBytes: 0,
          passUnmaskableContent: false,
        },
      },
    });
    const pools = createUpstreamPools({ secrets: secrets("") });
    try {
      await expect(
        (await pools.forConnection(noCert)).request({ method: "GET", path: "/" }),
      ).rejects.toThrow();
      const wrongCa = conn({ id: "c2", tls: { mode: "verify-full", caPem: other.certPem, serverName: "" } });
      const pools2 = createUpstreamPools({ secrets: secrets(`${client.certPem}\n${client.keyPem}`) });
      await expect(
        (await pools2.forConnection(wrongCa)).request({ method: "GET", path: "/" }),
      ).rejects.toThrow(/certificate/i);
      await pools2.close();
    } finally {
      await pools.close();
    }
  });

  it("refuse a certificate reference that holds no key", () => {
    expect(() => splitPemBundle(client.certPem)).toThrow(/private key/);
    expect(splitPemBundle(`${client.keyPem}\n${client.certPem}`).cert).toContain("BEGIN CERTIFICATE");
  });

  it("derive origin, Host and base path from the connection", () => {
    const t = httpTarget(conn());
    expect(t).toMatchObject({
      origin: `https://127.0.0.1:${port}`,
      host: `127.0.0.1:${port}`,
      basePath: "/api",
    });
    const plain = httpTarget(conn({ port: 80, tls: { mode: "disable", caPem: "", serverName: "" } }));
    expect(plain).toMatchObject({ origin: "http://127.0.0.1", host: "127.0.0.1" });
    expect(httpTarget(conn({ credentialRef: "", settings: undefined })).inject.kind).toBe("none");
  });
});
