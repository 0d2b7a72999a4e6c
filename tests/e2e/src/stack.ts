import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  createTestDatabase,
  createTestPki,
  eventually,
  freePort,
  type ManagedProcess,
  startProcess,
  type TestDatabase,
  type TestPki,
} from "@sluice/testkit";
import pg from "pg";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
/** Runs a TypeScript entry point in ONE node process (so a signal reaches the real server). */
const node = process.execPath;
const tsArgs = (entry: string) => ["--import", "tsx", entry];

export interface ApiResult {
  status: number;
  body: any;
  text: string;
}

export interface ControlPlaneProcess {
  proc: ManagedProcess;
  apiUrl: string;
  grpcPort: number;
  env: Record<string, string>;
}

/** One recorded session event as the API returns it. */
export interface RecordedEvent {
  kind: string;
  payload: any;
}

export interface Stack {
  db: TestDatabase;
  pki: TestPki;
  home: string;
  adminKey: string;
  cp: ControlPlaneProcess;
  api(path: string, init?: { method?: string; body?: unknown; key?: string | null }): Promise<ApiResult>;
  /** Creates a user (name = email) in these groups and returns a new API key's secret. */
  userKey(email: string, groups: string[]): Promise<string>;
  /** A session's recorded events, once the session is closed and its end is recorded. */
  closedSessionEvents(sessionId: string, timeoutMs?: number): Promise<RecordedEvent[]>;
  startControlPlane(overrides?: Record<string, string>): Promise<ControlPlaneProcess>;
  /** Starts the control plane again on the ports it had (after it was killed); becomes `cp`. */
  restartControlPlane(): Promise<void>;
  startAgent(
    name: string,
    env?: Record<string, string>,
    opts?: { token?: string; segment?: string },
  ): Promise<AgentProcess>;
  stop(): Promise<void>;
}

export interface AgentProcess {
  proc: ManagedProcess;
  name: string;
  token: string;
  env: Record<string, string>;
  /** Ports the agent bound (it listens on port 0 unless told otherwise and logs what it got). */
  readonly pgPort: number;
  /** Known once the agent has logged "tunnel listener ready". */
  readonly tunnelPort: number;
  /** Known once the agent has logged "ssh listener ready". */
  readonly sshPort: number;
  /** Known once the agent has logged "mysql listener ready". */
  readonly mysqlPort: number;
  /** Known once the agent has logged "http listener ready". */
  readonly httpPort: number;
  readonly kubePort: number;
  stateDir: string;
  /** The agent's SSH host key as a known_hosts key (`ssh-ed25519 AAAA…`). */
  sshHostPublicKey(): string;
  /** kill -9, then start again from the state dir on the same ports. */
  restart(): Promise<void>;
}

/**
 * The port a process logged in its last `msg` line carrying `field`. Services listen on port 0
 * and report what they bound, so parallel suites never race for a port picked in advance.
 */
function loggedPort(proc: ManagedProcess, msg: string, field: string): number {
  const port = loggedField(proc, msg, field);
  if (typeof port !== "number") throw new Error(`process has not logged "${msg}" with ${field} yet`);
  return port;
}

function loggedUrl(proc: ManagedProcess, msg: string, field: string): string {
  const url = loggedField(proc, msg, field);
  if (typeof url !== "string") throw new Error(`process has not logged "${msg}" with ${field} yet`);
  return url.replace("0.0.0.0", "127.0.0.1");
}

function loggedField(proc: ManagedProcess, msg: string, field: string): unknown {
  let value: unknown;
  for (const line of proc.output().split("\n")) {
    if (!line.includes(msg)) continue;
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry.msg === msg && entry[field] !== undefined) value = entry[field];
    } catch {
      // not a log line
    }
  }
  return value;
}

/** The highest desired-state version the control plane has recorded. */
async function latestStateVersion(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const res = await client.query<{ v: string }>(
      "SELECT coalesce(max(version), 0)::text AS v FROM state_changes",
    );
    return Number(res.rows[0]?.v ?? 0);
  } finally {
    await client.end();
  }
}

/** One REST call to a control plane at `baseUrl`, with `key` as the bearer unless told otherwise. */
export async function apiRequest(
  baseUrl: string,
  key: string | null,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<ApiResult> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: init.method ?? "GET",
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return { status: res.status, body, text };
}

