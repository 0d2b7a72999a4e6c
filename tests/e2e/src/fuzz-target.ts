import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import mysql from "mysql2/promise";
import { expect } from "vitest";
import { type CommandResult, run } from "./psql";
import { type AgentProcess, repoRoot, type Stack, startStack } from "./stack";

/**
 * One stack for the listener fuzz suites: a control plane and an agent in their own
 * processes, a Postgres connection to the machine's PostgreSQL and a MySQL one to its
 * MariaDB, a short handshake deadline, and the probes the suites throw at every door.
 */

/** Cases per generated barrage; SLUICE_FUZZ_RUNS raises it for a long run (see the README). */
export const RUNS = Number(process.env.SLUICE_FUZZ_RUNS) || 60;
/** Seed of the generated barrages, printed with any failure so it can be replayed. */
export const SEED = Number(process.env.SLUICE_FUZZ_SEED) || 20_250_611;
/** A test's bound: generous for the default runs, none for a long run. */
export const TIMEOUT = process.env.SLUICE_FUZZ_RUNS ? 0 : 60_000;
/** The agent's handshake deadline in these suites (SLUICE_HANDSHAKE_TIMEOUT_SECONDS). */
export const HANDSHAKE_S = 2;
/** Connections a barrage keeps open at once. */
export const PARALLEL = 48;

export interface FuzzTarget {
  stack: Stack;
  agent: AgentProcess;
  devKey: string;
  agentCa: string;
  ports(): Record<"postgres" | "mysql" | "ssh" | "http" | "tunnel", number>;
  stop(): Promise<void>;
}

export async function startFuzzTarget(name: string): Promise<FuzzTarget> {
  const tag = randomBytes(4).toString("hex");
  const user = `sl_fz_${tag}`;
  const password = `pw-${randomBytes(8).toString("hex")}`;
  const root = await mysql.createConnection({ host: "127.0.0.1", user: "root", multipleStatements: true });
  await root.query(
    `CREATE DATABASE ${user}; CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}';
     GRANT ALL ON ${user}.* TO '${user}'@'127.0.0.1';`,
  );
  const stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "eng" } });
  const devKey = await stack.userKey(`${name}@example.com`, ["eng"]);
  const common = { host: "127.0.0.1", credentialRef: "env:FZ_PASSWORD", allowedGroups: ["eng"] };
  for (const body of [
    { ...common, name: "fz-pg", type: "postgres", port: 5432, database: "postgres", username: "postgres" },
    { ...common, name: "fz-my", type: "mysql", port: 3306, database: user, username: user },
  ]) {
    const r = await stack.api("/api/v1/connections", { method: "POST", body });
    expect(r.status, r.text).toBe(201);
  }
  const agentCa = (await stack.api("/api/v1/ca")).body.caPem as string;
  const agent = await stack.startAgent(name, {
    FZ_PASSWORD: password,
    SLUICE_SSH_LISTEN: "127.0.0.1:0",
    SLUICE_HANDSHAKE_TIMEOUT_SECONDS: String(HANDSHAKE_S),
  });
  await agent.proc.waitForOutput(/tunnel listener ready/, 30_000);
  return {
    stack,
    agent,
    devKey,
    agentCa,
    ports: () => ({
      postgres: agent.pgPort,
      mysql: agent.mysqlPort,
      ssh: agent.sshPort,
      http: agent.httpPort,
      tunnel: agent.tunnelPort,
    }),
    async stop() {
      await stack.stop();
      await root.query(`DROP USER IF EXISTS '${user}'@'127.0.0.1'; DROP DATABASE IF EXISTS ${user};`);
      await root.end();
    },
  };
}

/** A real psql and a real mariadb client each run a query through the agent. */
export async function expectServing(t: FuzzTarget): Promise<void> {
  const pg = await run(
    "psql",
    ["-X", "-At", `host=127.0.0.1 port=${t.agent.pgPort} dbname=fz-pg user=me`, "-c", "SELECT 'pg ok'"],
    { PGPASSWORD: t.devKey, PGCONNECT_TIMEOUT: "10" },
    30_000,
  );
  expect(pg.stderr + pg.stdout).toBe("pg ok\n");
  const my = await run(
    "mariadb",
    [
      "-h",
      "127.0.0.1",
      "-P",
      String(t.agent.mysqlPort),
      "-u",
      "me",
      `-p${t.devKey}`,
      "--ssl",
      "--batch",
    ].concat(["--skip-column-names", "fz-my", "-e", "SELECT 'my ok'"]),
    {},
    30_000,
  );
  expect(my.stderr + my.stdout).toBe("my ok\n");
}

const status = (pid: number, field: string) =>
  Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);

/** The agent's resident memory (MiB) and open file descriptors. */
export function usage(t: FuzzTarget): { rssMiB: number; fds: number } {
  const pid = t.agent.proc.child.pid!;
  return { rssMiB: Math.round(status(pid, "VmRSS") / 1024), fds: readdirSync(`/proc/${pid}/fd`).length };
}

/**
 * After a barrage: the agent is up, logged no uncaught exception, serves real clients, and
 * once its connections drained holds about the descriptors and memory it held before.
 */
