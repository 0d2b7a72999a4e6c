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
    case "kubernetes":
      return {
        $case: "kubernetes",
        value: {
          disableImpersonation: o.kubernetes?.impersonate === false,
          groupMappingJson: JSON.stringify(o.kubernetes?.groupMapping ?? {}),
          groupPrefix: o.kubernetes?.groupPrefix ?? "",
          clientCertificateRef: o.kubernetes?.clientCertificateRef ?? "",
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

/** A row of the state change log. */
export interface StateChangeRef {
  version: bigint;
  kind: string;
  entityId: string;
}

/** A state change with what it names read from the database, the same for every agent. */
export type ResolvedChange =
  | {
      version: number;
      kind: "connection";
      id: string;
      row: ConnectionWithPolicies | null;
      spec: ConnectionSpec | null;
    }
  | { version: number; kind: "policy"; id: string; spec: PolicySpec | null }
  | { version: number; kind: "keys"; keys: VerificationKey[] }
  | { version: number; kind: "agent.update" | "agent.revoke"; id: string }
  | { version: number; kind: "other" };

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
   * Reads what one state change names, once for every agent: the entity's current state
   * (so replaying a change is idempotent), already in its wire form.
   */
  async function resolve(change: StateChangeRef): Promise<ResolvedChange> {
    const version = Number(change.version);
    switch (change.kind) {
      case "connection.upsert":
      case "connection.delete": {
        const c = await prisma.connection.findUnique({ where: { id: change.entityId }, include });
        return {
          version,
          kind: "connection",
          id: change.entityId,
          row: c,
          spec: c ? connectionSpec(c) : null,
        };
      }
      case "policy.upsert":
      case "policy.delete": {
        const p = await prisma.policy.findUnique({ where: { id: change.entityId } });
        return { version, kind: "policy", id: change.entityId, spec: p ? policySpec(p) : null };
      }
      case "keys.rotate":
        return { version, kind: "keys", keys: await deps.verificationKeys() };
      case "agent.update":
      case "agent.revoke":
        return { version, kind: change.kind, id: change.entityId };
      default:
        return { version, kind: "other" };
    }
  }

  /** The resolved change as this agent must hear it: null when it does not concern the agent. */
  function forAgent(agent: Agent, r: ResolvedChange): Change | "resync" | "revoked" | null {
    const version = r.version;
    switch (r.kind) {
      case "connection":
        if (r.row && r.spec && serves(agent, r.row))
          return { version, body: { $case: "connectionUpsert", value: r.spec } };
        return { version, body: { $case: "connectionDelete", value: r.id } };
      case "policy":
        if (r.spec) return { version, body: { $case: "policyUpsert", value: r.spec } };
        return { version, body: { $case: "policyDelete", value: r.id } };
      case "keys":
        return { version, body: { $case: "keys", value: { keys: r.keys } } };
      case "agent.update":
        return r.id === agent.id ? "resync" : null;
      case "agent.revoke":
        return r.id === agent.id ? "revoked" : null;
      default:
        return null;
    }
  }

  return { snapshot, resolve, forAgent };
}

export type DesiredState = ReturnType<typeof createDesiredState>;
