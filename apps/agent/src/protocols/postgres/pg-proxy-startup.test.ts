import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { BackendCode, FrameReader, frontend, parseNoticeFields, readFrames } from "@sluice/pg-wire";
import { compileGuard, initSqlParser } from "@sluice/policy";
import { createTestPki, type TestPki } from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GOOD_TOKEN, psqlVia, RawClient, run, startTestProxy, type TestProxy } from "./pg-proxy.testing";
import type { PgProxyDeps, PgTarget } from "./pg-proxy-types";
import type { SessionPolicy } from "./policy-gate";

const DB = `sluice_startup_${randomBytes(4).toString("hex")}`;

const guarded = (): SessionPolicy => ({
  guard: compileGuard([
    {
      id: "p1",
      name: "safety",
      guardrails: [{ name: "no-drop", action: "deny", statementKinds: ["DROP"] }],
      masking: [],
      reviewRules: [],
    },
  ]),
  requestReview: () => Promise.reject(new Error("no reviews here")),
  record() {},
});

const target = (policy?: SessionPolicy): Omit<PgTarget, "sessionId"> => ({
  host: "127.0.0.1",
  port: 5432,
  database: DB,
  user: "postgres",
  password: async () => "",
  ssl: { mode: "disable" },
  recordRowsLimit: 10,
  ...(policy ? { policy } : {}),
});

/** A logger that keeps what it was given, to check what a malformed client makes the agent log. */
function capturingLogger() {
  const lines: { level: string; obj: object; msg?: string | undefined }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => lines.push({ level, obj, msg });
  return { lines, info: at("info"), warn: at("warn"), error: at("error"), debug: at("debug") };
}

let pki: TestPki;
const proxies: TestProxy[] = [];
const relays: net.Server[] = [];
async function proxy(policy?: SessionPolicy, overrides: Partial<PgProxyDeps> = {}): Promise<TestProxy> {
  const p = await startTestProxy(target(policy), overrides);
  proxies.push(p);
  return p;
}
const tlsContext = () =>
  tls.createSecureContext({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) });

beforeAll(async () => {
  await initSqlParser();
  pki = await createTestPki();
  await run("psql", ["-X", "-h", "127.0.0.1", "-U", "postgres", "-c", `CREATE DATABASE ${DB}`]);
}, 60_000);

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  for (const r of relays) r.close();
  await run("psql", [
    "-X",
    "-h",
    "127.0.0.1",
    "-U",
    "postgres",
    "-c",
    `DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`,
  ]);
});

const psqlEnv = (p: TestProxy, env: Record<string, string>, sql: string) =>
  run("psql", ["-X", "-At", `host=127.0.0.1 port=${p.port} dbname=conn user=x sslmode=disable`, "-c", sql], {
    PGPASSWORD: GOOD_TOKEN,
    ...env,
  });

describe("startup parameters on a guarded connection", () => {
  it.each([
    ["-c standard_conforming_strings=off"],
    ["--standard_conforming_strings=off"],
    ["-c backslash_quote=on"],
    ["-c client_encoding=SJIS"],
  ])("refuses options %s with FATAL 42501", async (options) => {
    const p = await proxy(guarded());
    const r = await psqlEnv(p, { PGOPTIONS: options }, "SELECT 1");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'FATAL:  Sluice does not accept the startup parameter "options" on this connection',
    );
    const end = p.recorder.events.find((e) => e.type === "sessionEnd");
    expect(String(end?.ev.reason)).toMatch(/^startup refused: /);
  });

  it("refuses a client_encoding other than UTF8 and any parameter off the allow-list", async () => {
    const p = await proxy(guarded());
    const sjis = await psqlEnv(p, { PGCLIENTENCODING: "SJIS" }, "SELECT 1");
    expect(sjis.code).toBe(2);
    expect(sjis.stderr).toContain("FATAL:  Sluice accepts only client_encoding UTF8 on this connection");
    const c = new RawClient(p.port);
    c.socket.write(frontend.startup({ user: "raw", database: "conn", backslash_quote: "on" }));
    await c.until(BackendCode.Authentication);
    c.socket.write(frontend.password(GOOD_TOKEN));
    expect(await c.error()).toMatchObject({
      S: "FATAL",
      C: "42501",
      M: expect.stringContaining('startup parameter "backslash_quote"'),
    });
    await expect.poll(() => c.closed).toBe(true);
  });

  it("forwards the allowed parameters", async () => {
    const p = await proxy(guarded());
    const r = await psqlEnv(
      p,
      { PGCLIENTENCODING: "UTF8", PGTZ: "Europe/Paris", PGDATESTYLE: "German", PGAPPNAME: "reports" },
      "SELECT current_setting('TimeZone'), current_setting('DateStyle'), current_setting('application_name')",
    );
    expect(r).toMatchObject({ code: 0, stdout: "Europe/Paris|German, DMY|reports\n" });
  });

  it("forwards options on a connection without policy", async () => {
    const p = await proxy();
    const r = await psqlEnv(
      p,
      { PGOPTIONS: "-c standard_conforming_strings=off" },
      "SHOW standard_conforming_strings",
    );
    expect(r).toMatchObject({ code: 0, stdout: "off\n" });
  });
});

