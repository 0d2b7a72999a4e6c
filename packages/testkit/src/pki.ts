import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCertificateAuthority, issueCertificate } from "@sluice/pki";

export interface TestPki {
  dir: string;
  caKeyFile: string;
  caFile: string;
  caPem: string;
  certFile: string;
  keyFile: string;
}

/** A throwaway CA plus a localhost server certificate, written to a temp dir. */
export async function createTestPki(hosts: string[] = ["localhost", "127.0.0.1"]): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-pki-"));
  const ca = await createCertificateAuthority("Sluice test CA");
  const leaf = await issueCertificate(ca, { commonName: "sluice-control-plane", hosts });
  const files = {
    caKeyFile: join(dir, "ca.key"),
    caFile: join(dir, "ca.pem"),
    certFile: join(dir, "server.pem"),
    keyFile: join(dir, "server.key"),
  };
  writeFileSync(files.caFile, ca.certPem);
  writeFileSync(files.caKeyFile, ca.keyPem, { mode: 0o600 });
  writeFileSync(files.certFile, leaf.certPem);
  writeFileSync(files.keyFile, leaf.keyPem, { mode: 0o600 });
  return { dir, caPem: ca.certPem, ...files };
}