export interface StackOptions {
  /** Settings for every control plane the stack starts (the first and any replica). */
  controlPlaneEnv?: Record<string, string>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const db = await createTestDatabase("e2e");
  const pki = await createTestPki();
  const home = mkdtempSync(join(tmpdir(), "sluice-e2e-"));
  const adminKeyFile = join(home, "admin.key");
  const baseEnv = {
    DATABASE_URL: db.url,
    REDIS_URL: process.env.SLUICE_TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
    SLUICE_REDIS_PREFIX: `sluice-e2e-${randomBytes(4).toString("hex")}:`,
    SLUICE_GRPC_TLS_CERT_FILE: pki.certFile,
    SLUICE_GRPC_TLS_KEY_FILE: pki.keyFile,
    SLUICE_CA_CERT_FILE: pki.caFile,
    SLUICE_CA_KEY_FILE: pki.caKeyFile,
    SLUICE_MASTER_KEY: randomBytes(32).toString("base64"),
    SLUICE_BOOTSTRAP_ADMIN_KEY_FILE: adminKeyFile,
    SLUICE_AGENT_OFFLINE_AFTER_SECONDS: "4",
    SLUICE_RATE_LIMIT_PER_MINUTE: "100000",
    ...opts.controlPlaneEnv,
  };
  const procs: ManagedProcess[] = [];
  // The tunnel listener binds once the agent has its certificate, after the agent announced its
  // endpoints, so its port is picked here (every other service listens on port 0).
  const usedPorts = new Set<number>();
  async function newPort(): Promise<number> {
    for (;;) {
      const port = await freePort();
      if (!usedPorts.has(port)) {
        usedPorts.add(port);
        return port;
      }
    }
  }

  async function startControlPlane(overrides: Record<string, string> = {}): Promise<ControlPlaneProcess> {
    // Port 0 unless a restart asks for the ports it had: the process reports what it bound.
    const env = { ...baseEnv, SLUICE_API_PORT: "0", SLUICE_GRPC_PORT: "0", ...overrides };
    const proc = startProcess(node, tsArgs("apps/control-plane/src/main.ts"), { cwd: repoRoot, env });
    procs.push(proc);
    await proc.waitForOutput(/control plane listening/, 30_000);
    const grpcPort = loggedPort(proc, "control plane listening", "grpcPort");
    const apiUrl = loggedUrl(proc, "control plane listening", "api");
    env.SLUICE_API_PORT = new URL(apiUrl).port;
    env.SLUICE_GRPC_PORT = String(grpcPort);
    return { proc, env, apiUrl, grpcPort };
  }

