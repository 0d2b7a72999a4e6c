/**
 * Plug-in that runs the agent's Postgres proxy for the benchmark, in-process of
 * whoever calls loadSluiceProxy() (the bench runs it inside sluice-proxy-server.ts,
 * its own OS process).
 *
 * The agent's module is loaded at run time from apps/agent/src/postgres/index.ts
 * (override with SLUICE_AGENT_PG_MODULE). It is expected to export either
 *   handlePgClient(socket, deps)         — serve one client socket, or
 *   createPgProxy(deps)                  — returns a handler function, an object with a
 *                                          handle/handleClient/handleConnection method,
 *                                          or a net.Server.
 * where deps.authorize(req) resolves to a PgTarget. Anything that does not fit throws
 * with the reason, and the bench reports the target as unavailable.
 *
 * Recording: packages/recording is used when it exists and exports a spool; otherwise
 * an in-memory EventSink serializes and counts events. Which one ran is reported.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import type { Server, Socket } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { ConnParams } from "./cluster";
import { repoRoot } from "./proc";

export interface PgTarget {
  sessionId: string;
  host: string;
  port: number;
  database: string;
  user: string;
  password: () => Promise<string>;
  ssl: { mode: "disable" };
  recordRowsLimit: number;
}

export interface SluiceProxyOptions {
  upstream: ConnParams;
  /** The credential clients present (as their Postgres password). */
  token: string;
  recordRowsLimit: number;
  spoolDir: string;
}

export interface LoadedProxy {
  handle: (socket: Socket) => void;
  recorder: "spool" | "memory";
  recorderDetail: string;
  stats: () => Record<string, number>;
  close: () => Promise<void>;
}

type Fn = (...args: unknown[]) => unknown;
type Obj = Record<string, unknown>;

export const agentPgModule =
  process.env.SLUICE_AGENT_PG_MODULE ?? join(repoRoot, "apps/agent/src/postgres/index.ts");
export const recordingModule =
  process.env.SLUICE_RECORDING_MODULE ?? join(repoRoot, "packages/recording/src/index.ts");

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null;
}

function method(o: unknown, names: string[]): { name: string; fn: Fn } | undefined {
  if (!isObj(o)) return undefined;
  for (const name of names) {
    const fn = o[name];
    if (typeof fn === "function") return { name, fn: (fn as Fn).bind(o) };
  }
  return undefined;
}

async function importFile(path: string): Promise<Obj> {
  if (!existsSync(path)) throw new Error(`${path.replace(`${repoRoot}/`, "")} does not exist yet`);
  const mod: unknown = await import(pathToFileURL(path).href);
  if (!isObj(mod)) throw new Error(`${path} has no exports`);
  return mod;
}

/** Finds every string value in an authorize() request, one level deep. */
function credentialCandidates(req: unknown): string[] {
  if (typeof req === "string") return [req];
  if (!isObj(req)) return [];
  const out: string[] = [];
  for (const v of Object.values(req)) {
    if (typeof v === "string") out.push(v);
    else if (isObj(v)) for (const w of Object.values(v)) if (typeof w === "string") out.push(w);
  }
  return out;
}

/**
 * Stand-in recorder when no spool is available, shaped as the agent's PgSessionRecorder
 * (sessionStart / statement / result / notice / sessionEnd) and EventSink (append /
 * endSession): serializes every event (the cost a spool pays before writing),
 * counts it and keeps only the last few hundred in memory.
 */
function memoryRecorder(): { recorder: Obj; stats: () => Record<string, number> } {
  let events = 0;
  let bytes = 0;
  let ended = 0;
  const last: string[] = [];
  const append = (...args: unknown[]) => {
    events++;
    const line = JSON.stringify(args);
    bytes += line.length;
    last.push(line);
    if (last.length > 256) last.shift();
  };
  const endSession = () => {
    ended++;
  };
  const recorder: Obj = {
    append,
    endSession,
    sessionStart: (info: unknown) => append("sessionStart", info),
    statement: (ev: unknown) => append("statement", ev),
    result: (ev: unknown) => append("result", ev),
    notice: (ev: unknown) => append("notice", ev),
    sessionEnd: (ev: unknown) => {
      append("sessionEnd", ev);
      endSession();
    },
  };
  return { recorder, stats: () => ({ recordedEvents: events, recordedBytes: bytes, endedSessions: ended }) };
}

async function spoolRecorder(
  dir: string,
): Promise<{ recorder: Obj; detail: string; close: () => Promise<void> } | { why: string }> {
  let mod: Obj;
  try {
    mod = await importFile(recordingModule);
  } catch (e) {
    return { why: e instanceof Error ? e.message : String(e) };
  }
  const factory = method(mod, ["createSpool", "openSpool", "createRecorder", "createSpoolRecorder"]);
  if (!factory) return { why: `${recordingModule} exports no createSpool/openSpool/createRecorder` };
  mkdirSync(dir, { recursive: true });
  const made = await factory.fn({ dir, directory: dir, path: dir });
  if (!isObj(made)) return { why: `${factory.name}() returned no recorder` };
  if (typeof made.sessionStart !== "function" || typeof made.statement !== "function") {
    await method(made, ["close", "stop", "end"])?.fn();
    return {
      why: `packages/recording ${factory.name}() is not a PgSessionRecorder (sessionStart/statement/result/sessionEnd)`,
    };
  }
  const closer = method(made, ["close", "stop", "end"]);
  return {
    recorder: made,
    detail: `packages/recording ${factory.name}() in ${dir}`,
    close: async () => {
      await closer?.fn();
    },
  };
}

