import { createHash } from "node:crypto";
import { Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { AppError } from "@sluice/errors";
import type { AgentServiceClient, AuthorizeSessionRequest } from "@sluice/proto";

/** What the client is told when the control plane did not authorize the session. */
function exchangeError(err: ServiceError): AppError {
  switch (err.code) {
    case status.UNAUTHENTICATED:
      return new AppError("auth.invalid_credentials", err.details || "invalid credentials");
    case status.RESOURCE_EXHAUSTED:
      // Over a session rate limit (the control plane says which), or simply busy.
      return err.details && !err.details.startsWith("the control plane is busy")
        ? new AppError("request.rate_limited", err.details)
        : new AppError("service.busy", "the control plane is busy: retry in a moment");
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
      // The control plane answered that it cannot serve (its database is down), or it did not answer.
      return new AppError(
        "service.unavailable",
        err.details?.startsWith("the control plane ")
          ? `${err.details}; a session grant (sluice connect) works offline`
          : "the control plane is unreachable: use a session grant (sluice connect) to work offline",
      );
    case status.NOT_FOUND:
      return new AppError("connection.not_found", err.details || "connection not found");
    case status.FAILED_PRECONDITION:
      return new AppError("agent.unavailable", err.details || "no agent serves this connection right now");
    case status.INVALID_ARGUMENT:
      return new AppError("request.invalid", err.details || "invalid request");
    default:
      return new AppError("session.forbidden", err.details || "not authorized");
  }
}

export type ExchangeRequest = Omit<AuthorizeSessionRequest, "count">;

interface Waiter {
  resolve(grant: string): void;
  reject(err: unknown): void;
  req: ExchangeRequest;
}

/** Sessions one call may ask for (the control plane's bound too). */
const MAX_BATCH = 100;
/** Calls in flight at once for one credential + connection; beyond, connects wait and batch. */
const MAX_IN_FLIGHT = 4;

/**
 * Exchanges client credentials for session grants with the control plane, coalescing
 * concurrent identical requests: while a call for a credential + connection is in flight,
 * further connects presenting the same one wait and go together in the next call
 * (`count`), so a pool of 100 reconnecting at once costs a few calls, not 100. Up to
 * four calls per credential run at once, so the first connects never wait for company. Each session still gets its own id and grant.
 */
export function createGrantExchange(deps: {
  client: Pick<AgentServiceClient, "authorizeSession">;
  agentToken: string;
  deadlineMs?: number;
}) {
  const queues = new Map<string, Waiter[]>();
  const running = new Map<string, number>();

  const keyOf = (r: ExchangeRequest) =>
    createHash("sha256")
      .update([r.credential, r.connectionName, r.protocol, r.sshPublicKey, r.sshCertificate].join("\0"))
      .digest("base64url");

  function call(req: ExchangeRequest, count: number): Promise<string[]> {
    const md = new Metadata();
    md.set("authorization", `Bearer ${deps.agentToken}`);
    return new Promise((resolve, reject) => {
      deps.client.authorizeSession(
        { ...req, count },
        md,
        { deadline: Date.now() + (deps.deadlineMs ?? 10_000) },
        (err, res) => {
          if (err) return reject(exchangeError(err));
          resolve([res.grant, ...res.more.map((m) => m.grant)]);
        },
      );
    });
  }

  async function pump(key: string): Promise<void> {
    running.set(key, (running.get(key) ?? 0) + 1);
    for (;;) {
      const queue = queues.get(key) ?? [];
      const batch = queue.splice(0, MAX_BATCH);
      if (queue.length === 0) queues.delete(key);
      if (batch.length === 0) break;
      try {
        const grants = await call((batch[0] as Waiter).req, batch.length);
        batch.forEach((w, i) => {
          const grant = grants[i];
          if (grant) w.resolve(grant);
          else w.reject(new AppError("service.busy", "the control plane is busy: retry in a moment"));
        });
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    const left = (running.get(key) ?? 1) - 1;
    if (left > 0) running.set(key, left);
    else running.delete(key);
  }

  return {
    exchange(req: ExchangeRequest): Promise<string> {
      const key = keyOf(req);
      return new Promise<string>((resolve, reject) => {
        const queue = queues.get(key) ?? [];
        queue.push({ resolve, reject, req });
        queues.set(key, queue);
        if ((running.get(key) ?? 0) < MAX_IN_FLIGHT) void pump(key);
      });
    },
  };
}
