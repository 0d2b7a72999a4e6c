import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import {
  BackendCode,
  type Frame,
  FrameReader,
  frontend,
  parseBackendKeyData,
  parseNoticeFields,
  readFrames,
} from "@sluice/pg-wire";
import { createPgProxy, type PgProxy } from "./pg-proxy";
import { PgClientError, type PgProxyDeps, type PgSessionRecorder, type PgTarget } from "./pg-proxy-types";

export const GOOD_TOKEN = "good-token";

export interface RecordedEvent {
  type: "sessionStart" | "statement" | "result" | "notice" | "sessionEnd";
  ev: Record<string, unknown>;
}

export function memoryRecorder(): PgSessionRecorder & { events: RecordedEvent[] } {
  const events: RecordedEvent[] = [];
  const push = (type: RecordedEvent["type"]) => (ev: object) =>
    events.push({ type, ev: ev as Record<string, unknown> });
  return {
    events,
    sessionStart: push("sessionStart"),
    statement: push("statement"),
    result: push("result"),
    notice: push("notice"),
    sessionEnd: push("sessionEnd"),
  };
}

export const silentLogger = { info() {}, warn() {}, error() {}, debug() {} };

export interface TestProxy {
  port: number;
  proxy: PgProxy;
  recorder: ReturnType<typeof memoryRecorder>;
  close(): Promise<void>;
}

/** Starts a loopback listener serving the proxy; authorize accepts GOOD_TOKEN and dials `target`. */
export async function startTestProxy(
  target: Omit<PgTarget, "sessionId">,
  overrides: Partial<PgProxyDeps> = {},
): Promise<TestProxy> {
  const recorder = memoryRecorder();
  const proxy = createPgProxy({
    limits: { maxStartupFrame: 10 * 1024, maxFrame: 64 * 1024 * 1024 },
    requireTls: false,
    logger: silentLogger,
    recorder,
    async authorize(req) {
      if (req.password !== GOOD_TOKEN) throw new PgClientError("28P01", "invalid Sluice token");
      return { ...target, sessionId: `s-${randomBytes(4).toString("hex")}` };
    },
    ...overrides,
  });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    void proxy.handle(s);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    proxy,
    recorder,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  input?: string,
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** psql as the local superuser, stopping at the first error (test setup and checks). */
export function adminPsql(sql: string, db = "postgres") {
  return run("psql", [
    "-X",
    "-At",
    "-h",
    "127.0.0.1",
    "-U",
    "postgres",
    "-d",
    db,
    "-v",
    "ON_ERROR_STOP=1",
    "-c",
    sql,
  ]);
}

export function psqlVia(port: number, database: string, password: string, args: string[], input?: string) {
  const conn = `host=127.0.0.1 port=${port} dbname=${database} user=x sslmode=disable`;
  return run("psql", ["-X", "-At", "-v", "ON_ERROR_STOP=1", conn, ...args], { PGPASSWORD: password }, input);
}

/** A raw protocol client: logs in through the proxy and exposes frames as they arrive. */
export class RawClient {
  readonly socket: net.Socket;
  readonly received: Buffer[] = [];
  private readonly reader = new FrameReader();
  private readonly frames: Frame[] = [];
  private wake: (() => void) | undefined;
  closed = false;

  constructor(port: number) {
    this.socket = net.connect(port, "127.0.0.1");
    this.socket.on("error", () => {});
    this.socket.on("data", (chunk: Buffer) => {
      this.received.push(chunk);
      this.reader.push(chunk);
      this.frames.push(...readFrames(this.reader));
      this.wake?.();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
  }

  /** Waits for a frame of `type` and returns it with every frame before it. */
  async until(type: number, timeoutMs = 10_000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((f) => f.type === type);
      if (i >= 0) return this.frames.splice(0, i + 1);
      if (this.closed) throw new Error(`connection closed before '${String.fromCharCode(type)}'`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for '${String.fromCharCode(type)}'`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  /** Startup + password; resolves with the (synthetic) BackendKeyData. */
  async login(database: string, password = GOOD_TOKEN) {
    this.socket.write(frontend.startup({ user: "raw", database }));
    await this.until(BackendCode.Authentication);
    this.socket.write(frontend.password(password));
    const frames = await this.until(BackendCode.ReadyForQuery);
    const key = frames.find((f) => f.type === BackendCode.BackendKeyData);
    return key ? parseBackendKeyData(key.body) : undefined;
  }

  async error(): Promise<Record<string, string>> {
    const frames = await this.until(BackendCode.ErrorResponse);
    return parseNoticeFields(frames[frames.length - 1]!.body);
  }
}
