import { createHash } from "node:crypto";
import { type Metadata, type ServerDuplexStream, status } from "@grpc/grpc-js";
import type { Agent } from "@sluice/db";
import type { Logger } from "@sluice/logger";
import type { AgentMessage, ControlMessage, Hello, ReviewState } from "@sluice/proto";
import type { Db } from "../../lib/db";
import type { StateService } from "../state/state.service";
import type { DesiredState } from "./desired-state";

type LinkCall = ServerDuplexStream<AgentMessage, ControlMessage>;

interface Link {
  agent: Agent;
  call: LinkCall;
  sentVersion: bigint;
  queue: Promise<void>;
  closed: boolean;
  log: Logger;
}

export interface AgentHubDeps {
  prisma: Db;
  desiredState: DesiredState;
  state: Pick<StateService, "currentVersion" | "changesSince">;
  logger: Logger;
  replicaId: string;
  offlineAfterMs: number;
  helloTimeoutMs?: number;
}

const MAX_DELTA = 1000;

export function bearerFrom(metadata: Metadata): string | undefined {
  const value = metadata.get("authorization")[0];
  if (typeof value !== "string") return undefined;
  const m = /^Bearer\s+(\S{1,512})$/.exec(value);
  return m?.[1];
}

export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * Keeps every agent connected to this replica in step with the desired state:
 * a snapshot (or the delta since the agent's resume cursor) on connect, then each
 * change as it is published. Also tracks heartbeats and marks silent agents offline.
 */
export function createAgentHub(deps: AgentHubDeps) {
  const { prisma, logger } = deps;
  const links = new Map<string, Link>();
  /** Links closed recently whose queued database work may still be running. */
  const ended = new Set<Link>();

  function send(link: Link, msg: ControlMessage): void {
    if (!link.closed) link.call.write(msg);
  }

  function close(link: Link, code: status, details: string): void {
    if (link.closed) return;
    link.closed = true;
    if (links.get(link.agent.id) === link) links.delete(link.agent.id);
    link.call.emit("error", { code, details });
  }

  function enqueue(link: Link, task: () => Promise<void>): void {
    ended.add(link);
    const q = link.queue.then(task).catch((err: unknown) => {
      link.log.error({ err }, "agent link sync failed; closing the link so the agent resyncs");
      close(link, status.UNAVAILABLE, "control plane could not sync state; reconnect");
    });
    link.queue = q;
    void q.then(() => {
      if (link.queue === q) ended.delete(link);
    });
  }

  async function sendSnapshot(link: Link): Promise<void> {
    const version = await deps.state.currentVersion();
    const agent = await prisma.agent.findUnique({ where: { id: link.agent.id } });
    if (!agent || agent.status === "revoked")
      return close(link, status.UNAUTHENTICATED, "agent credential revoked");
    link.agent = agent;
    send(link, { body: { $case: "snapshot", value: await deps.desiredState.snapshot(agent, version) } });
    link.sentVersion = version;
  }

  async function sync(link: Link): Promise<void> {
    const changes = await deps.state.changesSince(link.sentVersion, MAX_DELTA + 1);
    if (changes.length > MAX_DELTA) return sendSnapshot(link);
    for (const change of changes) {
      if (link.closed) return;
      if (change.kind === "agent.revoke" && change.entityId === link.agent.id) {
        return close(link, status.UNAUTHENTICATED, "agent credential revoked");
      }
      const out = await deps.desiredState.changeFor(link.agent, change);
      if (out === "resync") return sendSnapshot(link);
      if (out) send(link, { body: { $case: "change", value: out } });
      link.sentVersion = change.version;
    }
  }

  async function onHello(link: Link, hello: Hello): Promise<void> {
    link.agent = await prisma.agent.update({
      where: { id: link.agent.id },
      data: {
        status: "online",
        version: hello.agentVersion.slice(0, 100),
        capabilities: hello.capabilities.slice(0, 50).map((c) => c.slice(0, 100)),
        endpoints: hello.endpoints
          .slice(0, 20)
          .map((e) => ({ protocol: e.protocol.slice(0, 20), host: e.host.slice(0, 253), port: e.port })),
        lastSeenAt: new Date(),
        connectedReplica: deps.replicaId,
      },
    });
    const resume = BigInt(hello.resumeVersion);
    const current = await deps.state.currentVersion();
    const earliest = await prisma.stateChange.findFirst({
      orderBy: { version: "asc" },
      select: { version: true },
    });
    const canResume = resume > 0n && resume <= current && (!earliest || earliest.version <= resume + 1n);
    link.log.info(
      { resume: Number(resume), current: Number(current), mode: canResume ? "delta" : "snapshot" },
      "agent linked",
    );
    if (canResume) {
      link.sentVersion = resume;
      await sync(link);
    } else {
      await sendSnapshot(link);
    }
  }

  async function onMessage(link: Link, msg: AgentMessage): Promise<void> {
    const body = msg.body;
    if (!body) return;
    if (body.$case === "heartbeat") {
      await prisma.agent.update({
        where: { id: link.agent.id },
        data: {
          lastSeenAt: new Date(),
          status: "online",
          activeSessions: body.value.activeSessions,
          stateVersion: BigInt(body.value.stateVersion),
          connectedReplica: deps.replicaId,
        },
      });
      send(link, { body: { $case: "heartbeatAck", value: { serverTimeUnixMs: Date.now() } } });
    }
  }

  async function onEnd(link: Link): Promise<void> {
    const wasCurrent = links.get(link.agent.id) === link;
    link.closed = true;
    if (wasCurrent) links.delete(link.agent.id);
    if (!wasCurrent && links.has(link.agent.id)) return;
    await prisma.agent.updateMany({
      where: { id: link.agent.id, status: "online", connectedReplica: deps.replicaId },
      data: { status: "offline" },
    });
    link.log.info("agent link closed");
  }

  async function authenticate(call: LinkCall): Promise<Agent | undefined> {
    const token = bearerFrom(call.metadata);
    if (!token) return undefined;
    const agent = await prisma.agent.findUnique({ where: { enrollmentTokenHash: tokenHash(token) } });
    return agent && agent.status !== "revoked" ? agent : undefined;
  }

  async function handleLink(call: LinkCall): Promise<void> {
    const agent = await authenticate(call).catch((err: unknown) => {
      logger.error({ err }, "agent authentication failed");
      return undefined;
    });
    if (!agent) {
      call.emit("error", { code: status.UNAUTHENTICATED, details: "invalid or revoked agent credential" });
      return;
    }
    const link: Link = {
      agent,
      call,
      sentVersion: 0n,
      queue: Promise.resolve(),
      closed: false,
      log: logger.child({ agentId: agent.id, agent: agent.name }),
    };
    const previous = links.get(agent.id);
    if (previous) close(previous, status.ABORTED, "superseded by a newer connection from the same agent");
    links.set(agent.id, link);

    let helloSeen = false;
    const helloTimer = setTimeout(() => {
      if (!helloSeen) close(link, status.DEADLINE_EXCEEDED, "expected Hello as the first message");
    }, deps.helloTimeoutMs ?? 10_000);
    call.on("data", (msg: AgentMessage) => {
      if (!helloSeen) {
        if (msg.body?.$case !== "hello")
          return close(link, status.FAILED_PRECONDITION, "expected Hello as the first message");
        helloSeen = true;
        clearTimeout(helloTimer);
        const hello = msg.body.value;
        return enqueue(link, () => onHello(link, hello));
      }
      enqueue(link, () => onMessage(link, msg));
    });
    const finish = () => {
      clearTimeout(helloTimer);
      enqueue(link, () => onEnd(link));
    };
    call.on("end", () => {
      finish();
      call.end();
    });
    call.on("cancelled", finish);
    call.on("error", finish);
  }

  return {
    handleLink,
    /** Called when any replica publishes a new state version. */
    onStateChanged(): void {
      for (const link of links.values()) enqueue(link, () => sync(link));
    },
    /** Marks agents offline whose heartbeats stopped (on any replica). */
    async sweep(now = new Date()): Promise<number> {
      const cutoff = new Date(now.getTime() - deps.offlineAfterMs);
      const res = await prisma.agent.updateMany({
        where: { status: "online", lastSeenAt: { lt: cutoff } },
        data: { status: "offline" },
      });
      return res.count;
    },
    connectedAgentIds: () => [...links.keys()],
    /** Tells an agent linked to this replica to end sessions; returns how many were sent. */
    endSessions(agentId: string, sessionIds: string[], reason: string): number {
      const link = links.get(agentId);
      if (!link || link.closed) return 0;
      for (const sessionId of sessionIds) {
        send(link, { body: { $case: "endSession", value: { sessionId, reason } } });
      }
      link.log.info({ sessions: sessionIds.length, reason }, "asked agent to end sessions");
      return sessionIds.length;
    },
    /** Sends a statement review's new state to an agent linked to this replica; false when it is not. */
    sendReview(agentId: string, state: ReviewState): boolean {
      const link = links.get(agentId);
      if (!link || link.closed) return false;
      send(link, { body: { $case: "review", value: state } });
      link.log.info({ reviewId: state.reviewId, status: state.status }, "sent review state to agent");
      return true;
    },
    /** Closes every link and waits for their pending database work to finish. */
    async closeAll(): Promise<void> {
      const all = [...links.values()];
      for (const link of all) close(link, status.UNAVAILABLE, "control plane shutting down");
      await Promise.all([...all, ...ended].map((l) => l.queue));
    },
  };
}

export type AgentHub = ReturnType<typeof createAgentHub>;
