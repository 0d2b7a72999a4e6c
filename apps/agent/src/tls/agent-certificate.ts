import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import { Metadata } from "@grpc/grpc-js";
import type { Logger } from "@sluice/logger";
import { certificateNotAfter, createKeyAndCsr } from "@sluice/pki";
import type { AgentServiceClient } from "@sluice/proto";

export interface AgentCertificateOptions {
  dir: string;
  hosts: string[];
  client: Pick<AgentServiceClient, "issueCertificate">;
  agentToken: string;
  logger: Logger;
  /** Operator-provided certificate instead of one from the control plane's CA. */
  staticPair?: { certFile: string; keyFile: string };
}

function atomicWrite(path: string, data: string, mode: number): void {
  writeFileSync(`${path}.tmp`, data, { mode });
  renameSync(`${path}.tmp`, path);
}

/**
 * The agent's TLS identity for client-facing listeners: a key generated here and a
 * certificate from the control plane's CA, renewed when a third of its life is left.
 * The TLS context is swapped in place so listeners pick up renewals.
 */
export function createAgentCertificate(opts: AgentCertificateOptions) {
  const certFile = join(opts.dir, "tls.crt");
  const keyFile = join(opts.dir, "tls.key");
  let context: tls.SecureContext | undefined;
  let pair: { cert: string; key: string } | undefined;
  const listeners = new Set<(p: { cert: string; key: string }) => void>();
  let notAfter = 0;
  let issuedAt = 0;

  function load(cert: string, key: string): void {
    context = tls.createSecureContext({ cert, key, minVersion: "TLSv1.2" });
    notAfter = certificateNotAfter(cert).getTime();
    pair = { cert, key };
    for (const l of listeners) l(pair);
  }

  async function issue(): Promise<void> {
    const { keyPem, csrPem } = await createKeyAndCsr("sluice-agent");
    const md = new Metadata();
    md.set("authorization", `Bearer ${opts.agentToken}`);
    const res = await new Promise<{ certificatePem: string }>((resolve, reject) =>
      opts.client.issueCertificate(
        { csrPem, hosts: opts.hosts },
        md,
        { deadline: Date.now() + 15_000 },
        (err, r) => (err ? reject(err) : resolve(r)),
      ),
    );
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    atomicWrite(keyFile, keyPem, 0o600);
    atomicWrite(certFile, res.certificatePem, 0o644);
    load(res.certificatePem, keyPem);
    issuedAt = Date.now();
    opts.logger.info(
      { notAfter: new Date(notAfter).toISOString(), hosts: opts.hosts },
      "TLS certificate issued by the control plane",
    );
  }

  return {
    /** Loads the certificate from disk or config, or asks the control plane for one. */
    async ensure(): Promise<void> {
      if (opts.staticPair)
        return load(
          readFileSync(opts.staticPair.certFile, "utf8"),
          readFileSync(opts.staticPair.keyFile, "utf8"),
        );
      if (existsSync(certFile) && existsSync(keyFile)) {
        load(readFileSync(certFile, "utf8"), readFileSync(keyFile, "utf8"));
        issuedAt = Date.now();
      }
      const lifetime = notAfter - issuedAt;
      if (!context || notAfter - Date.now() < Math.max(lifetime / 3, 86_400_000)) {
        try {
          await issue();
        } catch (err) {
          if (!context) throw err;
          opts.logger.warn(
            { err: (err as Error).message },
            "TLS certificate renewal failed; keeping the current one",
          );
        }
      }
    },
    context: (): tls.SecureContext | undefined => context,
    /** The current certificate and key, for `tls.createServer` / `setSecureContext`. */
    pair: (): { cert: string; key: string } | undefined => pair,
    onChange(listener: (p: { cert: string; key: string }) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export type AgentCertificate = ReturnType<typeof createAgentCertificate>;
