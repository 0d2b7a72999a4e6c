import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PemPair } from "@sluice/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnCli, waitForOutput } from "../cli-process.testing";
import {
  createMemoryIo,
  errorResponse,
  type FakeControlPlane,
  startFakeControlPlane,
} from "../fake-control-plane.testing";
import { runCli } from "../run";
import {
  createTestCa,
  startedSession,
  startTunnelPeer,
  TEST_CONNECTION,
  type TunnelPeer,
} from "../tunnel-peer.testing";

let cp: FakeControlPlane;
let ca: PemPair;
let peer: TunnelPeer;
let env: Record<string, string>;

beforeAll(async () => {
  [cp, ca] = await Promise.all([startFakeControlPlane(), createTestCa()]);
  peer = await startTunnelPeer({ ca });
  cp.route("GET /ca", { status: 200, body: { caPem: ca.certPem } });
  const configDir = await mkdtemp(join(tmpdir(), "sluice-connect-"));
  env = { SLUICE_CONFIG_DIR: configDir, SLUICE_URL: cp.url, SLUICE_API_KEY: cp.apiKey };
});
afterAll(async () => {
  await Promise.all([cp.close(), peer.close()]);
});

function psql(port: number, sql: string): Promise<{ code: number; out: string; err: string }> {
  const dsn = `host=127.0.0.1 port=${port} dbname=postgres user=postgres sslmode=disable connect_timeout=5`;
  return new Promise((resolve) => {
    execFile("psql", [dsn, "-Atc", sql], { env: { PATH: process.env.PATH ?? "" } }, (err, out, errOut) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, out, err: errOut }),
    );
  });
}

/** Starts `sluice connect --port 0` as a child process; resolves once it listens. */
async function startConnect(extra: string[] = []) {
  const child = spawnCli(["connect", TEST_CONNECTION, "--port", "0", ...extra], env);
  let err = "";
  child.stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const [out, port] = await waitForOutput(
    child.stdout,
    /listening on 127\.0\.0\.1:(\d+)[\s\S]*Ctrl-C to stop\n/,
  );
  return { child, out, port: Number(port), err: () => err, exited };
}

describe("sluice connect", () => {
  it("tunnels real psql sessions, one tunnel per client, and stops on Ctrl-C", async () => {
    cp.route("POST /sessions", () => ({ status: 201, body: startedSession(peer) }));
    const before = peer.requests.length;
    const run = await startConnect(["--reason", "debugging"]);
    expect(run.out).toContain(
      `psql "host=127.0.0.1 port=${run.port} dbname=postgres user=ada sslmode=disable"`,
    );
    expect(await psql(run.port, "select 42")).toMatchObject({ code: 0, out: "42\n" });
    const [a, b] = await Promise.all([psql(run.port, "select 'a'"), psql(run.port, "select 'b'")]);
    expect([a.out, b.out]).toEqual(["a\n", "b\n"]);
    expect(peer.requests.length - before).toBe(3);
    run.child.kill("SIGINT");
    expect(await run.exited).toBe(0);
    expect(run.err()).toContain("tunnel open (session s-1)");
    expect(run.err()).toContain("stopped\n");
  });

  it("shows the agent's message when it refuses the tunnel, and keeps listening", async () => {
    cp.route("POST /sessions", () => ({
      status: 201,
      body: { ...startedSession(peer), grant: "expired.x.y" },
    }));
    const run = await startConnect();
    const res = await psql(run.port, "select 1");
    expect(res.code).not.toBe(0);
    await until(() => run.err().includes("refused"));
    expect(run.err()).toContain(
      "error: agent agent-local refused the tunnel: grant is not valid (auth.invalid)",
    );
    const posts = cp.requests.filter((r) => r.method === "POST").length;
    await psql(run.port, "select 1");
    expect(cp.requests.filter((r) => r.method === "POST").length).toBe(posts + 1);
    run.child.kill("SIGINT");
    expect(await run.exited).toBe(0);
  });

  it("rejects an agent whose certificate comes from another CA", async () => {
    const rogue = await startTunnelPeer({ ca: await createTestCa("rogue CA") });
    cp.route("POST /sessions", () => ({ status: 201, body: startedSession(rogue) }));
    const run = await startConnect();
    expect((await psql(run.port, "select 1")).code).not.toBe(0);
    run.child.kill("SIGINT");
    await run.exited;
    expect(run.err()).toMatch(
      /error: the TLS certificate of agent agent-local at 127\.0\.0\.1:\d+ is not trusted/,
    );
    expect(rogue.requests).toEqual([]);
    await rogue.close();
  });

  it("refuses a non-loopback --host without --allow-remote", async () => {
    const io = createMemoryIo(env);
    const code = await runCli(["connect", TEST_CONNECTION, "--host", "0.0.0.0"], io);
    expect(code).toBe(2);
    expect(io.err()).toContain("--host 0.0.0.0 is not a loopback address");
  });

  it("explains a control plane that is down or has no agent online", async () => {
    const down = createMemoryIo({ ...env, SLUICE_URL: "http://127.0.0.1:1" });
    expect(await runCli(["connect", TEST_CONNECTION], down)).toBe(3);
    expect(down.err()).toContain("error: cannot reach the control plane at http://127.0.0.1:1: ");
    cp.route(
      "POST /sessions",
      errorResponse(503, "agent.unavailable", "no agent serving pg-local is online"),
    );
    const io = createMemoryIo(env);
    expect(await runCli(["connect", TEST_CONNECTION], io)).toBe(1);
    expect(io.err()).toBe("error: no agent serving pg-local is online (agent.unavailable)\n");
  });

  it("starts a new session for every client after the first (a grant opens one connection)", async () => {
    const echo = await startTunnelPeer({ ca, target: "echo" });
    let n = 0;
    cp.route("POST /sessions", () => ({
      status: 201,
      body: startedSession(echo, { ttlMs: 1_000, sessionId: `s-${++n}` }),
    }));
    const stop = new AbortController();
    const io = { ...createMemoryIo(env), stop: stop.signal };
    const running = runCli(["connect", TEST_CONNECTION, "--port", "0"], io);
    await until(() => /listening on 127\.0\.0\.1:(\d+)/.test(io.out()));
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(io.out())?.[1]);

    expect(await echoOnce(port, "first")).toBe("first");
    expect(n).toBe(1);
    expect(await echoOnce(port, "second")).toBe("second");
    expect(n).toBe(2);
    expect(await echoOnce(port, "third")).toBe("third");
    expect(n).toBe(3);
    stop.abort();
    expect(await running).toBe(0);
    expect(io.err().match(/tunnel open/g)).toHaveLength(3);
    await echo.close();
  });
});

function echoOnce(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, "127.0.0.1", () => socket.write(text));
    socket.on("data", (d: Buffer) => {
      socket.destroy();
      resolve(d.toString());
    });
    socket.on("error", reject);
  });
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
