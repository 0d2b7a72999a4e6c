/**
 * Plug-in that runs the agent's Postgres proxy for the benchmark, in-process of
 * whoever calls loadSluiceProxy() (the bench runs it inside sluice-proxy-server.ts,
 * its own OS process).
 *
 * The agent's module is loaded at run time from apps/agent/src/protocols/postgres/index.ts
 * (override with SLUICE_AGENT_PG_MODULE) and must export handlePgClient(socket, deps)
 * or createPgProxy(deps); deps.authorize(req) resolves to a PgTarget.
 *
 * Recording goes through the same pipeline the agent uses: one durable spool
 * (packages/recording `createSpool`, writing and fsyncing segment files in `spoolDir`)
 * behind an EventSink, and a per-session recorder from
 * apps/agent/src/protocols/postgres/pg-recorder.ts set as the target's `recorder`. Nothing is
 * uploaded (there is no control plane), so spooled sessions stay on disk until the
 * bench removes the directory. Anything that does not load or fit throws with the
 * reason, and the bench reports the target as unavailable.
 *
 * With `policy: "guard" | "mask"` every session also carries a SessionPolicy built as
 * apps/agent/src/protocols/postgres/pg-handler.ts builds it: createPolicyCompiler().forConnection()
 * over the PolicySpecs of benchPolicies(), then pgSessionPolicy() per session, its events
 * appended to the same spool.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import type { Server, Socket } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type ConnParams, pgEnv } from "./cluster";
import { repoRoot, run } from "./proc";

export interface PgTarget {
  sessionId: string;
  host: string;
  port: number;
  database: string;
  user: string;
  password: () => Promise<string>;
  ssl: { mode: "disable" };
  recordRowsLimit: number;
  recorder: unknown;
  policy?: unknown;
}

/**
 * `guard`: guardrails only; `detect`: the same guardrails plus masking whose detectors
 * scan every text value (values that match are rewritten; in `big` none do); `mask`:
 * the guardrails plus masking that rewrites every row of `big`.
 */
export const benchPolicyKinds = ["none", "guard", "detect", "mask"] as const;
export type BenchPolicyKind = (typeof benchPolicyKinds)[number];

export interface SluiceProxyOptions {
  upstream: ConnParams;
  /** The credential clients present (as their Postgres password). */
  token: string;
  recordRowsLimit: number;
  spoolDir: string;
  policy?: BenchPolicyKind;
}

export interface LoadedProxy {
  handle: (socket: Socket) => void;
  recorder: "spool";
  recorderDetail: string;
  /** The policy every session carries, in words; "none" without one. */
  policyDetail: string;
  stats: () => Record<string, number>;
  close: () => Promise<void>;
}

type Fn = (...args: unknown[]) => unknown;
type Obj = Record<string, unknown>;

export const agentPgModule =
  process.env.SLUICE_AGENT_PG_MODULE ?? join(repoRoot, "apps/agent/src/protocols/postgres/index.ts");
export const recordingModule =
  process.env.SLUICE_RECORDING_MODULE ?? join(repoRoot, "packages/recording/src/index.ts");
export const pgRecorderModule =
  process.env.SLUICE_PG_RECORDER_MODULE ?? join(repoRoot, "apps/agent/src/protocols/postgres/pg-recorder.ts");
export const sessionPolicyModule =
  process.env.SLUICE_SESSION_POLICY_MODULE ?? join(repoRoot, "apps/agent/src/core/policy-compiler.ts");
export const pgPolicyModule =
  process.env.SLUICE_PG_POLICY_MODULE ?? join(repoRoot, "apps/agent/src/protocols/postgres/pg-policy.ts");
export const policyModule =
  process.env.SLUICE_POLICY_MODULE ?? join(repoRoot, "packages/policy/src/index.ts");

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

