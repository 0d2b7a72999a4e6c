import { type ServerDuplexStream, status } from "@grpc/grpc-js";
import type { Agent } from "@sluice/db";
import type { Logger } from "@sluice/logger";
import type { AgentMessage, ControlMessage } from "@sluice/proto";
import type { Db } from "../../lib/db";
import type { StateService } from "../state/state.service";
import type { DesiredState, ResolvedChange } from "./desired-state";

export interface Link {
  agent: Agent;
  call: ServerDuplexStream<AgentMessage, ControlMessage>;
  /** The last state version this link was sent (snapshot or change). */
  sentVersion: bigint;
  /** True once the first snapshot or delta went out: from then on the link takes the fan-out. */
  synced: boolean;
  queue: Promise<void>;
  closed: boolean;
  log: Logger;
}

/** Changes read once and sent to every link: those after `from`, in version order. */
export interface Batch {
  from: bigint;
  changes: ResolvedChange[];
}

export const MAX_DELTA = 1000;

export interface LinkSyncDeps {
  prisma: Db;
  desiredState: DesiredState;
  state: Pick<StateService, "currentVersion" | "changesSince">;
  close(link: Link, code: status, details: string): void;
}

export function send(link: Link, msg: ControlMessage): void {
  if (!link.closed) link.call.write(msg);
}

/** Bringing one link up to date: a snapshot, its own catch-up, or a share of a fan-out batch. */
export function createLinkSync(deps: LinkSyncDeps) {
  const { prisma } = deps;

  async function sendSnapshot(link: Link): Promise<void> {
    const version = await deps.state.currentVersion();
    const agent = await prisma.agent.findUnique({ where: { id: link.agent.id } });
    if (!agent || agent.status === "revoked")
      return deps.close(link, status.UNAUTHENTICATED, "agent credential revoked");
    link.agent = agent;
    send(link, { body: { $case: "snapshot", value: await deps.desiredState.snapshot(agent, version) } });
    link.sentVersion = version;
  }

  /** Sends one change if it concerns the agent; false when the link needs nothing more from this batch. */
  async function apply(link: Link, change: ResolvedChange): Promise<boolean> {
    if (link.closed) return false;
    const out = deps.desiredState.forAgent(link.agent, change);
    if (out === "revoked") {
      deps.close(link, status.UNAUTHENTICATED, "agent credential revoked");
      return false;
    }
    if (out === "resync") {
      await sendSnapshot(link);
      return false;
    }
    if (out) send(link, { body: { $case: "change", value: out } });
    link.sentVersion = BigInt(change.version);
    return true;
  }

  /** This link's own catch-up from its cursor (on connect, or when it fell behind a batch). */
  async function sync(link: Link): Promise<void> {
    const rows = await deps.state.changesSince(link.sentVersion, MAX_DELTA + 1);
    if (rows.length > MAX_DELTA) return sendSnapshot(link);
    for (const row of rows) {
      if (!(await apply(link, await deps.desiredState.resolve(row)))) return;
    }
  }

  /** Sends the part of a shared batch this link has not had yet. */
  async function deliver(link: Link, batch: Batch): Promise<void> {
    if (link.closed) return;
    if (link.sentVersion < batch.from) return sync(link);
    for (const change of batch.changes) {
      if (BigInt(change.version) <= link.sentVersion) continue;
      if (!(await apply(link, change))) return;
    }
  }

  return { sendSnapshot, sync, deliver };
}

export type LinkSync = ReturnType<typeof createLinkSync>;
