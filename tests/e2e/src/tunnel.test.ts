import { spawnSync } from "node:child_process";
import { join } from "node:path";
import {
  eventually,
  type ManagedProcess,
  type PrivateCluster,
  startPrivateCluster,
  startProcess,
} from "@sluice/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { psql } from "./psql";
import { type AgentProcess, repoRoot, type Stack, startStack } from "./stack";

const CANARY = `canary-tunnel-${Math.random().toString(36).slice(2)}`;
let cluster: PrivateCluster;
let stack: Stack;
let agent: AgentProcess;
let devKey: string;
const cliPath = join(repoRoot, "apps/cli/bin/sluice.js");
const connects: ManagedProcess[] = [];

function cliEnv(): Record<string, string> {
  return { SLUICE_URL: stack.cp.apiUrl, SLUICE_API_KEY: devKey, SLUICE_CONFIG_DIR: join(stack.home, "cli") };
}

function sluice(args: string[], input?: string) {
  const res = spawnSync(process.execPath, [cliPath, ...args], {
    env: { ...process.env, ...cliEnv() },
    input,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

async function connect(conn: string): Promise<number> {
  const proc = startProcess(process.execPath, [cliPath, "connect", conn, "--port", "0"], { env: cliEnv() });
  connects.push(proc);
  const m = await proc.waitForOutput(/listening on 127\.0\.0\.1:(\d+)/, 30_000);
  return Number(m[1]);
}

beforeAll(async () => {
  cluster = await startPrivateCluster([{ name: "app_rw", password: CANARY, method: "scram-sha-256" }]);
  await cluster.psql("CREATE DATABASE appdb OWNER app_rw");
  stack = await startStack();
  await stack.api("/api/v1/groups", { method: "POST", body: { name: "dba" } });
  const u = await stack.api("/api/v1/users", {
    method: "POST",
    body: { name: "Dev", email: "dev@example.com", groups: ["dba"] },
  });
  devKey = (await stack.api(`/api/v1/users/${u.body.id}/api-keys`, { method: "POST", body: { name: "k" } }))
    .body.secret;
  await stack.api("/api/v1/connections", {
    method: "POST",
    body: {
      name: "app-pg",
      type: "postgres",
      host: "127.0.0.1",
      port: cluster.port,
      database: "appdb",
      username: "app_rw",
      credentialRef: "env:APP_PG_PASSWORD",
      allowedGroups: ["dba"],
    },
  });
  await stack.api("/api/v1/connections", {
    method: "POST",
    body: { name: "cache", type: "tcp", host: "127.0.0.1", port: 6379, allowedGroups: ["dba"] },
  });
  agent = await stack.startAgent("tunnel-edge", { APP_PG_PASSWORD: CANARY });
  await agent.proc.waitForOutput(/tunnel listener ready/);
}, 120_000);

afterAll(async () => {
  await Promise.all(connects.map((c) => c.stop()));
  await stack?.stop();
  await cluster?.stop();
});

describe("the CLI tunnel to a real agent", () => {
  it("runs SQL with sluice exec and reports server errors through the exit code", () => {
    const ok = sluice(["exec", "app-pg", "-c", "SELECT current_user AS who, 40 + 2 AS answer", "-o", "json"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual([
      expect.objectContaining({ rows: [{ who: "app_rw", answer: 42 }] }),
    ]);
    const csv = sluice(["exec", "app-pg", "-o", "csv"], "SELECT 1 AS a, 'x,y' AS b");
    expect(csv.stdout.trim().split(/\r?\n/)).toEqual(["a,b", '1,"x,y"']);
    const bad = sluice(["exec", "app-pg", "-c", "SELECT * FROM no_such_table"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no_such_table.*SQLSTATE 42P01/);
  });

  it("serves unchanged psql through sluice connect and records the session as a tunnel session", async () => {
    const port = await connect("app-pg");
    const res = psql(
      `host=127.0.0.1 port=${port} dbname=appdb user=dev sslmode=disable`,
      "",
      "SELECT 'through the tunnel'",
    );
    expect(res.stderr).toBe("");
    expect(res.stdout.trim()).toBe("through the tunnel");
    const sid = await eventually(
      async () => {
        const items = (await stack.api("/api/v1/sessions?connection=app-pg&status=closed")).body.items as {
          id: string;
        }[];
        for (const s of items) {
          const ev = (await stack.api(`/api/v1/sessions/${s.id}/events`)).body.items as {
            kind: string;
            payload: any;
          }[];
          if (ev.some((e) => e.kind === "pg.statement" && e.payload.text === "SELECT 'through the tunnel'"))
            return s.id;
        }
        return undefined;
      },
      15_000,
      200,
    );
    const events = (await stack.api(`/api/v1/sessions/${sid}/events`)).body.items as {
      kind: string;
      payload: any;
    }[];
    expect(events.find((e) => e.kind === "session.start")?.payload.via).toBe("tunnel");
    const replay = sluice(["sessions", "replay", sid, "--no-timing"]);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toContain("SELECT 'through the tunnel'");
  });

  it("relays a raw tcp connection unchanged and records its byte counts", async () => {
    const port = await connect("cache");
    const res = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "PING"], {
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(res.stdout.trim()).toBe("PONG");
    await eventually(
      async () => {
        const items = (await stack.api("/api/v1/sessions?connection=cache&status=closed")).body.items as {
          id: string;
          bytesIn: number;
          bytesOut: number;
        }[];
        return items.some((s) => s.bytesIn > 0 && s.bytesOut > 0);
      },
      15_000,
      200,
    );
  });

  it("keeps the target password out of everything the client and the logs saw", async () => {
    expect(stack.cp.proc.output()).not.toContain(CANARY);
    expect(agent.proc.output()).not.toContain(CANARY);
    for (const c of connects) expect(c.output()).not.toContain(CANARY);
  });
});
