import type { Metadata, ServerDuplexStream, ServerUnaryCall, sendUnaryData } from "@grpc/grpc-js";
import { AppError, toAppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import type {
  AuthorizeSessionRequest,
  AuthorizeSessionResponse,
  RecordingAck,
  RecordingBatch,
} from "@sluice/proto";
import type { Db } from "../../lib/db";
import { bearerFrom, tokenHash } from "../agents/agent-hub";
import type { AuthService } from "../auth/auth.service";
import type { RecordingsService } from "../recordings/recordings.service";
import type { SshAuth } from "../ssh/ssh-auth";
import type { SessionsService } from "./sessions.service";

export interface SessionGrpcDeps {
  prisma: Db;
  auth: Pick<AuthService, "authenticate">;
  sshAuth: Pick<SshAuth, "publicKey" | "certificate">;
  sessions: Pick<SessionsService, "start">;
  recordings: Pick<RecordingsService, "ingest">;
  logger: Logger;
}

function grpcError(err: unknown) {
  const e = toAppError(err);
  return { code: e.mapping.grpc, details: e.message };
}

/** The agent-facing session RPCs: authorize a native client, and receive recordings. */
export function createSessionGrpc(deps: SessionGrpcDeps) {
  async function agentFrom(metadata: Metadata) {
    const token = bearerFrom(metadata);
    const agent = token
      ? await deps.prisma.agent.findUnique({ where: { enrollmentTokenHash: tokenHash(token) } })
      : null;
    if (!agent || agent.status === "revoked")
      throw new AppError("agent.revoked", "invalid or revoked agent credential");
    return agent;
  }

  /** A Sluice credential, or (SSH listener only) a public key or certificate the client proved it holds. */
  async function principalFor(req: AuthorizeSessionRequest) {
    if (!req.sshPublicKey && !req.sshCertificate) return deps.auth.authenticate(req.credential);
    const given = [req.credential, req.sshPublicKey, req.sshCertificate].filter((v) => v.length > 0);
    if (given.length !== 1) throw new AppError("request.invalid", "send exactly one credential");
    if (req.protocol !== "ssh" || req.sshPublicKey.length > 8192 || req.sshCertificate.length > 24_576)
      throw new AppError(
        "request.invalid",
        "SSH keys are accepted for ssh sessions only, up to a bounded size",
      );
    try {
      return req.sshCertificate
        ? await deps.sshAuth.certificate(req.sshCertificate)
        : await deps.sshAuth.publicKey(req.sshPublicKey);
    } catch (err) {
      const e = toAppError(err);
      const reason = e.cause instanceof Error ? e.cause.message : e.code;
      deps.logger.info({ reason, connection: req.connectionName.slice(0, 200) }, "ssh key login refused");
      throw e;
    }
  }

  return {
    authorizeSession(
      call: ServerUnaryCall<AuthorizeSessionRequest, AuthorizeSessionResponse>,
      callback: sendUnaryData<AuthorizeSessionResponse>,
    ): void {
      const req = call.request;
      (async () => {
        const agent = await agentFrom(call.metadata);
        if (req.credential.length > 4096 || req.connectionName.length > 200) {
          throw new AppError("request.invalid", "credential or connection name too long");
        }
        const principal = await principalFor(req);
        const started = await deps.sessions.start(
          { principal, clientAddress: req.clientAddress.slice(0, 200) || null },
          { connection: req.connectionName, protocol: req.protocol || undefined },
          agent.id,
        );
        return { sessionId: started.session.id, grant: started.grant };
      })().then(
        (res) => callback(null, res),
        (err: unknown) => callback(grpcError(err)),
      );
    },

    uploadRecording(call: ServerDuplexStream<RecordingBatch, RecordingAck>): void {
      let queue = Promise.resolve();
      let agentId: string | undefined;
      const log = deps.logger.child({ rpc: "uploadRecording" });
      call.on("data", (batch: RecordingBatch) => {
        queue = queue.then(async () => {
          try {
            agentId ??= (await agentFrom(call.metadata)).id;
            const acked = await deps.recordings.ingest(agentId, batch);
            call.write({ sessionId: batch.sessionId, ackedSeq: acked });
          } catch (err) {
            const e = toAppError(err);
            if (e.code === "internal.unexpected") log.error({ err }, "recording batch failed");
            call.emit("error", { code: e.mapping.grpc, details: e.message });
          }
        });
      });
      call.on("end", () => {
        void queue.then(() => call.end());
      });
      call.on("error", () => undefined);
    },
  };
}