/** Deterministic pseudo-random bytes (xorshift32), so a failing case can be replayed from its seed. */
function bytesFrom(seed: number, n: number): Buffer {
  let x = seed || 1;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Malformed startup packets: pure garbage, a plausible length with garbage, a bad version, unterminated parameters. */
function malformed(seed: number): Buffer {
  const r = bytesFrom(seed, 96);
  const shape = seed % 4;
  if (shape === 0) return r.subarray(0, 1 + (r[0]! % 64));
  const body = r.subarray(8, 8 + (r[1]! % 80));
  const head = Buffer.alloc(8);
  if (shape === 1) head.writeInt32BE(8 + body.length + (r[2]! % 3) - 1, 0);
  else head.writeInt32BE(8 + body.length, 0);
  if (shape === 2) head.writeInt32BE(r.readInt32BE(4) | 0x00010000, 4);
  else head.writeInt32BE(shape === 3 ? 0x00030000 : r.readInt32BE(4), 4);
  return Buffer.concat([head, body]);
}

/** Sends `bytes` as a new client, half-closes, and resolves once the proxy closed the connection. */
function sendAndWaitClose(port: number, bytes: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 5_000);
    s.on("error", () => {});
    s.on("data", () => {});
    s.on("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.on("connect", () => s.end(bytes));
  });
}

describe("malformed startup packets", () => {
  it("close quietly, log no errors, and leave the listener serving", async () => {
    const logger = capturingLogger();
    const p = await proxy(guarded(), { logger, timeouts: { handshakeMs: 2_000 } });
    const seeds = Array.from({ length: 200 }, (_, i) => 0x9e3779b1 * (i + 1));
    for (let i = 0; i < seeds.length; i += 20) {
      const batch = seeds.slice(i, i + 20);
      const closed = await Promise.all(batch.map((seed) => sendAndWaitClose(p.port, malformed(seed))));
      const stuck = batch.filter((_, j) => !closed[j]);
      expect(stuck, "seeds whose connection the proxy left open").toEqual([]);
    }
    expect(logger.lines.filter((l) => l.level === "error" || l.level === "warn")).toEqual([]);
    for (const l of logger.lines) expect(JSON.stringify(l.obj)).not.toContain("    at ");
    expect(p.proxy.active).toBe(0);
    const ok = await psqlVia(p.port, "conn", GOOD_TOKEN, ["-c", "SELECT 'still serving'"]);
    expect(ok.stdout).toBe("still serving\n");
  }, 120_000);
});

/**
 * Connects through a loopback relay that notes the TLS record types the proxy sends
 * (TLS 1.2 record headers are in the clear: type, version, length), then opens
 * SSLRequest → TLS as libpq does.
 */
