import type { Agent, Connection, Policy } from "@sluice/db";
import type { Change, ConnectionSpec, PolicySpec, Snapshot, VerificationKey } from "@sluice/proto";
import type { Db } from "../../lib/db";
import { connectionOptions } from "../connections/connections.service";

type ConnectionWithPolicies = Connection & { policies: { policyId: string }[] };

/** An agent serves a connection when the segment matches and every label of the connection's selector matches. */
export function serves(
  agent: Pick<Agent, "segment" | "labels">,
  conn: Pick<Connection, "agentSegment" | "agentLabels">,
): boolean {
  if (agent.segment !== conn.agentSegment) return false;
  const have = (agent.labels ?? {}) as Record<string, string>;
  return Object.entries((conn.agentLabels ?? {}) as Record<string, string>).every(([k, v]) => have[k] === v);
}

export function connectionSpec(c: ConnectionWithPolicies): ConnectionSpec {
  const o = connectionOptions(c);
  return {
    id: c.id,
    name: c.name,
    type: c.type,
    host: c.host,
    port: c.port,
    database: c.database ?? "",
    username: c.username ?? "",
    credentialRef: c.credentialRef ?? "",
    tls: { mode: o.tls.mode, caPem: o.tls.caPem ?? "", serverName: o.tls.serverName ?? "" },
    recordRowsLimit: o.recordRowsLimit,
    offlineGraceSeconds: o.offlineGraceSeconds,
    policyIds: c.policies.map((p) => p.policyId),
    optionsJson: JSON.stringify({ allowedGroups: c.allowedGroups }),
    settings: typeSettings(c.type, o),
  };
}

/** The per-type settings of a connection, as the proto's `settings` oneof. */
function typeSettings(type: string, o: ReturnType<typeof connectionOptions>): ConnectionSpec["settings"] {
  switch (type) {
    case "ssh":
      return {
        $case: "ssh",
        value: {
          hostKey: o.ssh?.hostKey ?? "",
          trustOnFirstUse: o.ssh?.trustOnFirstUse === true,
          allowPortForwarding: o.ssh?.allowPortForwarding === true,
        },
      };
    case "mysql":
      return {
        $case: "mysql",
        value: {
          allowLocalInfile: o.mysql?.allowLocalInfile === true,
          serverPublicKeyPem: o.mysql?.serverPublicKeyPem ?? "",
        },
      };
    case "http":
      return {
        $case: "http",
        value: {
          basePath: o.http?.basePath ?? "",
          inject: o.http?.inject?.kind ?? "",
          injectName: o.http?.inject?.name ?? "",
          clientCertificateRef: o.http?.clientCertificateRef ?? "",
          recordBodyBytes: o.http?.recordBodyBytes ?? 4096,
          passUnmaskableContent: o.http?.passUnmaskableContent === true,
        },
      };
    case "postgres":
      return { $case: "postgres", value: {} };
    default:
      return { $case: "tcp", value: {} };
  }
}

export function policySpec(p: Policy): PolicySpec {
  return {
    id: p.id,
    name: p.name,
    guardrailsJson: JSON.stringify(p.guardrails),
    maskingJson: JSON.stringify(p.masking),
    reviewRulesJson: JSON.stringify(p.reviewRules),
  };
}

export interface DesiredStateDeps {
  prisma: Db;
  verificationKeys: () => Promise<VerificationKey[]>;
}

const include = { policies: { select: { policyId: true }, orderBy: { position: "asc" } } } as const;

export function createDesiredState(deps: DesiredStateDeps) {
  const { prisma } = deps;

  async function servedConnections(agent: Agent) {
    const rows = await prisma.connection.findMany({ where: { agentSegment: agent.segment }, include });
    return rows.filter((c) => serves(agent, c));
  }

  async function snapshot(agent: Agent, version: bigint): Promise<Snapshot> {
    const connections = await servedConnections(agent);
    const policyIds = [...new Set(connections.flatMap((c) => c.policies.map((p) => p.policyId)))];
    const policies = await prisma.policy.findMany({ where: { id: { in: policyIds } } });
    return {
      version: Number(version),
      agent: { id: agent.id, name: agent.name, segment: agent.segment },
      connections: connections.map(connectionSpec),
      policies: policies.map(policySpec),
      keys: await deps.verificationKeys(),
    };
  }

  /**
   * Translates one state change into what this agent must hear, reading the entity's
   * current state (so replaying a change is idempotent). Returns null when the change
   * does not concern the agent, or "resync" when only a full snapshot is correct.
   */
  async function changeFor(
    agent: Agent,
    change: { version: bigint; kind: string; entityId: string },
  ): Promise<Change | "resync" | null> {
    const version = Number(change.version);
    switch (change.kind) {
      case "connection.upsert":
      case "connection.delete": {
        const c = await prisma.connection.findUnique({ where: { id: change.entityId }, include });
        if (c && serves(agent, c))
          return { version, body: { $case: "connectionUpsert", value: connectionSpec(c) } };
        return { version, body: { $case: "connectionDelete", value: change.entityId } };
      }
      case "policy.upsert":
      case "policy.delete": {
        const p = await prisma.policy.findUnique({ where: { id: change.entityId } });
        if (p) return { version, body: { $case: "policyUpsert", value: policySpec(p) } };
        return { version, body: { $case: "policyDelete", value: change.entityId } };
      }
      case "keys.rotate":
        return { version, body: { $case: "keys", value: { keys: await deps.verificationKeys() } } };
      case "agent.update":
        return change.entityId === agent.id ? "resync" : null;
      default:
        return null;
    }
  }

  return { snapshot, changeFor };
}

export type DesiredState = ReturnType<typeof createDesiredState>;
