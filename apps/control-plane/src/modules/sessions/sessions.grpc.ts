import {
  type Metadata,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";

import { AppError, toAppError } from "@sluice/errors";
import type { Logger } from "@sluice/logger";
import type {
  AuthorizeSessionRequest,
  AuthorizeSessionResponse,
  RecordingAck,
  RecordingBatch,
} from "@sluice/proto";
import type { Db } from "../../lib/db";
import { isDatabaseUnavailable } from "../../lib/db-errors";
import { bearerFrom, tokenHash } from "../agents/agent-hub";
import { checkSessionScope } from "../auth/api-key-scopes";
import type { AuthService } from "../auth/auth.service";
import { createPrincipalCache } from "../auth/principal-cache";
import type { Metrics } from "../metrics/metrics";
import type { RecordingsService } from "../recordings/recordings.service";
import type { SshAuth } from "../ssh/ssh-auth";
import type { Admission } from "./admission";
import type { SessionsService } from "./sessions.service";

export interface SessionGrpcDeps {
  prisma: Db;
  auth: Pick<AuthService, "authenticate">;
  sshAuth: Pick<SshAuth, "publicKey" | "certificate">;
  sessions: Pick<SessionsService, "start">;
  recordings: Pick<RecordingsService, "ingest">;
  admission: Pick<Admission, "run">;
  /** How long a verified credential is reused for new sessions (revocation applies within it). */
  principalCacheMs?: number;
  metrics: Pick<Metrics, "admissionSeconds" | "admissionRefusals">;
  logger: Logger;
}

/** How long an agent's credential lookup is reused; a revoked agent is refused within this. */
const AGENT_CACHE_MS = 2000;
const AGENT_CACHE_MAX = 10_000;
/** Sessions one AuthorizeSession may open (an agent coalescing identical connects). */
const MAX_COALESCED = 100;
const BATCH_PARALLEL = 8;

/** The refusal reason a metric and a log line name, from the error the agent receives. */
function refusalReason(e: AppError): string {
  switch (e.mapping.grpc) {
    case 16:
      return "unauthenticated";
    case 7:
      return "forbidden";
    case 5:
      return "not_found";
    case 3:
      return "invalid";
    case 8:
      return "busy";
    case 14:
      return "unavailable";
    default:
      return "internal";
  }
}

/** The agent-facing session RPCs: authorize a native client, and receive recordings. */
export function createSessionGrpc(deps: SessionGrpcDeps) {
  const agents = new Map<string, { id: string; until: number }>();
  const principals = createPrincipalCache({ ttlMs: deps.principalCacheMs ?? 2000, max: 10_000 });

  async function agentFrom(metadata: Metadata): Promise<{ id: string }> {
    const token = bearerFrom(metadata);
    if (!token) throw new AppError("agent.revoked", "invalid or revoked agent credential");
    const hash = tokenHash(token);
    const cached = agents.get(hash);
    if (cached && cached.until > Date.now()) return cached;
    const agent = await deps.prisma.agent.findUnique({
      where: { enrollmentTokenHash: hash },
      select: { id: true, status: true },
    });
    if (!agent || agent.status === "revoked")
      throw new AppError("agent.revoked", "invalid or revoked agent credential");
    if (agents.size >= AGENT_CACHE_MAX) agents.clear();
    const entry = { id: agent.id, until: Date.now() + AGENT_CACHE_MS };
    agents.set(hash, entry);
    return entry;
  }

  /** A Sluice credential, or (SSH listener only) a public key or certificate the client proved it holds. */
  async function principalFor(req: AuthorizeSessionRequest) {
    if (!req.sshPublicKey && !req.sshCertificate)
      return principals.get(req.credential, () => deps.auth.authenticate(req.credential));
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
    /** A credential or user was revoked somewhere: check every credential again from now on. */
    forgetCredentials(): void {
      principals.clear();
      agents.clear();
    },
    authorizeSession(
      call: ServerUnaryCall<AuthorizeSessionRequest, AuthorizeSessionResponse>,
      callback: sendUnaryData<AuthorizeSessionResponse>,
    ): void {
      const req = call.request;
      const began = performance.now();
      const deadline = Number(call.getDeadline());
      let agentId: string | undefined;
      deps.admission
        .run(Number.isFinite(deadline) ? deadline : Number.POSITIVE_INFINITY, async () => {
          const agent = await agentFrom(call.metadata);
          agentId = agent.id;
          if (req.credential.length > 4096 || req.connectionName.length > 200) {
            throw new AppError("request.invalid", "credential or connection name too long");
          }
          // The agent gave up while this waited: do not create a session nobody will use.
          if (call.cancelled) throw new AppError("service.busy", "the agent stopped waiting");
          const principal = await principalFor(req);
          checkSessionScope(principal.scopes);
          // A coalesced call: the same credential opening several sessions at once,
          // authenticated once; each session is its own row, grant and audit entry.
          const count = Math.min(MAX_COALESCED, Math.max(1, req.count));
          const grants: { sessionId: string; grant: string }[] = [];
          const startOne = async () => {
            const started = await deps.sessions.start(
              { principal, clientAddress: req.clientAddress.slice(0, 200) || null },
              { connection: req.connectionName, protocol: req.protocol || undefined },
              agent.id,
            );
            grants.push({ sessionId: started.session.id, grant: started.grant });
          };
          // A few at a time: one batch must not take the whole database pool.
          for (let i = 0; i < count; i += BATCH_PARALLEL) {
            await Promise.all(Array.from({ length: Math.min(BATCH_PARALLEL, count - i) }, startOne));
          }
          const [first, ...more] = grants as [{ sessionId: string; grant: string }];
          return { ...first, more };
        })
        .then(
          (res) => {
            deps.metrics.admissionSeconds.observe({ outcome: "ok" }, (performance.now() - began) / 1000);
            if (call.cancelled) {
              deps.logger.warn(
                { sessionId: res.sessionId, agentId },
                "session authorized after the agent stopped waiting; it will be aborted when its grant expires",
              );
            }
            callback(null, res);
          },
          (err: unknown) => {
            const e = isDatabaseUnavailable(err)
              ? new AppError(
                  "service.unavailable",
                  "the control plane cannot reach its database: retry shortly",
                  {
                    cause: err,
                  },
                )
              : toAppError(err);
            const reason = e.code === "request.rate_limited" ? "rate_limited" : refusalReason(e);
            deps.metrics.admissionSeconds.observe({ outcome: reason }, (performance.now() - began) / 1000);
            // Busy refusals are summarized by the admission limiter; an expected refusal
            // (bad credential, no access) is the caller's business; anything else is ours.
            if (reason !== "busy") deps.metrics.admissionRefusals.inc({ reason });
            if (reason === "internal" || reason === "unavailable")
              deps.logger.error(
                { err, agentId, connection: req.connectionName.slice(0, 200) },
                "session authorization failed",
              );
            // "No agent serves it" is an answer, not a transport failure: keep it apart from
            // UNAVAILABLE, which the agent reads as "the control plane is unreachable".
            const code = e.code === "agent.unavailable" ? status.FAILED_PRECONDITION : e.mapping.grpc;
            callback({ code, details: e.message });
          },
        );
    },

    uploadRecording(call: ServerDuplexStream<RecordingBatch, RecordingAck>): void {
      let queue = Promise.resolve();
      const log = deps.logger.child({ rpc: "uploadRecording" });
      call.on("data", (batch: RecordingBatch) => {
        queue = queue.then(async () => {
          try {
            // Every batch: an agent revoked while its stream is open is refused from then on.
            const agentId = (await agentFrom(call.metadata)).id;
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