async function tlsClient(port: number) {
  const recordTypes: number[] = [];
  let pending = Buffer.alloc(0);
  let handshook = false;
  const relay = net.createServer((inbound) => {
    const out = net.connect(port, "127.0.0.1");
    for (const s of [inbound, out]) s.on("error", () => inbound.destroy());
    inbound.pipe(out);
    out.on("data", (chunk: Buffer) => {
      if (handshook) {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 5 && pending.length >= 5 + pending.readUInt16BE(3)) {
          recordTypes.push(pending[0]!);
          pending = pending.subarray(5 + pending.readUInt16BE(3));
        }
      }
      inbound.write(chunk);
    });
    out.on("end", () => inbound.end());
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  relays.push(relay);
  const raw = net.connect((relay.address() as net.AddressInfo).port, "127.0.0.1");
  raw.on("error", () => {});
  await new Promise<void>((resolve) => raw.once("connect", () => resolve()));
  raw.write(frontend.sslRequest());
  const answer = await new Promise<Buffer>((resolve) => raw.once("data", resolve));
  expect(answer.toString()).toBe("S");
  const secure = tls.connect({ socket: raw, rejectUnauthorized: false, maxVersion: "TLSv1.2" });
  secure.on("error", () => {});
  await new Promise<void>((resolve) => secure.once("secureConnect", () => resolve()));
  handshook = true;
  const reader = new FrameReader();
  const frames: ReturnType<typeof readFrames> = [];
  secure.on("data", (chunk: Buffer) => {
    reader.push(chunk);
    frames.push(...readFrames(reader));
  });
  const ended = new Promise<"end" | "close">((resolve) => {
    secure.once("end", () => resolve("end"));
    secure.once("close", () => resolve("close"));
  });
  return { raw, secure, recordTypes, frames, ended };
}

const ALERT = 21;

describe("TLS during startup", () => {
  it("answers a TLS-wrapped CancelRequest, cancels, and closes with close_notify", async () => {
    const p = await proxy(undefined, { tls: { context: tlsContext() } });
    const c = new RawClient(p.port);
    const key = await c.login("conn");
    c.socket.write(frontend.query("SELECT pg_sleep(10)"));
    await new Promise((r) => setTimeout(r, 300));
    const t = await tlsClient(p.port);
    t.secure.write(frontend.cancelRequest(key!.processId, key!.secretKey));
    expect(await t.ended).toBe("end");
    await expect.poll(() => t.recordTypes).toContain(ALERT);
    expect(await c.error()).toMatchObject({ C: "57014" });
    c.socket.end(frontend.terminate());
  });

  it("closes a client that completes TLS but never sends a startup message, telling it why over TLS", async () => {
    const p = await proxy(guarded(), { tls: { context: tlsContext() }, timeouts: { handshakeMs: 500 } });
    const started = Date.now();
    const t = await tlsClient(p.port);
    await t.ended;
    expect(Date.now() - started).toBeLessThan(3_000);
    const error = t.frames.find((f) => f.type === BackendCode.ErrorResponse);
    expect(error && parseNoticeFields(error.body)).toMatchObject({
      S: "FATAL",
      C: "08006",
      M: "timed out waiting for the startup message",
    });
  });

  it("closes a client that asks for TLS and never starts the handshake", async () => {
    const p = await proxy(guarded(), { tls: { context: tlsContext() }, timeouts: { handshakeMs: 500 } });
    const raw = net.connect(p.port, "127.0.0.1");
    raw.on("error", () => {});
    raw.on("data", () => {});
    raw.write(frontend.sslRequest());
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 3_000);
      raw.once("close", () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    raw.destroy();
    expect(closed).toBe(true);
  });

  it("gives the whole startup one deadline, however many requests the client sends", async () => {
    const p = await proxy(guarded(), { timeouts: { handshakeMs: 500 } });
    const raw = net.connect(p.port, "127.0.0.1");
    raw.on("error", () => {});
    raw.on("data", () => {});
    let closed = false;
    raw.once("close", () => {
      closed = true;
    });
    const started = Date.now();
    while (!closed && Date.now() - started < 3_000) {
      raw.write(frontend.gssEncRequest());
      await new Promise((r) => setTimeout(r, 100));
    }
    raw.destroy();
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
