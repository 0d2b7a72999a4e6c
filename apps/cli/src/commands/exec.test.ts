import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PemPair } from "@sluice/pki";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCliProcess } from "../cli-process.testing";
import { errorResponse, type FakeControlPlane, startFakeControlPlane } from "../fake-control-plane.testing";
import {
  createTestCa,
  startedSession,
  startTunnelPeer,
  TEST_CONNECTION,
  TEST_GRANT,
  type TunnelPeer,
} from "../tunnel-peer.testing";

let cp: FakeControlPlane;
let ca: PemPair;
let peer: TunnelPeer;
let env: Record<string, string>;

beforeAll(async () => {
  [cp, ca] = await Promise.all([startFakeControlPlane(), createTestCa()]);
  peer = await startTunnelPeer({ ca });
  cp.route("POST /sessions", () => ({ status: 201, body: startedSession(peer) }));
  cp.route("GET /ca", { status: 200, body: { caPem: ca.certPem } });
  const configDir = await mkdtemp(join(tmpdir(), "sluice-exec-"));
  env = { SLUICE_CONFIG_DIR: configDir, SLUICE_URL: cp.url, SLUICE_API_KEY: cp.apiKey };
});
afterAll(async () => {
  await Promise.all([cp.close(), peer.close()]);
});

const exec = (args: string[], stdin = "") => runCliProcess(["exec", TEST_CONNECTION, ...args], env, stdin);

describe("sluice exec through a real tunnel to PostgreSQL", () => {
  it("runs a query and prints a table", async () => {
    const res = await exec(["-c", "select 1 as one", "--reason", "ticket 7"]);
    expect(res).toEqual({ code: 0, out: " one\n-----\n 1\n(1 row)\n", err: "" });
    expect(peer.requests.at(-1)).toEqual({ connection: TEST_CONNECTION, grant: TEST_GRANT });
    expect(cp.requests.find((r) => r.method === "POST")?.body).toEqual({
      connection: TEST_CONNECTION,
      reason: "ticket 7",
    });
  });

  it("prints every result of several statements, with command tags", async () => {
    const sql = [
      "create temp table t (id int, name text)",
      "insert into t values (1, 'a'), (2, null)",
      "update t set name = 'b' where id = 2",
      "select id, name from t order by id",
      "select 'x' as a, 2 as b",
    ].join("; ");
    const res = await exec(["-c", sql]);
    expect(res.err).toBe("");
    expect(res.code).toBe(0);
    expect(res.out).toBe(
      [
        "CREATE TABLE",
        "",
        "INSERT 0 2",
        "",
        "UPDATE 1",
        "",
        " id | name",
        "----+------",
        " 1  | a",
        " 2  | b",
        "(2 rows)",
        "",
        " a | b",
        "---+---",
        " x | 2",
        "(1 row)",
        "",
      ].join("\n"),
    );
  });

  it("shows a server error with its SQLSTATE and exits 1, after earlier results", async () => {
    const res = await exec(["-c", "select 7 as seven; select * from no_such_table"]);
    expect(res.code).toBe(1);
    expect(res.out).toBe(" seven\n-------\n 7\n(1 row)\n");
    expect(res.err).toBe('ERROR: relation "no_such_table" does not exist (SQLSTATE 42P01)\n');
  });

  it("prints CSV", async () => {
    const res = await runCliProcess(
      ["-o", "csv", "exec", TEST_CONNECTION, "-c", `select 1 as n, 'a,b' as s, null as z, 'say "hi"' as q`],
      env,
    );
    expect(res).toEqual({ code: 0, out: 'n,s,z,q\r\n1,"a,b",,"say ""hi"""\r\n', err: "" });
  });

  it("prints JSON with typed values", async () => {
    const res = await exec([
      "-o",
      "json",
      "-c",
      `select 1 as n, true as b, 'x' as s, null::text as z, '{"k":[1]}'::jsonb as j, 9007199254740993::int8 as big; select 1 where false`,
    ]);
    expect(res.code).toBe(0);
    const out = JSON.parse(res.out);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({
      command: "SELECT 1",
      rowCount: 1,
      rows: [{ n: 1, b: true, s: "x", z: null, j: { k: [1] }, big: "9007199254740993" }],
    });
    expect(out[0].columns[0]).toEqual({ name: "n", typeOid: 23 });
    expect(out[1]).toMatchObject({ command: "SELECT 0", rowCount: 0, rows: [] });
  });

  it("reads the SQL from a file and from stdin", async () => {
    const file = join(env.SLUICE_CONFIG_DIR ?? "", "q.sql");
    await writeFile(file, "select 'from file' as src\n");
    expect((await exec(["-f", file])).out).toContain(" from file\n");
    expect((await exec([], "select 'from stdin' as src;\n")).out).toContain(" from stdin\n");
  });

  it("refuses non-postgres connections and unknown ones clearly", async () => {
    cp.route("POST /sessions", () => ({ status: 201, body: startedSession(peer, { type: "tcp" }) }));
    const tcp = await exec(["-c", "select 1"]);
    expect(tcp.code).toBe(1);
    expect(tcp.err).toContain(
      "exec runs SQL on postgres and mysql connections only; pg-local is a tcp connection",
    );

    cp.route("POST /sessions", errorResponse(404, "connection.not_found", "connection pg-local not found"));
    const missing = await exec(["-c", "select 1"]);
    expect(missing).toMatchObject({
      code: 1,
      err: "error: connection pg-local not found (connection.not_found)\n",
    });
    cp.route("POST /sessions", () => ({ status: 201, body: startedSession(peer) }));
  });

  it("exits 3 when the agent refuses the tunnel or cannot be reached", async () => {
    cp.route("POST /sessions", () => ({
      status: 201,
      body: { ...startedSession(peer), grant: "expired.grant.value" },
    }));
    const refused = await exec(["-c", "select 1"]);
    expect(refused).toMatchObject({
      code: 3,
      err: "error: agent agent-local refused the tunnel: grant is not valid (auth.invalid)\n",
    });

    cp.route("POST /sessions", () => ({ status: 201, body: startedSession({ host: "127.0.0.1", port: 1 }) }));
    const down = await exec(["-c", "select 1"]);
    expect(down).toMatchObject({
      code: 3,
      err: "error: cannot reach agent agent-local at 127.0.0.1:1: connection refused (ECONNREFUSED)\n",
    });
    cp.route("POST /sessions", () => ({ status: 201, body: startedSession(peer) }));
  });

  it("needs SQL", async () => {
    const res = await exec(["-c", "  "]);
    expect(res).toMatchObject({ code: 2, err: "error: no SQL to run: the statement text is empty\n" });
  });
});
