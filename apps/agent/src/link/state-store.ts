import { EventEmitter } from "node:events";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type {
  AgentIdentity,
  Change,
  ConnectionSpec,
  PolicySpec,
  Snapshot,
  VerificationKey,
} from "@sluice/proto";

export interface DesiredState {
  version: number;
  agent: AgentIdentity | undefined;
  connections: Map<string, ConnectionSpec>;
  policies: Map<string, PolicySpec>;
  keys: VerificationKey[];
  /** When the control plane last confirmed this state (ms since epoch). */
  syncedAt: number;
}

interface Persisted {
  version: number;
  agent?: AgentIdentity;
  connections: ConnectionSpec[];
  policies: PolicySpec[];
  keys: VerificationKey[];
  syncedAt: number;
}

/**
 * The agent's cached, versioned copy of its desired state. It survives restarts (a
 * JSON file written atomically) so the agent keeps serving while the control plane
 * is unreachable, within the staleness bound.
 */
export class StateStore extends EventEmitter<{ change: [] }> {
  readonly state: DesiredState = {
    version: 0,
    agent: undefined,
    connections: new Map(),
    policies: new Map(),
    keys: [],
    syncedAt: 0,
  };

  constructor(private readonly file: string | undefined) {
    super();
    if (file) this.load(file);
  }

  private load(file: string): void {
    let data: Persisted;
    try {
      data = JSON.parse(readFileSync(file, "utf8")) as Persisted;
    } catch {
      return;
    }
    this.state.version = data.version;
    this.state.agent = data.agent;
    this.state.connections = new Map(data.connections.map((c) => [c.id, c]));
    this.state.policies = new Map(data.policies.map((p) => [p.id, p]));
    this.state.keys = data.keys;
    this.state.syncedAt = data.syncedAt;
  }

  private persist(): void {
    if (!this.file) return;
    const s = this.state;
    const data: Persisted = {
      version: s.version,
      ...(s.agent ? { agent: s.agent } : {}),
      connections: [...s.connections.values()],
      policies: [...s.policies.values()],
      keys: s.keys,
      syncedAt: s.syncedAt,
    };
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  applySnapshot(snap: Snapshot): void {
    this.state.version = snap.version;
    this.state.agent = snap.agent;
    this.state.connections = new Map(snap.connections.map((c) => [c.id, c]));
    this.state.policies = new Map(snap.policies.map((p) => [p.id, p]));
    this.state.keys = snap.keys;
    this.state.syncedAt = Date.now();
    this.persist();
    this.emit("change");
  }

  applyChange(change: Change): void {
    const body = change.body;
    switch (body?.$case) {
      case "connectionUpsert":
        this.state.connections.set(body.value.id, body.value);
        break;
      case "connectionDelete":
        this.state.connections.delete(body.value);
        break;
      case "policyUpsert":
        this.state.policies.set(body.value.id, body.value);
        break;
      case "policyDelete":
        this.state.policies.delete(body.value);
        break;
      case "keys":
        this.state.keys = body.value.keys;
        break;
    }
    this.state.version = Math.max(this.state.version, change.version);
    this.state.syncedAt = Date.now();
    this.persist();
    this.emit("change");
  }

  markSynced(): void {
    this.state.syncedAt = Date.now();
  }

  connectionByName(name: string): ConnectionSpec | undefined {
    for (const c of this.state.connections.values()) if (c.name === name) return c;
    return undefined;
  }

  /** True while the cached state is younger than the bound, so offline decisions are allowed. */
  isFresh(stalenessMs: number, now = Date.now()): boolean {
    return this.state.syncedAt > 0 && now - this.state.syncedAt <= stalenessMs;
  }
}
