import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFixtures, maskingHooks } from "./testing/fixtures";
import { type LoopbackProxy, startLoopbackProxy } from "./testing/loopback-proxy";
import { createTestDatabase, type TestDatabase } from "./testing/test-db";
import { selfSignedCert } from "./testing/tls-cert";

const exec = promisify(execFile);
const TOKEN = "cli-token-42";
let db: TestDatabase;
let open: LoopbackProxy;
let tlsOnly: LoopbackProxy;

beforeAll(async () => {
  db = await createTestDatabase();
  await createFixtures(db);
  const base = {
    token: TOKEN,
    upstream: { user: db.user, password: db.password, database: db.database },
    hooks: maskingHooks,
  };
  const tls = selfSignedCert();
  open = await startLoopbackProxy({ ...base, tls, allowPlaintextPassword: true });
  tlsOnly = await startLoopbackProxy({ ...base, tls, serverVersion: "5.5.5-10.11.19-MariaDB-sluice" });
});
afterAll(async () => {
  await open?.close();
  await tlsOnly?.close();
  await db?.drop();
});

/** Runs the real mariadb CLI; resolves with exit code, stdout and stderr. */
async function cli(port: number, args: string[], sql: string, token = TOKEN) {
  try {
    const r = await exec(
      "mariadb",
      ["-h127.0.0.1", `-P${port}`, "-ux", `-p${token}`, ...args, db.database, "-e", sql],
      {
        timeout: 15_000,
      },
    );
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe("the real mariadb CLI through the loopback proxy", () => {
  it("runs a query with --ssl (TLS toward the agent) and the token as password", async () => {
    const r = await cli(tlsOnly.port, ["--ssl"], "select 1+1 as two, database() as db");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`two\tdb\n2\t${db.database}\n`);
    expect(tlsOnly.logins.at(-1)).toEqual({ user: "x", tls: true });
  });

  it("accepts mysql_clear_password by default and with --enable-cleartext-plugin (plaintext allowed)", async () => {
    const r = await cli(open.port, ["--skip-ssl"], "select 1");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("1\n1\n");
    expect(open.logins.at(-1)?.tls).toBe(false);
    const r2 = await cli(open.port, ["--skip-ssl", "--enable-cleartext-plugin"], "select 2");
    expect(r2.code).toBe(0);
    expect(r2.stdout.endsWith("\n2\n2\n")).toBe(true);
  });

  it("refuses the token without TLS when plaintext is not allowed", async () => {
    const r = await cli(tlsOnly.port, ["--skip-ssl"], "select 1");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("ERROR 3159");
  });

  it("shows a denied statement's ERR and masked values", async () => {
    const denied = await cli(open.port, ["--ssl"], "drop table customers");
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/ERROR 1142 \(42000\).*no-drop-table/);
    const masked = await cli(open.port, ["--ssl"], "select id, email from customers order by id");
    expect(masked.stdout).toBe("id\temail\n1\t***@example.com\n2\t***@example.org\n");
  });

  it("interrupts a running query with KILL QUERY from a second CLI session, using the id the first one saw", async () => {
    const t0 = Date.now();
    const sleeping = cli(
      open.port,
      ["--ssl"],
      "select connection_id() as upstream_id; select sleep(30) as s",
    );
    // The CLI sends its statements one by one: once the first is answered, the sleep is running.
    for (let i = 0; i < 100 && !open.summaries.some((x) => x.sql?.includes("connection_id()")); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 200));
    const victim = open.sessions.at(-1);
    const killer = await cli(open.port, ["--ssl"], `KILL QUERY ${victim!.connectionId}`);
    expect(killer.code).toBe(0);
    const r = await sleeping;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.stdout).toContain(`upstream_id\n${victim!.upstreamThreadId}\n`);
    expect(r.code !== 0 ? r.stderr : r.stdout).toMatch(/ERROR 1317|s\n1\n/);
  });

  it("answers a wrong token with ERROR 1045", async () => {
    const r = await cli(open.port, ["--ssl"], "select 1", "wrong-token");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERROR 1045 (28000)");
    expect(r.stderr).not.toContain("wrong-token");
  });
});