  // A control plane that fails to come up must not outlive the suite, nor its database.
  const cp = await startControlPlane().catch(async (err: unknown) => {
    await Promise.all(procs.map((p) => p.stop("SIGKILL")));
    await db.drop();
    throw err;
  });
  const { readFileSync } = await import("node:fs");
  const adminKey = readFileSync(adminKeyFile, "utf8").trim();
  const stack: Stack = {
    db,
    pki,
    home,
    adminKey,
    cp,
    api(path, init = {}) {
      return apiRequest(stack.cp.apiUrl, init.key === undefined ? adminKey : init.key, path, init);
    },
    closedSessionEvents(sessionId, timeoutMs = 30_000) {
      return eventually(
        async () => {
          const s = await stack.api(`/api/v1/sessions/${sessionId}`);
          if (s.body?.status !== "closed" && s.body?.status !== "failed") return undefined;
          const ev = await stack.api(`/api/v1/sessions/${sessionId}/events?limit=5000`);
          const items = ev.body.items as RecordedEvent[];
          return items.some((e) => e.kind === "session.end") ? items : undefined;
        },
        timeoutMs,
        200,
      );
    },
    async userKey(email, groups) {
      const u = await stack.api("/api/v1/users", { method: "POST", body: { name: email, email, groups } });
      if (u.status !== 201) throw new Error(`create user ${email}: ${u.text}`);
      const k = await stack.api(`/api/v1/users/${u.body.id}/api-keys`, {
        method: "POST",
        body: { name: "k" },
      });
      return k.body.secret as string;
    },
    startControlPlane,
    async restartControlPlane() {
      const { SLUICE_API_PORT = "0", SLUICE_GRPC_PORT = "0" } = stack.cp.env;
      if (stack.cp.proc.child.exitCode === null) await stack.cp.proc.stop("SIGKILL");
      stack.cp = await startControlPlane({ SLUICE_API_PORT, SLUICE_GRPC_PORT });
    },
    async startAgent(name, extraEnv = {}, opts = {}) {
      let token = opts.token;
      if (!token) {
        const created = await stack.api("/api/v1/agents", {
          method: "POST",
          body: { name, segment: opts.segment ?? "default" },
        });
        if (created.status !== 201) throw new Error(`agent create failed: ${created.text}`);
        token = created.body.enrollmentToken as string;
      }
      const stateDir = join(home, `agent-${name}`);
      const env: Record<string, string> = {
        SLUICE_CONTROL_PLANE_GRPC: `localhost:${stack.cp.grpcPort}`,
        SLUICE_AGENT_TOKEN: token,
        SLUICE_CA_FILE: pki.caFile,
        SLUICE_AGENT_STATE_DIR: stateDir,
        SLUICE_PG_LISTEN: "127.0.0.1:0",
        SLUICE_MYSQL_LISTEN: "127.0.0.1:0",
        SLUICE_HTTP_LISTEN: "127.0.0.1:0",
        SLUICE_KUBE_LISTEN: "127.0.0.1:0",
        SLUICE_TUNNEL_LISTEN: `127.0.0.1:${await newPort()}`,
        SLUICE_HEARTBEAT_SECONDS: "1",
        ...extraEnv,
      };
      const start = () => startProcess(node, tsArgs("apps/agent/src/main.ts"), { cwd: repoRoot, env });
      const agent: AgentProcess = {
        proc: start(),
        name,
        token,
        env,
        get pgPort() {
          return loggedPort(agent.proc, "postgres listener ready", "postgres");
        },
        get tunnelPort() {
          return loggedPort(agent.proc, "tunnel listener ready", "tunnel");
        },
        get sshPort() {
          return loggedPort(agent.proc, "ssh listener ready", "ssh");
        },
        get mysqlPort() {
          return loggedPort(agent.proc, "mysql listener ready", "mysql");
        },
        get httpPort() {
          return loggedPort(agent.proc, "http listener ready", "http");
        },
        get kubePort() {
          return loggedPort(agent.proc, "kubernetes listener ready", "kubernetes");
        },
        stateDir,
        sshHostPublicKey() {
          const key = join(stateDir, "ssh", "host_ed25519_key");
          return execFileSync("ssh-keygen", ["-y", "-f", key], { encoding: "utf8" }).trim();
        },
        async restart() {
          // A restarted agent comes back on the ports its clients know.
          env.SLUICE_PG_LISTEN = `127.0.0.1:${agent.pgPort}`;
          for (const [key, msg, field] of [
            ["SLUICE_TUNNEL_LISTEN", "tunnel listener ready", "tunnel"],
            ["SLUICE_SSH_LISTEN", "ssh listener ready", "ssh"],
            ["SLUICE_MYSQL_LISTEN", "mysql listener ready", "mysql"],
            ["SLUICE_HTTP_LISTEN", "http listener ready", "http"],
            ["SLUICE_KUBE_LISTEN", "kubernetes listener ready", "kubernetes"],
          ] as const) {
            if (agent.proc.output().includes(msg))
              env[key] = `127.0.0.1:${loggedPort(agent.proc, msg, field)}`;
          }
          await agent.proc.stop("SIGKILL");
          agent.proc = start();
          procs.push(agent.proc);
        },
      };
      procs.push(agent.proc);
      // An agent that cannot start says why at once, instead of after the online wait.
      const proc = agent.proc;
      const ended = proc.exited.then((code) => {
        throw new Error(
          `agent ${name} exited (code ${code}) before it came online; output:\n${proc.output().slice(-4000)}`,
        );
      });
      const online = eventually(
        async () => (await stack.api(`/api/v1/agents/${name}`)).body?.status === "online",
        30_000,
        200,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}; agent ${name} output:\n${proc.output().slice(-4000)}`);
      });
      await Promise.race([online, ended]);
      await proc.waitForOutput(/postgres listener ready/, 30_000);
      // Online is not yet serving what was registered before it started: wait until its
      // heartbeat acknowledges the current desired-state version.
      const latest = await latestStateVersion(db.url);
      await Promise.race([
        eventually(
          async () => Number((await stack.api(`/api/v1/agents/${name}`)).body?.stateVersion ?? -1) >= latest,
          30_000,
          200,
        ),
        ended,
      ]);
      return agent;
    },
    async stop() {
      await Promise.all(procs.map((p) => p.stop("SIGTERM")));
      await db.drop();
    },
  };
  return stack;
}