export async function expectHealthy(t: FuzzTarget, before: { rssMiB: number; fds: number }): Promise<void> {
  expect(t.agent.proc.child.exitCode, t.agent.proc.output().slice(-3000)).toBeNull();
  const out = t.agent.proc.output();
  expect(out).not.toMatch(/uncaught|unhandled/i);
  expect(out).not.toMatch(/crashed/);
  await expectServing(t);
  await expect.poll(() => usage(t).fds, { timeout: 10_000, interval: 250 }).toBeLessThan(before.fds + 15);
  expect(usage(t).rssMiB).toBeLessThan(before.rssMiB + 200);
}

export interface Reply {
  bytes: Buffer;
  /** How the connection ended: the agent's FIN, a reset, or still open when we gave up. */
  end: "fin" | "reset" | "open";
  ms: number;
}

/**
 * Connects (over TLS with `tls`), sends `bytes` (then a FIN with `fin`), and collects what
 * comes back until the agent closes or `waitMs` passes.
 */
export function exchange(
  port: number,
  bytes: Buffer,
  o: { fin?: boolean; waitMs?: number; tls?: boolean; afterGreeting?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    let end: Reply["end"] = "open";
    let sent = false;
    const send = () => {
      if (sent) return;
      sent = true;
      if (o.fin) s.end(bytes);
      else s.write(bytes);
    };
    const s: net.Socket = o.tls
      ? tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => !o.afterGreeting && send())
      : net.connect(port, "127.0.0.1", () => !o.afterGreeting && send());
    s.on("data", (c: Buffer) => {
      chunks.push(c);
      if (o.afterGreeting) send();
    });
    s.on("end", () => {
      end = "fin";
    });
    s.on("error", () => {
      if (end === "open") end = "reset";
    });
    s.on("close", () => {
      clearTimeout(timer);
      resolve({ bytes: Buffer.concat(chunks), end, ms: Date.now() - started });
    });
    const timer = setTimeout(() => s.destroy(), o.waitMs ?? (HANDSHAKE_S + 3) * 1000);
  });
}

/** Runs an ES module script as a user's program, with the e2e package's dependencies (pg, mysql2). */
export function runScript(script: string, args: string[], timeoutMs = 15_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script, ...args], {
      cwd: `${repoRoot}/tests/e2e`,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
    });
    child.stderr.on("data", (c) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The replies whose connection the agent did not close within its deadline (and a margin). */
export function late(replies: Reply[]): Reply[] {
  return replies.filter((r) => r.end === "open" || r.ms > (HANDSHAKE_S + 2) * 1000);
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function inParallel<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>) {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!, i);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** mulberry32: a small seeded generator, so a failing barrage can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Generated garbage for a door that expects `valid` first: noise, the valid bytes cut short,
 * with bytes overwritten or inserted, a length prefix made huge, or a TLS ClientHello of noise.
 */
export function garbage(rnd: () => number, valid: Buffer): Buffer {
  const n = (max: number) => Math.floor(rnd() * max);
  const noise = (len: number) => Buffer.from(Array.from({ length: len }, () => n(256)));
  switch (n(6)) {
    case 0:
      return noise(1 + n(300));
    case 1:
      return valid.subarray(0, n(valid.length));
    case 2: {
      const b = Buffer.from(valid);
      for (let k = 1 + n(4); k > 0; k--) b[n(b.length)] = n(256);
      return b;
    }
    case 3: {
      const at = n(valid.length);
      return Buffer.concat([valid.subarray(0, at), noise(1 + n(16)), valid.subarray(at)]);
    }
    case 4: {
      const b = Buffer.from(valid);
      b.writeUInt32BE(0x7fff0000 + n(0xffff), n(Math.max(1, b.length - 4)));
      return b;
    }
    default:
      return Buffer.concat([Buffer.from([0x16, 0x03, 0x01, n(256), n(256), 0x01]), noise(n(400))]);
  }
}

/* Wire bytes the barrages start from. */

/** A big-endian int32. */
export const be = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
};
/** A StartupMessage (protocol 3.0 unless told) with these parameters. */
export function startup(params: Record<string, string>, version = 0x00030000): Buffer {
  const body = Buffer.concat([
    be(version),
    ...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)),
    Buffer.from([0]),
  ]);
  return Buffer.concat([be(body.length + 4), body]);
}
export const withLength = (n: number, body: Buffer) => Buffer.concat([be(n), body]);
/** A copy whose length prefix covers it exactly. */
export function relength(b: Buffer): Buffer {
  const out = Buffer.from(b);
  out.writeInt32BE(out.length);
  return out;
}

/** One MySQL packet (payloads under 64 KiB). */
export const mysqlPacket = (seq: number, payload: Buffer) =>
  Buffer.concat([Buffer.from([payload.length & 0xff, payload.length >> 8, 0, seq]), payload]);

/** The SSLRequest packet a MySQL client sends after the greeting. */
export function mysqlSslRequest(): Buffer {
  const p = Buffer.alloc(36);
  p.writeUIntLE(32, 0, 3);
  p[3] = 1;
  p.writeUInt32LE(0x000aaa09, 4);
  p.writeUInt32LE(1 << 24, 8);
  p[12] = 45;
  return p;
}
