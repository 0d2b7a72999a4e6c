import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { eventually, type PrivateCluster, startPrivateCluster } from "@sluice/testkit";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, type Stack, startStack } from "./stack";

/**
 * The agent's recording disk fills up while the control plane is away (nothing can be
 * uploaded). Sluice fails closed: the client never receives a result that was not
 * recorded, new sessions are refused saying why, the agent stays up, and once the control
 * plane is back the spool drains and sessions are accepted again.
 */
const exec = promisify(execFile);
const PASSWORD = randomBytes(12).toString("hex");
const spoolMount = mkdtempSync(join(tmpdir(), "sluice-spool-full-"));
let target: PrivateCluster;
let stack: Stack;
let agent: AgentProcess;
let devKey: string;

beforeAll(async () => {
  // A small filesystem of its own, so filling it disturbs nothing else on the machine.
  await exec("mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", spoolMount]);
  target = await startPrivateCluster([{ name: "app", password: PASSWORD, method: "scram-sha-256" }]);
  await target.psql("CREATE DATABASE appdb OWNER app");
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "dev" } });
  devKey = await stack.userKey("dev@example.com", ["dev"]);
  const conn = await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "reports",
      type: "postgres",
      host: "127.0.0.1",
      port: target.port,
      database: "appdb",
      username: "app",
      credentialRef: "env:REPORTS_PASSWORD",
      allowedGroups: ["dev"],
      recordRowsLimit: 1000,
    },
  });
  expect(conn.status).toBe(201);
  agent = await stack.startAgent("spool-edge", {
    REPORTS_PASSWORD: PASSWORD,
    SLUICE_AGENT_STATE_DIR: join(spoolMount, "agent"),
    SLUICE_SPOOL_FLOOR_MB: "1",
  });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await target?.stop();
  await exec("umount", ["-l", spoolMount]).catch(() => undefined);
  rmSync(spoolMount, { recursive: true, force: true });
});

function connect(password: string): Promise<pg.Client> {
  const c = new pg.Client({
    host: "127.0.0.1",
    port: agent.pgPort,
    database: "reports",
    user: "app",
    password,
  });
  c.on("error", () => undefined);
  return c.connect().then(() => c);
}

describe("a full recording disk", () => {
  it("ends the session before an unrecorded result reaches the client, refuses new ones, and recovers", async () => {
    // A grant works while the control plane is away, so the refusal below is the disk's.
    const grant = (
      await stack.api("/api/v1/sessions", { method: "POST", body: { connection: "reports" }, key: devKey })
    ).body.grant as string;
    const live = await connect(devKey);
    // Live once the agent's session.start is uploaded.
    const sid = await eventually(async () => {
      const items = (await stack.api("/api/v1/sessions?connection=reports&status=active")).body.items;
      return items[0]?.id as string | undefined;
    }, 15_000);
    // Nothing can be uploaded now, so everything recorded stays on the 6 MB disk.
    await stack.cp.proc.stop("SIGKILL");
    const seen: number[] = [];
    let failure = "";
    for (let n = 1; n <= 400 && !failure; n++) {
      try {
        const res = await live.query(
          `SELECT ${n} AS n, repeat('x', 2000) AS pad FROM generate_series(1, 50)`,
        );
        if (res.rows.length !== 50 || Number(res.rows[0]?.n) !== n)
          throw new Error(`statement ${n}: wrong result`);
        seen.push(n);
      } catch (err) {
        failure = (err as Error).message;
      }
    }
    // The session is ended rather than showing an unrecorded result. The explanation reaches
    // the client when the cut falls between messages; mid-message only the close can.
    expect(failure).toMatch(/Sluice could not write the session recording|Connection terminated/);
    expect(seen.length).toBeGreaterThan(0);

    // The agent is up and says why a new session cannot start.
    const refused = await connect(grant).then(
      (c) => c.end().then(() => "connected"),
      (err: Error) => err.message,
    );
    expect(refused).toMatch(/recording disk is full/);
    expect(agent.proc.output()).not.toMatch(/uncaught|FATAL/i);

    // The control plane comes back: the spool drains, and sessions are accepted again.
    await stack.restartControlPlane();
    // (The grant refused above is spent: a grant opens one connection, even a refused one.)
    const again = await eventually(async () => connect(devKey).catch(() => undefined), 60_000, 500);
    expect((await again.query("SELECT 'recovered' AS v")).rows[0]?.v).toBe("recovered");
    await again.end();
    await live.end().catch(() => undefined);

    // Every result the client received is in the recording.
    const events = await eventually(async () => {
      const s = (await stack.api(`/api/v1/sessions/${sid}`)).body;
      if (s?.status !== "closed" && s?.status !== "failed") return undefined;
      return (await stack.api(`/api/v1/sessions/${sid}/events?limit=5000`)).body.items as {
        kind: string;
        payload: any;
      }[];
    }, 60_000);
    const recorded = new Set(
      events
        .filter((e) => e.kind === "pg.result" && !e.payload.error)
        .map((e) => Number(e.payload.rows?.[0]?.[0])),
    );
    expect(seen.filter((n) => !recorded.has(n))).toEqual([]);
  }, 180_000);
});