function required(mod: Obj, name: string, path: string): Fn {
  const fn = mod[name];
  if (typeof fn !== "function") throw new Error(`${path.replace(`${repoRoot}/`, "")} exports no ${name}()`);
  return fn as Fn;
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

interface SpoolLike {
  append(sessionId: string, kind: string, payload: unknown): number;
  endSession(sessionId: string): Promise<void>;
  /** Hands buffered events to the kernel before the client sees them (absent in older spools). */
  writeSync?(): void;
  spoolBytes(): number;
  close(): Promise<void>;
}

interface Recording {
  /** Builds the per-session recorder, as the agent's pg-service does. */
  forSession: (sessionId: string) => unknown;
  /** The agent's EventSink.append (policy events go through it too). */
  append: (sessionId: string, kind: string, payload: Record<string, unknown>) => void;
  detail: string;
  stats: () => Record<string, number>;
  close: () => Promise<void>;
}

/** The agent's recording pipeline: spool → EventSink → createPgRecorder per session. */
async function spoolRecording(dir: string): Promise<Recording> {
  const recording = await importFile(recordingModule);
  const createSpool = required(recording, "createSpool", recordingModule);
  const recorderMod = await importFile(pgRecorderModule);
  const createPgRecorder = required(recorderMod, "createPgRecorder", pgRecorderModule);
  mkdirSync(dir, { recursive: true });
  let flushErrors = 0;
  let appendErrors = 0;
  let events = 0;
  let ended = 0;
  const spool = (await createSpool({
    dir,
    onError: (err: unknown) => {
      flushErrors++;
      process.stderr.write(`spool flush failed: ${err instanceof Error ? err.message : String(err)}\n`);
    },
  })) as SpoolLike;
  for (const name of ["append", "endSession", "spoolBytes", "close"] as const) {
    if (typeof spool[name] !== "function") throw new Error(`createSpool() returned no ${name}()`);
  }
  const sink = {
    append: (sid: string, kind: string, payload: Record<string, unknown>) => {
      try {
        spool.append(sid, kind, payload);
        events++;
      } catch {
        appendErrors++;
      }
    },
    endSession: (sid: string) => {
      ended++;
      spool.endSession(sid).catch(() => {
        flushErrors++;
      });
    },
  };
  return {
    // The broker's session context, as far as the recorder uses it.
    forSession: (sessionId) =>
      createPgRecorder({
        record: (kind: string, payload: Record<string, unknown>) => sink.append(sessionId, kind, payload),
        commit: () => spool.writeSync?.(),
        started: (details: Record<string, unknown>) =>
          sink.append(sessionId, "session.start", {
            protocol: "postgres",
            connection: "bench",
            identity: { id: "bench", name: "bench", kind: "user" },
            via: "credential",
            ...details,
          }),
        end: async (ev?: Record<string, unknown>) => {
          sink.append(sessionId, "session.end", ev ?? { reason: "ended", bytesIn: 0, bytesOut: 0 });
          sink.endSession(sessionId);
        },
      }),
    append: sink.append,
    detail: `packages/recording createSpool() in a temp dir (written and fsync'd, not uploaded) via apps/agent createPgRecorder()`,
    stats: () => ({
      recordedEvents: events,
      endedSessions: ended,
      spoolBytes: spool.spoolBytes(),
      flushErrors,
      appendErrors,
    }),
    close: () => spool.close(),
  };
}

const guardrails = [
  {
    name: "no-ddl",
    action: "deny",
    statementKinds: ["DROP", "TRUNCATE", "ALTER", "GRANT", "COPY PROGRAM"],
  },
  { name: "writes-need-where", action: "deny", requireWhere: true },
  // A table the workloads never touch: the objects check runs on every statement.
  { name: "no-payroll", action: "deny", objects: ["public.payroll"] },
];

/**
 * Detectors cover every column, so they scan every text value (in `big`: `payload`, in
 * full). `detect` masks whole columns the workloads never read (`email`, `card_number`);
 * `mask` rewrites every row of `big` (`id`) and pgbench_accounts.filler.
 */
const detectorRules = [
  { name: "emails", detector: "email", action: "redact" },
  { name: "cards", detector: "credit_card", action: "keep_last", keep: 4 },
];
const maskingRules: Record<"detect" | "mask", object[]> = {
  detect: [...detectorRules, { name: "contact", columns: ["^email$", "^card_number$"], action: "redact" }],
  mask: [
    ...detectorRules,
    { name: "account-ids", columns: ["^id$", "^filler$"], action: "keep_last", keep: 4 },
  ],
};

/** The PolicySpecs (as the control plane sends them) attached to the bench connection. */
export function benchPolicies(kind: BenchPolicyKind): { id: string; name: string; [k: string]: string }[] {
  if (kind === "none") return [];
  return [
    {
      id: "00000000-0000-4000-8000-00000000b0e1",
      name: `bench-${kind}`,
      guardrailsJson: JSON.stringify(guardrails),
      maskingJson: JSON.stringify(kind === "guard" ? [] : maskingRules[kind]),
      reviewRulesJson: "[]",
    },
  ];
}

export function describePolicy(kind: BenchPolicyKind): string {
  if (kind === "none") return "none";
  const guard =
    "guardrails deny DROP/TRUNCATE/ALTER/GRANT/COPY PROGRAM, UPDATE/DELETE without WHERE, and any statement naming public.payroll";
  if (kind === "guard") return guard;
  const detectors = "email detector (redact), credit_card detector (keep_last 4)";
  if (kind === "detect")
    return `${guard}; masking: ${detectors}, columns ^email$|^card_number$ redact (detectors scan every text value; nothing in big matches, so no row is rewritten)`;
  return `${guard}; masking: ${detectors}, columns ^id$|^filler$ keep_last 4 (rewrites every row of big; detectors scan every text value)`;
}

interface SessionPolicies {
  forSession: (sessionId: string) => unknown;
  stats: () => Record<string, number>;
}

/**
 * Compiles benchPolicies(kind) with the agent's policy compiler, after the SQL parser is
 * loaded (as apps/agent/src/agent.ts does), and checks the guard decides as expected.
 */
async function sessionPolicies(kind: BenchPolicyKind, rec: Recording): Promise<SessionPolicies | undefined> {
  if (kind === "none") return undefined;
  const policyMod = await importFile(policyModule);
  await required(policyMod, "initSqlParser", policyModule)();
  const mod = await importFile(sessionPolicyModule);
  const createPolicyCompiler = required(mod, "createPolicyCompiler", sessionPolicyModule);
  const pgMod = await importFile(pgPolicyModule);
  const pgSessionPolicy = required(pgMod, "pgSessionPolicy", pgPolicyModule);
  const compiler = createPolicyCompiler({ hashKey: randomBytes(32) });
  const specs = benchPolicies(kind);
  const conn = { policyIds: specs.map((p) => p.id) };
  const compiled = method(compiler, ["forConnection"])?.fn(conn, new Map(specs.map((p) => [p.id, p])));
  if (!isObj(compiled)) throw new Error("createPolicyCompiler().forConnection() compiled no policy");
  const view = (record: (ev: Record<string, unknown>) => void) =>
    pgSessionPolicy({
      policy: compiled,
      requestReview: async () => ({ approved: false, reason: "the bench has no reviewers" }),
      recordPolicy: record,
    });
  const probe = view(() => undefined);
  const verdict = (sql: string) =>
    (method(isObj(probe) ? probe.guard : undefined, ["evaluate"])?.fn(sql) as { action?: string } | undefined)
      ?.action;
  if (verdict("DROP TABLE IF EXISTS payroll") !== "deny" || verdict("SELECT 1") !== "allow")
    throw new Error("the compiled guard does not deny DROP and allow SELECT");
  if (kind !== "guard" && !compiled.masking) throw new Error("the compiled policy has no masking plan");
  const decisions: Record<string, number> = {};
  let maskedValues = 0;
  const record = (sessionId: string, ev: Record<string, unknown>) => {
    const d = String(ev.decision);
    decisions[d] = (decisions[d] ?? 0) + 1;
    if (isObj(ev.counts)) for (const n of Object.values(ev.counts)) maskedValues += Number(n) || 0;
    rec.append(sessionId, "policy", ev);
  };
  return {
    forSession: (sessionId) => view((ev: Record<string, unknown>) => record(sessionId, ev)),
    stats: () => ({
      policyDenied: decisions.denied ?? 0,
      policyMaskedSessions: decisions.masked ?? 0,
      maskedValues,
    }),
  };
}

/**
 * Checks through a started policy target that a denied statement is refused (a DROP
 * that would do nothing if it ran) and, for `mask`, that `big`'s id comes back masked
 * (`detect`: that an email in a value does).
 * Returns why the target is unusable, or undefined.
 */
export async function checkPolicyTarget(
  conn: ConnParams,
  kind: BenchPolicyKind,
): Promise<string | undefined> {
  if (kind === "none") return undefined;
  const psql = (sql: string) =>
    run("psql", ["-X", "-A", "-t", "-c", sql], { env: pgEnv(conn), timeoutMs: 20_000 });
  const drop = await psql("DROP TABLE IF EXISTS payroll");
  if (drop.code === 0 || !drop.stderr.includes("no-ddl"))
    return `DROP was not refused by the policy (${drop.stderr.trim() || `psql exit ${drop.code}`})`;
  if (kind === "detect") {
    const row = await psql("SELECT 'write to ada@example.com' AS note");
    if (row.stdout.trim() !== "write to [email]")
      return `an email came back as ${JSON.stringify(row.stdout.trim())}, not masked (${row.stderr.trim()})`;
    return undefined;
  }
  if (kind !== "mask") return undefined;
  const row = await psql("SELECT id FROM big WHERE id = 123456");
  if (row.stdout.trim() !== "**3456")
    return `id 123456 came back as ${JSON.stringify(row.stdout.trim())}, not masked to **3456 (${row.stderr.trim()})`;
  return undefined;
}

export async function loadSluiceProxy(opts: SluiceProxyOptions): Promise<LoadedProxy> {
  const mod = await importFile(agentPgModule);
  const rec = await spoolRecording(opts.spoolDir);
  const policies = await sessionPolicies(opts.policy ?? "none", rec);

  let sessions = 0;
  let denied = 0;
  const authorize = async (req: unknown): Promise<PgTarget> => {
    if (!credentialCandidates(req).includes(opts.token)) {
      denied++;
      throw Object.assign(new Error("invalid credentials"), { code: "auth.invalid_credentials" });
    }
    sessions++;
    const u = opts.upstream;
    const sessionId = randomUUID();
    return {
      sessionId,
      host: u.host,
      port: u.port,
      database: u.database,
      user: u.user,
      password: async () => u.password,
      ssl: { mode: "disable" },
      recordRowsLimit: opts.recordRowsLimit,
      recorder: rec.forSession(sessionId),
      ...(policies ? { policy: policies.forSession(sessionId) } : {}),
    };
  };
  const logger = await benchLogger();
  const deps: Obj = {
    limits: { maxStartupFrame: 10 * 1024, maxFrame: 64 * 1024 * 1024 },
    requireTls: false,
    tls: undefined,
    authorize,
    logger,
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
      const h = method(made, ["handle", "handleClient", "handleConnection"]);
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
    recorder: "spool",
    recorderDetail: rec.detail,
    policyDetail: describePolicy(opts.policy ?? "none"),
    stats: () => ({ sessions, denied, ...rec.stats(), ...policies?.stats() }),
    close: async () => {
      await closeProxy?.();
      await rec.close();
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
