import { once } from "node:events";
import tls from "node:tls";
import { describe, expect, it } from "vitest";
import { createCertificateAuthority, createKeyAndCsr, issueCertificate, signCsr } from "./ca";

describe("pki", () => {
  it("issues a server certificate that a TLS client verifies against the CA", async () => {
    const ca = await createCertificateAuthority("Sluice test CA");
    const leaf = await issueCertificate(ca, { commonName: "cp", hosts: ["localhost", "127.0.0.1"] });
    const server = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (s) => s.end("hi"));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    try {
      const ok = tls.connect({ host: "127.0.0.1", port, ca: ca.certPem, servername: "localhost" });
      const [data] = await once(ok, "data");
      expect(String(data)).toBe("hi");
      ok.destroy();

      const other = await createCertificateAuthority("Other CA");
      const bad = tls.connect({ host: "127.0.0.1", port, ca: other.certPem, servername: "localhost" });
      const [err] = await once(bad, "error");
      expect((err as NodeJS.ErrnoException).code).toBe("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    } finally {
      server.close();
    }
  });
});

describe("csr signing", () => {
  it("signs a CSR with the issuer's names and the requester's key", async () => {
    const ca = await createCertificateAuthority("Sluice test CA");
    const { keyPem, csrPem } = await createKeyAndCsr("agent-1");
    const certPem = await signCsr(ca, csrPem, { commonName: "agent-1", hosts: ["127.0.0.1", "localhost"] });
    const server = tls.createServer({ cert: certPem, key: keyPem }, (s) => s.end("ok"));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const port = (server.address() as { port: number }).port;
    try {
      const c = tls.connect({ host: "127.0.0.1", port, ca: ca.certPem });
      const [data] = await once(c, "data");
      expect(String(data)).toBe("ok");
      c.destroy();
    } finally {
      server.close();
    }
  });

  it("rejects a tampered CSR", async () => {
    const ca = await createCertificateAuthority("Sluice test CA");
    const { csrPem } = await createKeyAndCsr("agent-1");
    const body = csrPem.split("\n");
    const mid = body[5] ?? "";
    body[5] = mid.slice(0, 10) + (mid[10] === "A" ? "B" : "A") + mid.slice(11);
    await expect(signCsr(ca, body.join("\n"), { commonName: "x", hosts: ["localhost"] })).rejects.toThrow();
  });
});
