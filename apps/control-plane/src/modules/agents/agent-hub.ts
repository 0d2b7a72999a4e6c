import { createHash } from "node:crypto";
import { type Metadata, type ServerDuplexStream, status } from "@grpc/grpc-js";
import type { Agent } from "@sluice/db";
import type { Logger } from "@sluice/logger";
import type { AgentMessage, ControlMessage, Hello, ReviewState } from "@sluice/proto";
import type { Db } from "../../lib/db";
import type { StateService } from "../state/state.service";
import type { DesiredState } from "./desired-state";
import { createHeartbeatWriter } from "./heartbeats";
import { type Batch, createLinkSync, type Link, MAX_DELTA, send } from "./link-sync";

type LinkCall = ServerDuplexStream<AgentMessage, ControlMessage>;

export interface AgentHubDeps {
  prisma: Db;
  desiredState: DesiredState;
  state: Pick<StateService, "currentVersion" | "changesSince">;
  logger: Logger;
  replicaId: string;
  offlineAfterMs: number;
  helloTimeoutMs?: number;
  /** How long heartbeats gather before one database write (default 1 s). */
  heartbeatFlushMs?: number;
}

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
 * change as it is published. A change is read from the database once and the same
 * batch goes to every link (each agent gets the part that concerns it). Also records
 * heartbeats, in batches, and marks silent agents offline.
 */
export function createAgentHub(deps: AgentHubDeps) {
  const { prisma, logger } = deps;
  const links = new Map<string, Link>();
  /** Links closed recently whose queued database work may still be running. */
  const ended = new Set<Link>();
  const heartbeats = createHeartbeatWriter({
    prisma,
    replicaId: deps.replicaId,
    logger,
    flushMs: deps.heartbeatFlushMs,
  });
  const linkSync = createLinkSync({ ...deps, close });
  const { sendSnapshot, sync } = linkSync;
  /** The version the last fan-out batch reached; undefined while no link takes the fan-out. */
  let cursor: bigint | undefined;
  let fanning: Promise<void> | undefined;
  let fanAgain = false;

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

  /** Reads the changes since the last batch once and queues them for every synced link. */
  async function fanOut(): Promise<void> {
    const synced = () => [...links.values()].filter((l) => l.synced && !l.closed);
    const now = synced();
    if (now.length === 0) {
      cursor = undefined;
      return;
    }
    let from = cursor ?? (now[0] as Link).sentVersion;
    if (cursor === undefined) for (const l of now) if (l.sentVersion < from) from = l.sentVersion;
    const rows = await deps.state.changesSince(from, MAX_DELTA + 1);
    if (rows.length > MAX_DELTA) {
      cursor = await deps.state.currentVersion();
      for (const link of synced()) enqueue(link, () => sendSnapshot(link));
      return;
    }
    const batch: Batch = { from, changes: [] };
    for (const row of rows) batch.changes.push(await deps.desiredState.resolve(row));
    // From here to the end runs without a pause, so a link finishing its hello either
    // gets this batch or sees the new cursor (and catches up on its own).
    cursor = rows.at(-1)?.version ?? from;
    if (rows.length === 0) return;
    for (const link of synced()) enqueue(link, () => linkSync.deliver(link, batch));
  }

  function onStateChanged(): void {
    if (fanning) {
      fanAgain = true;
      return;
    }
    fanning = (async () => {
      do {
        fanAgain = false;
        await fanOut().catch((err: unknown) => logger.warn({ err }, "desired-state fan-out failed"));
      } while (fanAgain);
    })().finally(() => {
      fanning = undefined;
    });
  }

  /** Marks the link as taking the fan-out; catches up if a batch went out meanwhile. */
  async function markSynced(link: Link): Promise<void> {
    link.synced = true;
    if (cursor === undefined) {
      // The first link to take the fan-out: look once for a change it may have just missed.
      cursor = link.sentVersion;
      onStateChanged();
    } else if (link.sentVersion < cursor) await sync(link);
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
    await markSynced(link);
  }

  async function onMessage(link: Link, msg: AgentMessage): Promise<void> {
    const body = msg.body;
    if (!body) return;
    if (body.$case === "heartbeat") {
      // Acknowledged once recorded; the link's queue does not wait for the batched write.
      const beat = {
        activeSessions: body.value.activeSessions,
        stateVersion: BigInt(body.value.stateVersion),
      };
      void heartbeats.record(link.agent.id, beat).then((ok) => {
        if (ok) send(link, { body: { $case: "heartbeatAck", value: { serverTimeUnixMs: Date.now() } } });
      });
    }
  }

  async function onEnd(link: Link): Promise<void> {
    const wasCurrent = links.get(link.agent.id) === link;
    link.closed = true;
    if (wasCurrent) links.delete(link.agent.id);
    if (!wasCurrent && links.has(link.agent.id)) return;
    heartbeats.forget(link.agent.id);
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
    let agent: Agent | undefined;
    try {
      agent = await authenticate(call);
    } catch (err) {
      // Not a verdict on the credential (the database is away): the agent must retry, not
      // conclude it was revoked and stop.
      logger.error({ err }, "agent authentication could not be checked");
      call.emit("error", {
        code: status.UNAVAILABLE,
        details: "the control plane cannot check credentials right now",
      });
      return;
    }
    if (!agent) {
      call.emit("error", { code: status.UNAUTHENTICATED, details: "invalid or revoked agent credential" });
      return;
    }
    const link: Link = {
      agent,
      call,
      sentVersion: 0n,
      synced: false,
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
    onStateChanged,
    /**
     * Marks agents offline whose heartbeats stopped (on any replica), and fans out any
     * state version this replica has not heard about (a pub/sub message lost while Redis
     * was unreachable).
     */
    async sweep(now = new Date()): Promise<number> {
      const cutoff = new Date(now.getTime() - deps.offlineAfterMs);
      const res = await prisma.agent.updateMany({
        where: { status: "online", lastSeenAt: { lt: cutoff } },
        data: { status: "offline" },
      });
      if (cursor !== undefined && (await deps.state.currentVersion()) > cursor) onStateChanged();
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
      await fanning;
      await heartbeats.flush();
    },
  };
}

export type AgentHub = ReturnType<typeof createAgentHub>;