export async function loadSluiceProxy(opts: SluiceProxyOptions): Promise<LoadedProxy> {
  const mod = await importFile(agentPgModule);
  const rec = await spoolRecorder(opts.spoolDir);
  const mem = memoryRecorder();
  const recorder = "why" in rec ? mem.recorder : rec.recorder;
  const recorderDetail = "why" in rec ? `in-memory (no spool: ${rec.why})` : rec.detail;

  let sessions = 0;
  let denied = 0;
  const authorize = async (req: unknown): Promise<PgTarget> => {
    if (!credentialCandidates(req).includes(opts.token)) {
      denied++;
      throw Object.assign(new Error("invalid credentials"), { code: "auth.invalid_credentials" });
    }
    sessions++;
    const u = opts.upstream;
    return {
      sessionId: randomUUID(),
      host: u.host,
      port: u.port,
      database: u.database,
      user: u.user,
      password: async () => u.password,
      ssl: { mode: "disable" },
      recordRowsLimit: opts.recordRowsLimit,
    };
  };
  const logger = await benchLogger();
  const deps: Obj = {
    limits: { maxStartupFrame: 10 * 1024, maxFrame: 64 * 1024 * 1024 },
    requireTls: false,
    tls: undefined,
    authorize,
    recorder,
    sink: recorder,
    logger,
    log: logger,
  };

  let handle: ((socket: Socket) => void) | undefined;
  let closeProxy: (() => Promise<void>) | undefined;
  const perClient = method(mod, ["handlePgClient"]);
  const factory = method(mod, ["createPgProxy"]);
  if (factory) {
    const made = await factory.fn(deps);
    if (typeof made === "function") {
      handle = (s) => guard(s, () => (made as Fn)(s));
    } else if (isObj(made) && typeof made.emit === "function" && typeof made.listen === "function") {
      const server = made as unknown as Server;
      handle = (s) => void server.emit("connection", s);
    } else {
      const h = method(made, [
        "handle",
        "handleClient",
        "handleConnection",
        "handleSocket",
        "accept",
        "serve",
      ]);
      if (h) handle = (s) => guard(s, () => h.fn(s));
      const c = method(made, ["close", "stop", "shutdown"]);
      if (c) closeProxy = async () => void (await c.fn());
    }
    if (!handle) throw new Error("createPgProxy(deps) returned nothing the bench can hand a socket to");
  } else if (perClient) {
    handle = (s) => guard(s, () => perClient.fn(s, deps));
  } else {
    throw new Error(
      `${agentPgModule.replace(`${repoRoot}/`, "")} exports neither createPgProxy nor handlePgClient`,
    );
  }
  return {
    handle,
    recorder: "why" in rec ? "memory" : "spool",
    recorderDetail,
    stats: () => ({ sessions, denied, ...("why" in rec ? mem.stats() : {}) }),
    close: async () => {
      await closeProxy?.();
      if (!("why" in rec)) await rec.close();
    },
  };
}

/** Runs a per-socket handler; a throw or rejection ends that socket, never the process. */
function guard(socket: Socket, fn: () => unknown): void {
  try {
    Promise.resolve(fn()).catch(() => socket.destroy());
  } catch {
    socket.destroy();
  }
}

async function benchLogger(): Promise<Obj> {
  try {
    const mod = await importFile(join(repoRoot, "packages/logger/src/index.ts"));
    const create = method(mod, ["createLogger"]);
    const made = create ? await create.fn({ name: "sluice-bench-proxy", level: "warn" }) : undefined;
    if (isObj(made)) return made;
  } catch {
    /* fall back to a console logger */
  }
  const quiet = () => undefined;
  const loud = (...a: unknown[]) => process.stderr.write(`${a.map((x) => JSON.stringify(x)).join(" ")}\n`);
  const l: Obj = { trace: quiet, debug: quiet, info: quiet, warn: loud, error: loud, fatal: loud };
  l.child = () => l;
  return l;
}

/** The CLI tunnel target is not driven yet; says what exists and what is missing. */
export function sluiceTunnelUnavailable(): string {
  const has = (p: string) => existsSync(join(repoRoot, p));
  const cli = [
    "apps/cli/src/tunnel/index.ts",
    "apps/cli/src/tunnel.ts",
    "apps/cli/src/commands/connect.ts",
  ].find(has);
  const listener = has("apps/agent/src/listeners/tunnel-listener.ts");
  const pg = has("apps/agent/src/postgres/index.ts");
  const missing = [
    !cli && "the CLI tunnel (sluice connect)",
    !pg && "the agent Postgres proxy",
    "the bench driver for it",
  ].filter(Boolean);
  return `not wired into the bench yet${listener ? " (agent tunnel listener exists)" : ""}; missing: ${missing.join(", ")}`;
}
