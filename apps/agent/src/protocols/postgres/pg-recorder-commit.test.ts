import { randomBytes } from "node:crypto";
import net from "node:net";
import { BackendCode, frontend } from "@sluice/pg-wire";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgProxy } from "./pg-proxy";
import { GOOD_TOKEN, memoryRecorder, RawClient, run, silentLogger } from "./pg-proxy.testing";
import { PgClientError, type PgSessionRecorder, type PgTarget } from "./pg-proxy-types";

const DB = `sluice_commit_${randomBytes(4).toString("hex")}`;
const admin = (sql: string) =>
  run("psql", ["-X", "-At", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql]);
const target: Omit<PgTarget, "sessionId"> = {
  host: "127.0.0.1",
  port: 5432,
  database: DB,
  user: "postgres",
  password: async () => "unused-with-trust",
  ssl: { mode: "disable" },
  recordRowsLimit: 5,
};

/** Counts the CommandComplete frames in a stream of whole backend frames written so far. */
class CompleteCounter {
  count = 0;
  private pending = Buffer.alloc(0);

  push(chunk: Buffer): void {
    let buf = Buffer.concat([this.pending, chunk]);
    while (buf.length >= 5) {
      const end = 1 + buf.readUInt32BE(1);
      if (buf.length < end) break;
      if (buf[0] === BackendCode.CommandComplete) this.count++;
      buf = buf.subarray(end);
    }
    this.pending = Buffer.from(buf);
  }
}

/**
 * A proxy whose client sockets report, at every write, how many results the bytes written
 * so far complete, next to how many results the recorder had committed at that moment.
 */
async function startProxy(recorder: PgSessionRecorder, onWrite: (completed: number) => void) {
  const proxy = createPgProxy({
    limits: { maxStartupFrame: 10 * 1024, maxFrame: 64 * 1024 * 1024 },
    requireTls: false,
    logger: silentLogger,
    async authorize(req) {
      if (req.password !== GOOD_TOKEN) throw new PgClientError("28P01", "invalid Sluice token");
      return { ...target, sessionId: "s-commit", recorder };
    },
  });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    const counter = new CompleteCounter();
    const write = s.write.bind(s) as (chunk: Buffer, ...rest: unknown[]) => boolean;
    s.write = ((chunk: Buffer, ...rest: unknown[]) => {
      counter.push(chunk);
      onWrite(counter.count);
      return write(chunk, ...rest);
    }) as typeof s.write;
    void proxy.handle(s);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

beforeAll(async () => {
  await admin(`CREATE DATABASE ${DB}`);
});

afterAll(async () => {
  await admin(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
});

describe("recording commits before the client sees a result", () => {
  it("commits every result before the bytes completing it are written, in batches", async () => {
    const recorder = memoryRecorder();
    let committedResults = 0;
    let commits = 0;
    const violations: string[] = [];
    const rec: PgSessionRecorder = {
      ...recorder,
      commit() {
        commits++;
        committedResults = recorder.events.filter((e) => e.type === "result").length;
      },
    };
    const p = await startProxy(rec, (completed) => {
      if (completed > committedResults) violations.push(`${completed} sent, ${committedResults} committed`);
    });
    try {
      const c = new RawClient(p.port);
      await c.login("conn");
      // 300 statements in one write: results come back in a few large chunks.
      const n = 300;
      c.socket.write(Buffer.concat(Array.from({ length: n }, (_, i) => frontend.query(`SELECT ${i + 1}`))));
      let ready = 0;
      while (ready < n) {
        await c.until(BackendCode.ReadyForQuery);
        ready++;
      }
      expect(violations).toEqual([]);
      expect(committedResults).toBe(n);
      // One commit per chunk read from the server, not one per statement.
      expect(commits).toBeLessThan(n);
      c.socket.end(frontend.terminate());
    } finally {
      await p.close();
    }
  });

  it("closes the session with an error instead of showing a result the recording could not keep", async () => {
    const recorder = memoryRecorder();
    let failing = false;
    const rec: PgSessionRecorder = {
      ...recorder,
      commit() {
        if (failing) throw new Error("ENOSPC: no space left on device");
      },
    };
    const p = await startProxy(rec, () => undefined);
    try {
      const c = new RawClient(p.port);
      await c.login("conn");
      const before = Buffer.concat(c.received).length;
      failing = true;
      c.socket.write(frontend.query("SELECT 'secret-result-4711'"));
      expect(await c.error()).toMatchObject({ C: "58030" });
      const after = Buffer.concat(c.received).subarray(before).toString("latin1");
      expect(after).not.toContain("secret-result-4711");
      expect(after).not.toContain("SELECT 1");
      await expect.poll(() => c.closed).toBe(true);
    } finally {
      await p.close();
    }
  });
});
