import type { ServerUnaryCall, sendUnaryData } from "@grpc/grpc-js";
import { AppError, toAppError } from "@sluice/errors";
import { certificateNotAfter, type PemPair, signCsr } from "@sluice/pki";
import type { CertificateRequest, CertificateResponse } from "@sluice/proto";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Db } from "../../lib/db";
import { anyRole, errors } from "../../server/route-helpers";
import { bearerFrom, tokenHash } from "./agent-hub";

const hostPattern =
  /^([A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}$|^(\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]{2,39}$/;

/** Issues TLS certificates for agents' client-facing listeners from the control plane's CA. */
export function createAgentCerts(deps: { prisma: Db; ca: PemPair | undefined; validDays?: number }) {
  return {
    caPem: deps.ca?.certPem,
    issueCertificate(
      call: ServerUnaryCall<CertificateRequest, CertificateResponse>,
      callback: sendUnaryData<CertificateResponse>,
    ): void {
      (async () => {
        const token = bearerFrom(call.metadata);
        const agent = token
          ? await deps.prisma.agent.findUnique({ where: { enrollmentTokenHash: tokenHash(token) } })
          : null;
        if (!agent || agent.status === "revoked")
          throw new AppError("agent.revoked", "invalid or revoked agent credential");
        if (!deps.ca)
          throw new AppError(
            "service.unavailable",
            "this control plane has no CA configured (SLUICE_CA_CERT_FILE/SLUICE_CA_KEY_FILE)",
          );
        const { csrPem, hosts } = call.request;
        if (csrPem.length > 16_384) throw new AppError("request.too_large", "certificate request too large");
        if (
          hosts.length === 0 ||
          hosts.length > 10 ||
          !hosts.every((h) => h.length <= 253 && hostPattern.test(h))
        ) {
          throw new AppError("request.invalid", "give 1-10 valid host names or IP addresses");
        }
        const certificatePem = await signCsr(deps.ca, csrPem, {
          commonName: `sluice-agent-${agent.name}`,
          hosts,
          validDays: deps.validDays ?? 30,
        }).catch((err: unknown) => {
          throw new AppError("request.invalid", "certificate request is invalid", { cause: err });
        });
        return {
          certificatePem,
          caPem: deps.ca.certPem,
          notAfterUnixMs: certificateNotAfter(certificatePem).getTime(),
        };
      })().then(
        (res) => callback(null, res),
        (err: unknown) => {
          const e = toAppError(err);
          callback({ code: e.mapping.grpc, details: e.message });
        },
      );
    },
  };
}

export function caRoutes(deps: { caPem: string | undefined }): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      "/ca",
      {
        config: { auth: anyRole },
        schema: {
          tags: ["agents"],
          description:
            "The CA that issues agents' TLS certificates; clients trust it for tunnels and native TLS.",
          response: { 200: z.object({ caPem: z.string() }), ...errors },
        },
      },
      async () => {
        if (!deps.caPem) throw new AppError("service.unavailable", "this control plane has no CA configured");
        return { caPem: deps.caPem };
      },
    );
  };
}
