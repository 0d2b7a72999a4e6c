import { randomBytes } from "node:crypto";
import net from "node:net";
import { BackendCode, frontend } from "@sluice/pg-wire";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CancelRegistry } from "./cancel-registry";
import { handlePgClient } from "./pg-proxy";
import { memoryRecorder, RawClient, run, silentLogger, startTestProxy } from "./pg-proxy.testing";
import type { PgTarget } from "./pg-proxy-types";

const DB = `sluice_pgproxy_${randomBytes(4).toString("hex")}`;
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

beforeAll(async () => {
  await admin(`CREATE DATABASE ${DB}`);
});

afterAll(async () => {
  await admin(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
});

describe("session hooks", () => {
  it("lets the agent terminate a session and calls onEnd once", async () => {
    let terminate: ((reason: string) => void) | undefined;
    let ended = 0;
    let unregistered = 0;
    const recorder = memoryRecorder();
    const p = await startTestProxy(target, {
      recorder: undefined,
      authorize: async () => ({
        ...target,
        sessionId: "s-hooks",
        recorder,
        onStart: (t) => {
          terminate = t;
          return () => unregistered++;
        },
        onEnd: () => {
          ended++;
        },
      }),
    });
    try {
      const c = new RawClient(p.port);
      await c.login("conn");
      await expect.poll(() => terminate).toBeDefined();
      terminate?.("revoked by admin");
      expect(await c.error()).toMatchObject({
        C: "57P01",
        M: "session terminated by Sluice: revoked by admin",
      });
      await expect.poll(() => ended).toBe(1);
      expect(unregistered).toBe(1);
      expect(recorder.events.at(-1)).toMatchObject({
        type: "sessionEnd",
        ev: { reason: "terminated: revoked by admin" },
      });
    } finally {
      await p.close();
    }
  });

  it("serves a preauthorized session without asking for a password, starting from initial bytes", async () => {
    let password: string | undefined;
    const server = net.createServer((socket) => {
      socket.once("data", (first: Buffer) => {
        socket.pause();
        void handlePgClient(socket, {
          limits: { maxStartupFrame: 10_000, maxFrame: 1 << 20 },
          requireTls: false,
          logger: silentLogger,
          cancels: new CancelRegistry(),
          preauthorized: true,
          initial: first,
          authorize: async (req) => {
            password = req.password;
            return { ...target, sessionId: "s-tunnel" };
          },
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const c = new RawClient((server.address() as net.AddressInfo).port);
      c.socket.write(frontend.startup({ user: "x", database: "conn" }));
      const frames = await c.until(BackendCode.ReadyForQuery);
      expect(frames.map((f) => String.fromCharCode(f.type))).toContain("K");
      expect(frames[0]).toMatchObject({ type: BackendCode.Authentication });
      expect(frames[0]?.body.readInt32BE(0)).toBe(0);
      expect(password).toBe("");
      c.socket.write(frontend.query("SELECT 7"));
      const rows = (await c.until(BackendCode.ReadyForQuery)).filter((f) => f.type === BackendCode.DataRow);
      expect(rows[0]?.body.subarray(6).toString()).toBe("7");
      c.socket.end(frontend.terminate());
    } finally {
      server.close();
    }
  });
});
